import fs from 'node:fs';
import type { Readable } from 'node:stream';
import { errnoError, fromNodeError, LayercopyError } from '../core/errors.js';
import { type NativeFailure, native } from '../core/native.cjs';
import { displayPath } from '../core/paths.js';
import { parseTar, paxTime, paxXattrs, type TarEntry, type TarHeader } from './tar.js';

/**
 * Writes a layer's tar stream as an extracted layer directory beneath
 * `root` (an fd): what `tar -xp --xattrs --numeric-owner` gives, minus its
 * dangers. Every write goes through the native helper beneath root
 * (openat2 RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS), so no name, link or
 * symlink of the tar reaches outside it. Whiteout markers stay files: the
 * planners apply them, as for directory layers.
 *
 * Meanings kept for what tars hold: a name given twice is the later entry
 * (as tar -x); a directory over a directory keeps its children; parents
 * missing from the tar (or whose header comes later) are made 0755, and a
 * later header sets their metadata; a parent that is a symlink or a file of
 * the same layer is replaced by a directory (an extracted layer directory
 * always holds its parents as directories). Leading `/` and `./` are
 * dropped; `..` is an error, as are hardlinks to names the layer does not
 * hold, entry types layercopy does not write (GNU sparse, volume headers),
 * and, when not root, device nodes.
 */
export async function extractTar(input: Readable, root: number, label: string): Promise<{ entries: number; bytes: number }> {
  let entries = 0;
  let bytes = 0;
  const fail = (rel: string, message: string, code: 'ERR_INVALID_TAR' | 'ERR_UNSUPPORTED_ENTRY' = 'ERR_INVALID_TAR') =>
    new LayercopyError(`${label}: ${displayPath('/', rel)}: ${message}`, { code, layer: label, path: displayPath('/', rel) });
  const check = (f: NativeFailure | null, rel: string, what: string) => {
    if (f) throw systemFailure(f, label, rel, what);
  };
  // Directory headers, for their metadata at the end; and the directories
  // known to stand now (made by a header or as a parent), so that parents
  // are checked once. A name replaced by another kind drops out of both,
  // with everything below it.
  const dirs = new Map<string, TarHeader>();
  const standing = new Set<string>(['']);
  const forget = (rel: string) => {
    // Only a directory has anything below it: a file replaced is one key.
    if (!standing.has(rel)) return;
    for (const set of [dirs, standing]) for (const key of set.keys()) if (key === rel || key.startsWith(`${rel}/`)) set.delete(key);
  };
  const replace = (rel: string) => {
    check(native.removeEntry(root, rel, true), rel, 'replace');
    forget(rel);
  };
  for await (const entry of parseTar(input) as AsyncIterable<TarEntry>) {
    const h = entry.header;
    const rel = cleanName(h.name, () => fail(h.name, 'a name with a .. component would climb out of the layer'));
    const type = h.type;
    if (type !== 'file' && type !== 'contiguous-file') entry.resume();
    if (rel === '') {
      if (type === 'directory') dirs.set('', h);
      else if (type !== 'file' || (h.size ?? 0) > 0) throw fail(rel, `the layer root must be a directory (got ${type})`);
      continue;
    }
    const parent = rel.includes('/') ? rel.slice(0, rel.lastIndexOf('/')) : '';
    if (!standing.has(parent)) {
      check(native.ensureDirs(root, parent), rel, 'make its parent directories');
      for (let p = parent; !standing.has(p); p = p.includes('/') ? p.slice(0, p.lastIndexOf('/')) : '') standing.add(p);
    }
    entries++;
    switch (type) {
      case 'directory': {
        const made = native.makeEntry(root, rel, 'd', '', 0, 0);
        if (made && made.errno === EEXIST) {
          // A directory stays (its children too); anything else is replaced.
          if (!isDirectory(root, rel)) {
            replace(rel);
            check(native.makeEntry(root, rel, 'd', '', 0, 0), rel, 'make the directory');
          }
        } else check(made, rel, 'make the directory');
        dirs.set(rel, h);
        standing.add(rel);
        break;
      }
      case 'file':
      case 'contiguous-file': {
        let opened = native.createFile(root, rel);
        if (!('fd' in opened) && opened.errno === EEXIST) {
          replace(rel);
          opened = native.createFile(root, rel);
        }
        if (!('fd' in opened)) throw systemFailure(opened, label, rel, 'create');
        try {
          for await (const chunk of entry) {
            try {
              fs.writeSync(opened.fd, chunk as Buffer);
            } catch (error) {
              // ENOSPC, EDQUOT, EIO: the system's word, naming the layer and the file.
              const where = displayPath('/', rel);
              throw errnoError(fromNodeError(error, 'write', where), (name, description) => `${label}: ${where}: write failed: ${name} (${description})`, {
                layer: label,
                cause: error,
              });
            }
            bytes += (chunk as Buffer).length;
          }
        } finally {
          // Not fs.closeSync: on a worker thread it warns for every fd Node did not open there.
          native.closeFd(opened.fd);
        }
        setMeta(root, rel, h, check);
        break;
      }
      case 'symlink':
        replaceable(rel, replace, check, () => native.makeEntry(root, rel, 'l', h.linkname ?? '', 0, 0), 'make the symlink');
        setMeta(root, rel, h, check);
        break;
      case 'link': {
        const target = cleanName(h.linkname ?? '', () => fail(rel, `hardlink target ${h.linkname} would climb out of the layer`));
        if (target === '' || target === rel) throw fail(rel, `hardlink to ${h.linkname || 'nothing'}`);
        const made = replaceable(rel, replace, check, () => native.makeEntry(root, rel, 'h', target, 0, 0), null);
        if (made?.errno === ENOENT) throw fail(rel, `hardlink target ${displayPath('/', target)} is not in this layer (above it in the tar)`);
        check(made, rel, 'make the hardlink');
        break;
      }
      case 'character-device':
      case 'block-device':
      case 'fifo': {
        const letter = type === 'fifo' ? 'p' : type === 'character-device' ? 'c' : 'b';
        const made = replaceable(rel, replace, check, () => native.makeEntry(root, rel, letter, '', h.devmajor ?? 0, h.devminor ?? 0), null);
        if (made?.errno === EPERM && letter !== 'p') throw fail(rel, 'a device node: only root can make one (mknod: EPERM)');
        check(made, rel, 'make the node');
        setMeta(root, rel, h, check);
        break;
      }
      default:
        throw fail(rel, `unsupported tar entry type ${type ?? 'unknown'}`, 'ERR_UNSUPPORTED_ENTRY');
    }
  }
  // Directory metadata last, deepest first: writing inside a directory changes its times.
  for (const rel of [...dirs.keys()].sort((a, b) => depth(b) - depth(a))) setMeta(root, rel, dirs.get(rel)!, check);
  return { entries, bytes };
}

