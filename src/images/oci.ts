import path from 'node:path';
import { descriptorMismatch } from '../core/digest.js';
import { LayercopyError } from '../core/errors.js';
import type { Platform } from '../core/options.js';
import { distinct, imageConfig, jsonObject, manifestParts, manifestsOf, shortList, shownJson } from './image-json.js';
import type { TarLayer } from './layer.js';
import { type LayoutSource, readWhole } from './layout-source.js';
import { JSON_LIMIT } from './regular.js';

// An OCI image layout (image-spec image-layout.md): `oci-layout`,
// `index.json`, and content-addressed blobs under `blobs/<alg>/<hex>`.

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  annotations?: Record<string, string>;
  platform?: { os: string; architecture: string; variant?: string };
}

/** An image's manifest and config as read, checked against their digests: what a store keeps (src/store/). */
export interface SeenImage {
  manifest?: { digest: string; mediaType: string; data: Buffer };
  config?: { digest: string; mediaType: string; data: Buffer };
  /** The platform an index's entry named for the manifest chosen (a lone manifest's is in its config). */
  platform?: Platform;
  /** The digest of the index a registry's tag named, where it named one (the manifest was chosen from it). */
  index?: string;
  /** The registry or mirror (host[:port]) that served the manifest. */
  from?: { host: string; mirror: boolean; passedOver?: { host: string; why: string }[] };
}

export const INDEX = ['application/vnd.oci.image.index.v1+json', 'application/vnd.docker.distribution.manifest.list.v2+json'];
export const MANIFEST = ['application/vnd.oci.image.manifest.v1+json', 'application/vnd.docker.distribution.manifest.v2+json'];
/** Layer media types read (tar, gzip and zstd; OCI and Docker names; the non-distributable ones too). */
export const LAYER_TYPES = [
  'application/vnd.oci.image.layer.v1.tar',
  'application/vnd.oci.image.layer.v1.tar+gzip',
  'application/vnd.oci.image.layer.v1.tar+zstd',
  'application/vnd.oci.image.layer.nondistributable.v1.tar',
  'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip',
  'application/vnd.oci.image.layer.nondistributable.v1.tar+zstd',
  'application/vnd.docker.image.rootfs.diff.tar',
  'application/vnd.docker.image.rootfs.diff.tar.gzip',
  'application/vnd.docker.image.rootfs.diff.tar.zstd',
  'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip',
];

/** Config media types of container images; an artifact (a Helm chart, an OCI 1.1 artifact's empty config) has another. */
export const CONFIG_TYPES = ['application/vnd.oci.image.config.v1+json', 'application/vnd.docker.container.image.v1+json'];

/** Why a manifest whose config is `config` is no container image to provision, or undefined. */
export function notAnImage(manifest: string, config: Descriptor): string | undefined {
  if (config.mediaType === undefined || CONFIG_TYPES.includes(config.mediaType)) return undefined;
  return `manifest ${manifest} is not a container image: its config is ${shownJson(config.mediaType)} (an artifact; an image's is ${CONFIG_TYPES[0]})`;
}

/** The host's platform in OCI terms (GOARCH names). */
export function hostPlatform(): Platform {
  const arch: Record<string, string> = { x64: 'amd64', arm64: 'arm64', arm: 'arm', ia32: '386', ppc64: 'ppc64le', s390x: 's390x', riscv64: 'riscv64' };
  return { os: 'linux', architecture: arch[process.arch] ?? process.arch, ...(process.arch === 'arm64' ? { variant: 'v8' } : {}) };
}

/** A platform for a message; a part that is no string (an index's, hostile: a list nested a million deep overflowed the stack when joined) is shown as '?'. */
export const showPlatform = (p?: Platform) =>
  p
    ? [p.os, p.architecture, p.variant]
        .map((v: unknown) => (typeof v === 'string' || v === undefined ? v : '?'))
        .filter(Boolean)
        .join('/')
    : 'no platform';

