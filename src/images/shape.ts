import { native } from '../core/native.cjs';
import { readHead, sniffCompression } from './decompress.js';

import { readMember, regularMembers } from './members.js';

export { directoryShape } from './directory-shape.js';

// What an input is by its whole shape, not one name: an image given where a
// layer was expected (the transport left off) must be refused, and a layer
// that merely holds a file called index.json or manifest.json must not be.

/** The references an image input could have been given as. */
export type ImageShape = 'oci' | 'oci-archive' | 'docker-archive' | 'dir';

// Top-level names an image archive may hold besides its markers: docker save
// writes <hex>/{layer.tar,json,VERSION} (older), <hex>.json configs,
// repositories, and since Docker 25 an OCI layout beside manifest.json;
// skopeo and podman (containers/image) write <hex>.tar layers.
const DOCKER_NAMES = /^(manifest\.json|repositories|[0-9a-f]{64}(\.json|\.tar)?|blobs|oci-layout|index\.json)$/;
// A layer's first members already show names no archive has (etc/, usr/, bin): only a tar whose first ones are all an archive's is read whole.
const FIRST = 32;
const OCI_NAMES = /^(oci-layout|index\.json|blobs)$/;

/**
 * The images an uncompressed tar holds, judged by all of its top-level
 * member names (a layer holds etc/, usr/…; an archive nothing but its
 * markers) and by its markers' content. Docker ≥ 25 archives are both a
 * docker-archive and an oci-archive. Empty for anything else, a tar that
 * cannot be read included (the provision then reports it as a layer).
 */
export function archiveShapes(file: string): ImageShape[] {
  try {
    if (sniffCompression(readHead(file)) !== 'none') return [];
    const allowed = (n: string) => n === '' || OCI_NAMES.test(n) || DOCKER_NAMES.test(n);
    const first = native.tarMembers(file, FIRST);
    if (first.failure || !first.members.every((m) => allowed(topName(m.name)))) return [];
    const all = native.tarMembers(file);
    if (all.failure) return [];
    // Every member counts, directories and symlinks too (a layer's bin -> usr/bin).
    const top = new Set(all.members.map((m) => topName(m.name)).filter((n) => n !== ''));
    // The same scan gives the regular members: the archive is read once more only for its markers.
    const members = regularMembers(all.members, file, file);
    const shapes: ImageShape[] = [];
    const manifest = members.get('manifest.json');
    if (manifest && [...top].every((n) => DOCKER_NAMES.test(n))) {
      const entries = JSON.parse(readMember(file, manifest).toString('utf8'));
      if (Array.isArray(entries) && entries.every((e) => Array.isArray(e?.Layers))) shapes.push('docker-archive');
    }
    const layout = members.get('oci-layout');
    if (layout && members.has('index.json') && top.has('blobs') && [...top].every(allowed)) {
      if (typeof JSON.parse(readMember(file, layout).toString('utf8'))?.imageLayoutVersion === 'string') shapes.push('oci-archive');
    }
    return shapes;
  } catch {
    return [];
  }
}

/** A member's first path component ("./blobs/sha256/…" -> "blobs"; "./" -> ""). */
const topName = (name: string) => name.replace(/^(\.\/)+/, '').split('/')[0];

/** "oci:PATH", "docker-archive:PATH or oci-archive:PATH": what to give instead. */
export function references(shapes: readonly ImageShape[], given: string): string {
  return shapes.map((s) => `${s}:${given}`).join(' or ');
}