const ENOENT = 2;
const EPERM = 1;
const EEXIST = 17;

const depth = (rel: string) => (rel === '' ? 0 : rel.split('/').length);

/** A tar name as a rel beneath the layer root: leading "/" and "./" dropped, "." parts and empty parts gone; ".." calls fail(). */
export function cleanName(name: string, fail: () => Error): string {
  const parts: string[] = [];
  for (const part of name.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') throw fail();
    parts.push(part);
  }
  return parts.join('/');
}

function isDirectory(root: number, rel: string): boolean {
  const opened = native.openDir(root, rel);
  if (!('fd' in opened)) return false;
  native.closeFd(opened.fd);
  return true;
}

/** Runs make(); where something already has the name (the same name twice in a tar), replaces it and runs make() again. */
function replaceable(
  rel: string,
  replace: (rel: string) => void,
  check: (f: NativeFailure | null, rel: string, what: string) => void,
  make: () => NativeFailure | null,
  what: string | null,
): NativeFailure | null {
  let made = make();
  if (made?.errno === EEXIST) {
    replace(rel);
    made = make();
  }
  if (what !== null) check(made, rel, what);
  return made;
}

function setMeta(root: number, rel: string, h: TarHeader, check: (f: NativeFailure | null, rel: string, what: string) => void): void {
  const pax = h.pax ?? undefined;
  const uid = pax?.uid !== undefined ? Number(pax.uid) : (h.uid ?? 0);
  const gid = pax?.gid !== undefined ? Number(pax.gid) : (h.gid ?? 0);
  const [mtimeSec, mtimeNsec] = paxTime(pax?.mtime, h.mtime);
  const [atimeSec, atimeNsec] = pax?.atime !== undefined ? paxTime(pax.atime, h.mtime) : [mtimeSec, mtimeNsec];
  check(native.setMeta(root, rel, uid, gid, (h.mode ?? 0o644) & 0o7777, atimeSec, atimeNsec, mtimeSec, mtimeNsec, paxXattrs(h.pax)), rel, 'set metadata');
}

function systemFailure(f: NativeFailure, label: string, rel: string, what: string): LayercopyError {
  const where = displayPath('/', rel);
  return errnoError({ errno: f.errno, syscall: f.syscall, path: where }, (name, description) => `${label}: ${where}: ${what}: ${f.syscall} failed: ${name} (${description})`, {
    layer: label,
  });
}
