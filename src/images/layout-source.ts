import fs from 'node:fs';
import path from 'node:path';
import { readMember, scanTar } from './members.js';
import { checkRegular, readRegular } from './regular.js';

/**
 * Where a layout's files are: a directory (oci:) or the members of a tar of
 * one (oci-archive:, read by offset, never unpacked).
 */
export interface LayoutSource {
  /** The layout directory or the archive file, for errors. */
  path: string;
  /** A file of the layout by its name in it ("index.json", "blobs/sha256/HEX"), at most `limit` bytes of it; ENOENT when missing, EFTYPE when not a regular file. */
  read(name: string, limit: number): Buffer;
  /** Where a blob's bytes are: a file, from `start` for `size` bytes (archives); ENOENT when missing, EFTYPE when not a regular file. */
  locate(name: string): { file: string; start?: number };
}

export function directorySource(layout: string): LayoutSource {
  return {
    path: layout,
    // index.json and oci-layout, which no digest checks before they are parsed, only as the layout's own files:
    // through a link they would read (and errors quote) any file this user may read. Blobs are hashed first.
    read: (name, limit) => readRegular(path.join(layout, name), limit, name.startsWith('blobs/')),
    // A blob may be a link into another store (a layout assembled from a
    // content store, Nix's): it is read at its target, as containers/image
    // and umoci open it, and opened there O_NOFOLLOW. The target must be a
    // regular file; its bytes are checked against the digest as any blob's.
    locate: (name) => {
      const given = path.join(layout, name);
      const file = fs.lstatSync(given).isSymbolicLink() ? fs.realpathSync(given) : given;
      checkRegular(file);
      return { file };
    },
  };
}

export function archiveSource(file: string, label: string): LayoutSource {
  const members = scanTar(file, label);
  const member = (name: string) => {
    const m = members.get(name);
    if (!m) throw Object.assign(new Error(`${name} is not in the archive`), { code: 'ENOENT', path: name });
    return m;
  };
  return {
    path: file,
    // At most `limit` bytes, as a directory's file is read: a longer member is told by its length and named by the
    // reader (readWhole, a descriptor's size), not refused here as "a member at offset N".
    read: (name, limit) => {
      const m = member(name);
      return readMember(file, { ...m, size: Math.min(m.size, limit) }, limit);
    },
    locate: (name) => ({ file, start: member(name).offset }),
  };
}

/** A layout file without a descriptor, refused past `limit` bytes rather than read in part. */
export function readWhole(source: LayoutSource, name: string, limit: number, fail: (message: string) => Error): Buffer {
  const data = source.read(name, limit + 1);
  if (data.length > limit) throw fail(`${name} is larger than ${limit} bytes`);
  return data;
}
