import type { Listing } from '../core/entries.js';
import { type LayerContext, layerError } from '../core/errors.js';
import { native } from '../core/native.cjs';
import { joinRel } from '../core/paths.js';

/** The whiteout prefix, as the native listing knows it (constants.whiteoutPrefix): `.wh.`. */
export const WH = native.constants.whiteoutPrefix;
/** AUFS metadata (`.wh..wh.plnk`, …) and the opaque marker start with it. */
export const WH_META = `${WH}${WH}`;
export const OPAQUE = `${WH_META}.opq`;

/** The name a whiteout marker hides, or null for entries that are not markers (and for AUFS metadata, which is skipped). */
export function whiteoutTarget(name: string): string | null {
  if (!name.startsWith(WH) || name.startsWith(WH_META)) return null;
  return name.slice(WH.length);
}

export function isOpaqueMarker(name: string): boolean {
  return name === OPAQUE;
}

/** Entries that are never copied: whiteout markers, the opaque marker, AUFS metadata. */
export function isMarker(name: string): boolean {
  return name.startsWith(WH);
}

/**
 * Checks one layer directory's listing before anything is planned from it:
 * markers must be regular files naming an entry; unknown types are errors.
 */
export function validateListing(ctx: LayerContext, rel: string, layer: Listing): void {
  const { names, types } = layer;
  for (let i = 0; i < names.length; i++) {
    const name = names[i];
    if (!name.startsWith(WH)) continue;
    // AUFS metadata (.wh..wh.plnk, .wh..wh.orph: directories in real AUFS
    // layers; .wh..wh.aufs) is skipped, file or directory, as containerd does.
    if (name.startsWith(WH_META) && name !== OPAQUE) continue;
    const path = joinRel(rel, name);
    if (types[i] !== 'f') {
      // A marker is a regular file (OCI layer.md). Copying a directory or
      // symlink named .wh.* would plant a whiteout that overlayfs-based
      // runtimes would honour later; skipping it would silently drop content.
      throw layerError(ctx, path, 'ERR_INVALID_WHITEOUT', 'invalid whiteout: a .wh. entry must be a regular file');
    }
    if (name === OPAQUE) continue;
    const target = name.slice(WH.length);
    if (target === '' || target === '.' || target === '..') {
      // Mesos deletes the parent (.wh..) or the rootfs's parent (.wh... at the
      // root); containerd 384d46d8b rejects these.
      throw layerError(ctx, path, 'ERR_INVALID_WHITEOUT', `invalid whiteout: "${name}" names no entry to hide`);
    }
  }
  const unknown = types.indexOf('?');
  if (unknown >= 0) throw layerError(ctx, joinRel(rel, names[unknown]), 'ERR_UNSUPPORTED_ENTRY', 'unsupported file type');
}
