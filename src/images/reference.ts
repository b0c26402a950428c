import fs from 'node:fs';
import path from 'node:path';
import { LayercopyError } from '../core/errors.js';

/**
 * A LAYER argument, classified: an extracted layer directory; a layer
 * tarball (tar, tar+gzip or tar+zstd, told by its magic bytes); or an image
 * reference in the containers-transports(5) syntax skopeo and podman use.
 * A path's unknownTransport: the word before its colon where that is no
 * transport and no such path exists (ocj:img:t), for the error to name.
 */
export type LayerArgument =
  | { kind: 'path'; path: string; unknownTransport?: string }
  | { kind: 'oci'; layout: string; reference?: string; digest?: string }
  | { kind: 'oci-archive'; file: string; reference?: string; digest?: string }
  | { kind: 'docker-archive'; file: string; reference?: string }
  | { kind: 'docker'; reference: string };

/** Transports layercopy reads; others of containers-transports(5) it names as such. */
export const TRANSPORTS = ['oci', 'oci-archive', 'docker-archive', 'docker'] as const;
const OTHER = ['docker-daemon', 'containers-storage', 'dir', 'sif', 'ostree'];

/**
 * Parses one LAYER. `TRANSPORT:REST` is an image reference when TRANSPORT is
 * a transport name; anything else (or a path that exists, colon or not) is
 * a path.
 */
export function parseLayerArgument(arg: string, index: number): LayerArgument {
  const m = /^([a-z][a-z0-9-]*):(.*)$/s.exec(arg);
  if (!m || fs.existsSync(arg)) return { kind: 'path', path: arg };
  const [, transport, rest] = m;
  if (transport === 'oci') return { kind: 'oci', ...splitReference(rest, index, arg) };
  if (transport === 'oci-archive') {
    const { layout, ...sel } = splitReference(rest, index, arg);
    return { kind: 'oci-archive', file: layout, ...sel };
  }
  if (transport === 'docker-archive') {
    // docker-archive:PATH[:NAME:TAG|:@N]: the path ends at the first colon, unless a file has the whole name.
    const colon = rest.indexOf(':');
    if (colon < 0 || fs.existsSync(rest)) return { kind: 'docker-archive', file: path.resolve(rest) };
    return { kind: 'docker-archive', file: path.resolve(rest.slice(0, colon)), reference: rest.slice(colon + 1) };
  }
  if (transport === 'docker') {
    // A registry's image (src/registry): parsed and normalized there.
    if (rest.startsWith('//')) return { kind: 'docker', reference: arg };
    throw new LayercopyError(`layer ${index + 1} (${arg}): a registry's image is written docker://[HOST[:PORT]/]REPOSITORY[:TAG|@DIGEST]`, {
      code: 'ERR_INVALID_ARGUMENT',
      layer: arg,
      layerIndex: index,
    });
  }
  if (OTHER.includes(transport)) {
    throw new LayercopyError(
      `layer ${index + 1} (${arg}): the ${transport}: transport is not read by layercopy; copy the image to an OCI layout first (skopeo copy ${arg} oci:DIR:TAG)`,
      {
        code: 'ERR_INVALID_ARGUMENT',
        layer: arg,
        layerIndex: index,
      },
    );
  }
  // An unknown word before a colon: a path that does not exist, most likely, or a mistyped transport.
  return { kind: 'path', path: arg, unknownTransport: transport };
}

/** oci:PATH[:REFERENCE] or oci:PATH@sha256:HEX (containers-transports(5)). */
function splitReference(rest: string, index: number, arg: string): { layout: string; reference?: string; digest?: string } {
  const transport = arg.slice(0, arg.indexOf(':'));
  const at = rest.lastIndexOf('@');
  if (at > 0 && /^sha256:[0-9a-f]{64}$/.test(rest.slice(at + 1))) return { layout: path.resolve(rest.slice(0, at)), digest: rest.slice(at + 1) };
  if (rest === '') {
    throw new LayercopyError(`layer ${index + 1} (${arg}): an ${transport}: reference needs a path: ${transport}:PATH[:REFERENCE]`, {
      code: 'ERR_INVALID_ARGUMENT',
      layer: arg,
      layerIndex: index,
    });
  }
  // The reference is what follows the last colon, unless that colon is part
  // of an existing path (a directory named a:b).
  const colon = rest.lastIndexOf(':');
  if (colon > 0 && !fs.existsSync(rest)) return { layout: path.resolve(rest.slice(0, colon)), reference: rest.slice(colon + 1) };
  return { layout: path.resolve(rest) };
}
