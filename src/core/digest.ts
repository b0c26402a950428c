import { cryptoModule } from './builtins.js';
import { native } from './native.cjs';

/** A small blob's digest as OCI writes it: "sha256:<hex>". */
export const sha256 = (data: Buffer): string => native.sha256(data) ?? `sha256:${cryptoModule().createHash('sha256').update(data).digest('hex')}`;

/**
 * A small blob's digest in the algorithm `like` names ("sha512:…" gives
 * sha512), sha256 otherwise: a registry's Docker-Content-Digest may use
 * another algorithm than the manifest's own references (containers/image
 * checks it in the header's).
 */
export function digestLike(data: Buffer, like: string): string {
  const algorithm = /^(sha384|sha512):/.exec(like)?.[1];
  return algorithm ? `${algorithm}:${cryptoModule().createHash(algorithm).update(data).digest('hex')}` : sha256(data);
}

/**
 * Why a blob read whole is not what its descriptor says ("expected D (N
 * bytes), got E (M bytes)"), or undefined where digest and size match:
 * the one check of a manifest, index or config, from a layout or a registry.
 */
export function descriptorMismatch(data: Buffer, d: { digest: string; size: number }): string | undefined {
  const digest = sha256(data);
  if (digest === d.digest && data.length === d.size) return undefined;
  return `expected ${d.digest} (${d.size} bytes), got ${digest} (${data.length} bytes)`;
}