/** What the summary says of an image argument: its manifest's digest and the platform its config names. */
export function imageSummary(reference: string, seen: SeenImage): ImageSummary | undefined {
  if (!seen.manifest || !seen.config) return undefined;
  let config: { os?: unknown; architecture?: unknown; variant?: unknown } = {};
  try {
    config = JSON.parse(seen.config.data.toString('utf8'));
  } catch {}
  const text = (v: unknown) => (typeof v === 'string' ? v : undefined);
  const platform = seen.platform ? showPlatform(seen.platform) : [text(config.os), text(config.architecture), text(config.variant)].filter(Boolean).join('/');
  return { reference, digest: seen.manifest.digest, platform, ...servedBy(seen.from) };
}

/** The summary's fields of where a pull's manifest came from (none for an image read from disk or a store's copy alone). */
export function servedBy(from: SeenImage['from']): Pick<ImageSummary, 'from' | 'mirror' | 'passedOver'> {
  if (!from) return {};
  return { from: from.host, ...(from.mirror ? { mirror: true } : {}), ...(from.passedOver?.length ? { passedOver: from.passedOver } : {}) };
}

/** An image argument as provisioned: the reference as given, the manifest chosen (for an index, its platform's), that platform. */
export interface ImageSummary {
  reference: string;
  digest: string;
  platform: string;
  /** docker://, where the registry was asked (not a store's copy alone): the registry or mirror (host[:port]) that served the manifest. */
  from?: string;
  /** `from` is a mirror of registries.conf. */
  mirror?: boolean;
  /** The mirrors tried before `from`, and why each was passed over (down, untrusted TLS, a 404). */
  passedOver?: { host: string; why: string }[];
}

export function matches(p: Platform | undefined, want: Platform): boolean {
  if (!p) return false;
  if (p.os !== want.os || p.architecture !== want.architecture) return false;
  // arm64's v8 is the default variant: a missing one matches it.
  const variant = (v?: string) => v ?? (p.architecture === 'arm64' ? 'v8' : undefined);
  return want.variant === undefined || variant(p.variant) === variant(want.variant);
}

/**
 * Why an image's config is for another platform than `want`, or undefined
 * where it fits or does not say (its os and architecture fields). A single
 * image carries its platform only there; containerd refuses such an image
 * for another platform, and so does layercopy, rather than provision a
 * tree whose programs cannot run here.
 */
export function otherPlatform(config: { os?: unknown; architecture?: unknown; variant?: unknown }, want: Platform): string | undefined {
  if (typeof config.os !== 'string' || typeof config.architecture !== 'string') return undefined;
  const p: Platform = { os: config.os, architecture: config.architecture, ...(typeof config.variant === 'string' ? { variant: config.variant } : {}) };
  if (matches(p, want)) return undefined;
  return `the image is for ${showPlatform(p)}, not ${showPlatform(want)} (choose with --platform ${showPlatform(p)})`;
}

/** A blob of the layout, read whole (manifests, indexes, configs: small), checked against its descriptor. */
function readJsonBlob(source: LayoutSource, d: Descriptor, what: string, label: string, keep?: (data: Buffer) => void): unknown {
  const name = blobName(d.digest, label);
  let data: Buffer;
  try {
    // One byte past the descriptor's size tells a longer file by its length.
    data = source.read(name, Math.min(Number.isSafeInteger(d.size) && d.size >= 0 ? d.size + 1 : JSON_LIMIT, JSON_LIMIT));
  } catch (error) {
    throw blobUnreadable(error, label, `${what} ${d.digest}`, name);
  }
  // Read one byte past the descriptor's size at most: a longer file is told by that, not hashed.
  const mismatch = Number.isSafeInteger(d.size) && data.length > d.size ? `the blob is longer than the descriptor's ${d.size} bytes` : descriptorMismatch(data, d);
  if (mismatch) {
    throw new LayercopyError(`${label}: ${what} blob does not match its descriptor: ${mismatch}`, {
      code: 'ERR_DIGEST_MISMATCH',
      path: name,
    });
  }
  keep?.(data);
  return JSON.parse(data.toString('utf8'));
}

