import type { Listing } from '../core/entries.js';
import { type LayerContext, layerError } from '../core/errors.js';
import { native } from '../core/native.cjs';
import { joinRel } from '../core/paths.js';

/** The whiteout prefix, as the native listing knows it (constants.whiteoutPrefix): `.wh.`. */
export const WH = native.constants.whiteoutPrefix;

/**
 * What a name is as a marker: native/whiteout.h's rule, the one the tar
 * reader reads too where it writes a layer straight into the rootfs.
 * `aufs`: AUFS metadata (.wh..wh.plnk, .wh..wh.orph), skipped; `nothing`:
 * .wh., .wh.., .wh... (refused: validateListing).
 */
export function whiteoutKind(name: string): 'none' | 'aufs' | 'opaque' | 'hides' | 'nothing' {
  return name.startsWith(WH) ? native.whiteoutKind(name) : 'none';
}

/** The name a whiteout marker hides, or null for entries that are not markers (and for AUFS metadata, which is skipped). */
export function whiteoutTarget(name: string): string | null {
  const kind = whiteoutKind(name);
  return kind === 'hides' || kind === 'nothing' ? name.slice(WH.length) : null;
}

export function isOpaqueMarker(name: string): boolean {
  return whiteoutKind(name) === 'opaque';
}

/** Entries that are never copied: whiteout markers, the opaque marker, AUFS metadata (every kind but 'none': the prefix alone says it). */
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
    const kind = whiteoutKind(name);
    // AUFS metadata (.wh..wh.plnk, .wh..wh.orph: directories in real AUFS
    // layers; .wh..wh.aufs) is skipped, file or directory, as containerd does.
    if (kind === 'none' || kind === 'aufs') continue;
    const path = joinRel(rel, name);
    if (types[i] !== 'f') {
      // A marker is a regular file (OCI layer.md). Copying a directory or
      // symlink named .wh.* would plant a whiteout that overlayfs-based
      // runtimes would honour later; skipping it would silently drop content.
      throw layerError(ctx, path, 'ERR_INVALID_WHITEOUT', 'invalid whiteout: a .wh. entry must be a regular file');
    }
    if (kind === 'nothing') {
      // Mesos deletes the parent (.wh..) or the rootfs's parent (.wh... at the
      // root); containerd 384d46d8b rejects these.
      throw layerError(ctx, path, 'ERR_INVALID_WHITEOUT', `invalid whiteout: "${name}" names no entry to hide`);
    }
  }
  const unknown = types.indexOf('?');
  if (unknown >= 0) throw layerError(ctx, joinRel(rel, names[unknown]), 'ERR_UNSUPPORTED_ENTRY', 'unsupported file type');
}