/** A blob that is missing or not a regular file (ERR_INVALID_IMAGE, naming it); the system's other errors as they are. */
function blobUnreadable(error: unknown, label: string, what: string, name: string): unknown {
  const e = error as NodeJS.ErrnoException & { kind?: string };
  if (e.code === 'ENOENT') return new LayercopyError(`${label}: ${what}: blob missing (ENOENT)`, { code: 'ERR_INVALID_IMAGE', path: name, cause: error });
  if (e.code === 'ELOOP') return new LayercopyError(`${label}: ${what}: the blob is a symlink in a loop (ELOOP)`, { code: 'ERR_INVALID_IMAGE', path: name, cause: error });
  if (e.code === 'EFTYPE') return new LayercopyError(`${label}: ${what}: the blob is ${e.kind}, not a regular file`, { code: 'ERR_INVALID_IMAGE', path: name, cause: error });
  return error;
}

/** blobs/sha256/HEX for a digest. */
export function blobName(digest: string, label: string): string {
  const m = /^(sha256):([0-9a-f]{64})$/.exec(digest);
  if (!m) throw new LayercopyError(`${label}: unsupported or malformed digest '${digest}' (sha256:<64 hex> only)`, { code: 'ERR_INVALID_IMAGE' });
  return `blobs/${m[1]}/${m[2]}`;
}

/**
 * Resolves oci:LAYOUT[:REFERENCE] or oci:LAYOUT@DIGEST to its layers,
 * lowest first: index.json, nested indexes, the manifest chosen by its
 * org.opencontainers.image.ref.name annotation (or digest) and by platform,
 * its config's diff_ids. Every JSON blob is checked against its descriptor.
 */
export function resolveOciLayout(arg: string, source: LayoutSource, sel: { reference?: string; digest?: string }, platform: Platform, seen?: SeenImage): TarLayer[] {
  const label = arg;
  const fail = (message: string, code: 'ERR_INVALID_IMAGE' | 'ERR_IMAGE_NOT_FOUND' = 'ERR_INVALID_IMAGE') =>
    new LayercopyError(`${label}: ${message}`, { code, path: source.path });
  let layoutFile: unknown;
  let index: unknown;
  try {
    layoutFile = JSON.parse(readWhole(source, 'oci-layout', JSON_LIMIT, fail).toString('utf8'));
    index = JSON.parse(readWhole(source, 'index.json', 16 * JSON_LIMIT, fail).toString('utf8'));
  } catch (error) {
    const e = error as NodeJS.ErrnoException;
    // EACCES, EIO: the system's word, under its own code (src/images/resolve.ts), not "malformed".
    if (!(error instanceof SyntaxError) && e.code !== 'ENOENT' && e.code !== 'EFTYPE') throw error;
    const why =
      e.code === 'ENOENT'
        ? `no ${path.basename(e.path ?? 'index.json')}`
        : e.code === 'EFTYPE'
          ? `${path.basename(e.path ?? '')} is ${(e as { kind?: string }).kind}, not a regular file`
          : e.message;
    throw new LayercopyError(`${label}: not an OCI image layout (${why})`, { code: 'ERR_INVALID_IMAGE', path: source.path, cause: error });
  }
  const { imageLayoutVersion: version } = jsonObject(layoutFile, 'oci-layout', fail);
  if (version !== '1.0.0') throw fail(`unsupported imageLayoutVersion '${shownJson(version)}'`);
  let candidates = manifestsOf<Descriptor>(index, 'index.json', fail);
  const listed = candidates;
  const refName = (d: Descriptor) => d.annotations?.['org.opencontainers.image.ref.name'];
  if (sel.digest) {
    candidates = candidates.filter((d) => d.digest === sel.digest);
    if (candidates.length === 0) throw fail(`no manifest ${sel.digest}; the layout holds: ${listing(listed)}`, 'ERR_IMAGE_NOT_FOUND');
  } else if (sel.reference !== undefined) {
    candidates = candidates.filter((d) => refName(d) === sel.reference);
    if (candidates.length === 0) throw fail(`no image named '${sel.reference}'; the layout holds: ${listing(listed)}`, 'ERR_IMAGE_NOT_FOUND');
  } else if (candidates.length > 1 && new Set(candidates.map(refName)).size > 1) {
    throw fail(`holds several images; name one (${arg.slice(0, arg.indexOf(':'))}:${source.path}:REFERENCE): ${listing(candidates)}`, 'ERR_IMAGE_NOT_FOUND');
  }
  // Indexes (nested ones too) are narrowed down by platform to one manifest.
  let manifest: Descriptor | undefined;
  for (let depth = 0; depth < 8 && !manifest; depth++) {
    const manifests = candidates.filter((d) => MANIFEST.includes(d.mediaType) || d.mediaType === undefined);
    const indexes = candidates.filter((d) => INDEX.includes(d.mediaType));
    const withPlatform = manifests.filter((d) => d.platform !== undefined);
    if (manifests.length === 1 && indexes.length === 0 && (withPlatform.length === 0 || matches(manifests[0].platform, platform))) {
      manifest = manifests[0];
      break;
    }
    const fitting = manifests.filter((d) => matches(d.platform, platform));
    if (fitting.length > 0) {
      manifest = fitting[0];
      break;
    }
    if (indexes.length === 0) {
      throw fail(
        `no image for ${showPlatform(platform)}; there are: ${shortList([...new Set(candidates.map((d) => showPlatform(d.platform)))])} (choose with --platform)`,
        'ERR_IMAGE_NOT_FOUND',
      );
    }
    candidates = distinct(indexes).flatMap((d) => manifestsOf<Descriptor>(readJsonBlob(source, d, 'image index', label), `image index ${d.digest}`, fail));
  }
  if (!manifest) throw fail('indexes nested too deep');
  const chosen = manifest;
  const manifestJson = readJsonBlob(source, manifest, 'manifest', label, (data) => {
    if (seen) seen.manifest = { digest: chosen.digest, mediaType: chosen.mediaType ?? MANIFEST[0], data };
    if (seen && chosen.platform) seen.platform = chosen.platform;
  });
  const m = manifestParts<Descriptor>(manifestJson, `manifest ${manifest.digest}`, fail);
  if (!m) throw fail(`manifest ${manifest.digest} has no config or layers`);
  const artifact = notAnImage(manifest.digest, m.config);
  if (artifact) throw fail(artifact);
  const configJson = readJsonBlob(source, m.config, 'config', label, (data) => {
    if (seen) seen.config = { digest: m.config.digest, mediaType: m.config.mediaType, data };
  });
  const config = imageConfig(configJson, `config ${m.config.digest}`, fail);
  // An index's entry said its platform; a lone manifest says it in its config.
  const mismatch = manifest.platform === undefined ? otherPlatform(config, platform) : undefined;
  if (mismatch) throw fail(mismatch, 'ERR_IMAGE_NOT_FOUND');
  const { diffIds } = config;
  if (diffIds.length !== m.layers.length) {
    throw fail(`the config lists ${diffIds.length} diff_ids for ${m.layers.length} layers`);
  }
  return m.layers.map((d, i) => {
    if (!LAYER_TYPES.includes(d.mediaType)) throw fail(`layer ${i + 1}: unsupported media type ${shownJson(d.mediaType)} (supported: tar, tar+gzip, tar+zstd)`);
    const name = blobName(d.digest, label);
    let where: { file: string; start?: number };
    try {
      where = source.locate(name);
    } catch (error) {
      throw blobUnreadable(error, label, `image layer ${i + 1}/${m.layers.length} ${d.digest}`, name);
    }
    return {
      ...where,
      digest: d.digest,
      size: d.size,
      diffId: diffIds[i],
      label: layerLabel(arg, i, m.layers.length, d.digest),
    };
  });
}

/** How messages and progress name an image's layer: the argument, its place among the image's layers, its digest shortened. */
export const layerLabel = (given: string, i: number, n: number, digest: string) => `${given} layer ${i + 1}/${n} (${digest.slice(0, 19)}…)`;

function listing(ds: Descriptor[]): string {
  if (ds.length === 0) return 'nothing';
  return shortList(
    ds.map((d) => `${shownJson(d.annotations?.['org.opencontainers.image.ref.name'] ?? '(unnamed)')} ${d.digest.slice(0, 19)}…${d.platform ? ` ${showPlatform(d.platform)}` : ''}`),
  );
}
