import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { errnoWords, UNWRITABLE } from '../core/errno-words.js';
import { LayercopyError, systemError } from '../core/errors.js';
import { native } from '../core/native.cjs';
import { pidRuns } from '../core/processes.js';
import { type Devices, isIdentityMap, type Owners, readIdMap } from '../core/rootless.js';
import { STORE_MARKER } from '../core/store-marker.js';
import { removeInWorker } from '../rootfs/remove.js';

// The store's directory (docs/design.md, "The store"):
//
//   .layercopy-store      marker: destroy refuses any path beneath it
//   oci-layout            {"imageLayoutVersion": "1.0.0"}
//   index.json            one manifest per reference held (an OCI layout: skopeo and umoci read it)
//   blobs/sha256/HEX      verified blobs: compressed layers, manifests, configs
//   layers/MODE/HEX/      a layer extracted, by owner mode (keep, xattr, drop[-devices-empty|skip]) and diff_id
//       rootfs/           the tree as the tar wrote it, whiteout markers kept
//       implied           its directories no tar header described (NUL-terminated names)
//       listing           every entry's path, type, mode, size, mtime at extraction (verify)
//       unreadable        present where its owner cannot read some entry without a chmod (src/store/readers.ts)
//       changes           what the metadata policy changed as it was extracted, where anything (src/store/changes.ts)
//   refs.json             reference as given -> manifest digest, platform, last use
//   locks/                flock(2) files: blob-HEX, layer-MODE-HEX, read-MODE-HEX, ref-HEX, refs
//   tmp/PID-RANDOM...     entries being built; renamed into place whole

export const MARKER = STORE_MARKER;
/**
 * How a layer's entries were written, the directory above its entries: the
 * owners mode ('keep': owners as the tar says; 'xattr': this user's, each
 * other owner recorded in user.rootlesscontainers; 'drop': this user's,
 * setuid/setgid cleared), then how device nodes were written where they
 * were not made ('-devices-empty', '-devices-skip'). An entry serves only a
 * request of its own mode (docs/design.md, "Owner modes"): a weaker one
 * lacks what the request keeps, and a stronger one read back as a user is
 * not exactly what the weaker mode writes.
 */
export type OwnerMode = string;
export const ownerMode = (owners: Owners, devices: Devices): OwnerMode => (devices === 'error' ? owners : `${owners}-devices-${devices}`);
export const MODE_NAME = /^(?:keep|xattr|drop)(?:-devices-(?:empty|skip))?$/;

/** The owner modes the store has layers in (directories of layers/). */
export function layerModes(store: Store): OwnerMode[] {
  return fs.readdirSync(path.join(store.root, 'layers')).filter((n) => MODE_NAME.test(n));
}
export const STORE_VERSION = 1;

export interface Store {
  /** The store's directory, symlinks resolved. */
  root: string;
}

export const hexOf = (digest: string) => {
  const m = /^sha256:([0-9a-f]{64})$/.exec(digest);
  if (!m) throw new LayercopyError(`unsupported or malformed digest '${digest}' (sha256:<64 hex> only)`, { code: 'ERR_INVALID_IMAGE' });
  return m[1];
};

export const blobPath = (store: Store, digest: string) => path.join(store.root, 'blobs', 'sha256', hexOf(digest));
export const layerPath = (store: Store, diffId: string, mode: OwnerMode) => path.join(store.root, 'layers', mode, hexOf(diffId));
export const lockPath = (store: Store, what: 'blob' | 'layer' | 'read', digest: string, mode: OwnerMode = '') =>
  path.join(store.root, 'locks', what === 'blob' ? `blob-${hexOf(digest)}` : `${what}-${mode}-${hexOf(digest)}`);
export const refsLockPath = (store: Store) => path.join(store.root, 'locks', 'refs');
/** Held while one process resolves a reference at its source (docs/design.md, "Locking"). */
export const refLockPath = (store: Store, ref: string, platform: string) =>
  path.join(store.root, 'locks', `ref-${crypto.createHash('sha256').update(`${ref}\n${platform}`).digest('hex')}`);

/**
 * The store the CLI's commands use without --store or $LAYERCOPY_STORE:
 * /var/lib/layercopy as root of the initial user namespace, else under
 * XDG_DATA_HOME (root of `unshare -U -r` cannot write /var/lib).
 */
export function defaultStoreDir(): string {
  if (native.isRoot() && isIdentityMap(readIdMap('uid'))) return '/var/lib/layercopy';
  const data = process.env.XDG_DATA_HOME || path.join(os.homedir(), '.local', 'share');
  return path.join(data, 'layercopy');
}

const storeError = (message: string, fields: { path?: string; cause?: unknown } = {}) => new LayercopyError(message, { code: 'ERR_STORE', ...fields });

/** Writes `data` to `file` unless it exists, atomically (a temporary file linked into place): concurrent openers race harmlessly. */
function createOnce(dir: string, name: string, data: string): void {
  const file = path.join(dir, name);
  if (fs.existsSync(file)) return;
  const tmp = path.join(dir, 'tmp', tmpName(name));
  fs.writeFileSync(tmp, data, { mode: 0o644 });
  try {
    fs.linkSync(tmp, file);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  } finally {
    fs.rmSync(tmp, { force: true });
  }
}

/**
 * Opens the store at `dir`, making it where it is missing or an empty
 * directory. A directory holding other things is refused: the store removes
 * what it does not hold (prune), so it never adopts a directory of someone
 * else's.
 */
export function openStore(dir: string): Store {
  if (typeof dir !== 'string' || dir === '') throw new LayercopyError('store: must be a non-empty path', { code: 'ERR_INVALID_OPTION' });
  const given = path.resolve(dir);
  try {
    if (isNonDirectory(given)) throw storeError(`store ${given}: is not a directory`, { path: given });
    fs.mkdirSync(given, { recursive: true, mode: 0o700 });
    const root = fs.realpathSync(given);
    const names = fs.readdirSync(root);
    if (!names.includes(MARKER) && names.some((n) => !['blobs', 'layers', 'locks', 'tmp', 'oci-layout', 'index.json', 'refs.json'].includes(n))) {
      throw storeError(`store ${given}: is not empty and not a layercopy store (no ${MARKER}); name an empty or new directory`, { path: given });
    }
    for (const sub of ['blobs/sha256', 'layers', 'locks', 'tmp']) fs.mkdirSync(path.join(root, sub), { recursive: true, mode: 0o700 });
    createOnce(root, 'oci-layout', `${JSON.stringify({ imageLayoutVersion: '1.0.0' })}\n`);
    createOnce(root, 'index.json', `${JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: [] })}\n`);
    createOnce(root, 'refs.json', `${JSON.stringify({ version: STORE_VERSION, refs: [] })}\n`);
    // Last: a store is recognised by its marker only once it is whole.
    createOnce(root, MARKER, `${JSON.stringify({ version: STORE_VERSION })}\n`);
    return { root };
  } catch (error) {
    if (error instanceof LayercopyError) throw error;
    const e = error as NodeJS.ErrnoException;
    if (e.errno === undefined || e.code === undefined) throw storeError(`store ${given}: ${e.message}`, { path: given, cause: error });
    // As a provision names a rootfs it cannot make: what failed, on which path, and why, once.
    let owner: number | undefined;
    try {
      owner = fs.statSync(given).uid;
    } catch {}
    const theirs = owner !== undefined && owner !== process.geteuid?.();
    const writable = !UNWRITABLE.includes(e.code)
      ? ''
      : theirs && e.code === 'EACCES'
        ? `; it belongs to another user (uid ${owner}): name a store of your own with --store DIR or $LAYERCOPY_STORE`
        : '; a store must be writable by the user that provisions from it';
    const why = errnoWords(e.code, systemError(Math.abs(e.errno))[1]);
    throw storeError(`store ${given}: cannot ${e.syscall ?? 'open'} '${e.path ?? given}': ${why}${writable}`, { path: e.path ?? given, cause: error });
  }
}

/** Whether something other than a directory is at p (mkdir -p would say EEXIST). */
function isNonDirectory(p: string): boolean {
  try {
    return !fs.statSync(p).isDirectory();
  } catch {
    return false;
  }
}

/** A name of tmp/: the pid first (whose leftovers they are), then randomness. */
export function tmpName(what: string): string {
  return `${process.pid}-${crypto.randomBytes(6).toString('hex')}-${what}`;
}

/** A directory of tmp/ this process builds in, flock'd for its life: a cleaner that gets the lock knows its owner is gone. */
export interface TmpDir {
  path: string;
  fd: number;
  remove(): Promise<void>;
}

export function makeTmpDir(store: Store, what: string): TmpDir {
  const dir = path.join(store.root, 'tmp', tmpName(what));
  fs.mkdirSync(dir, { mode: 0o700 });
  const fd = fs.openSync(dir, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY | fs.constants.O_NOFOLLOW);
  native.flockTry(fd, 'ex');
  let removed = false;
  return {
    path: dir,
    fd,
    async remove() {
      if (removed) return;
      removed = true;
      fs.closeSync(fd);
      await removeTree(dir);
    },
  };
}

/** Removes a tree of the store on a worker thread (a big layer takes a while). */
export async function removeTree(dir: string): Promise<void> {
  const parent = fs.openSync(path.dirname(dir), fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
  try {
    const name = Buffer.from(path.basename(dir)).toString('latin1');
    let failure = await removeInWorker(parent, name, true);
    // A directory of a layer extracted rootless may be 0000 (its owner's, so chmod may open it): opened up, then removed again.
    if (failure?.errno === EACCES) {
      openUp(dir);
      failure = await removeInWorker(parent, name, true);
    }
    if (failure && failure.errno !== 2) throw storeError(`store: removing ${dir}: ${failure.syscall} failed (errno ${failure.errno})`, { path: dir });
  } finally {
    fs.closeSync(parent);
  }
}

const EACCES = os.constants.errno.EACCES;

/** Every directory of the tree at `dir` made u+rwx (never following a symlink), as far as this user may. */
function openUp(dir: string): void {
  try {
    fs.chmodSync(dir, 0o700);
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) if (e.isDirectory()) openUp(path.join(dir, e.name));
  } catch {
    // Not this user's, or gone: the removal says what is left.
  }
}

// A live process's entry younger than this is never taken for a leftover, whoever holds its pid now.
const GRACE_MS = 10 * 60_000;

/** The bytes of the regular files under `p` (each inode once), as a layer's listing counts them; 0 where it cannot be read. */
function treeBytes(p: string, seen = new Set<bigint>()): number {
  let st: fs.BigIntStats;
  try {
    st = fs.lstatSync(p, { bigint: true });
  } catch {
    return 0;
  }
  if (st.isFile()) {
    if (seen.has(st.ino)) return 0;
    seen.add(st.ino);
    return Number(st.size);
  }
  if (!st.isDirectory()) return 0;
  let names: string[] = [];
  try {
    names = fs.readdirSync(p);
  } catch {}
  return names.reduce((sum, name) => sum + treeBytes(path.join(p, name), seen), 0);
}

/**
 * Removes what dead processes left in tmp/ (a spool, an extraction under
 * way): an entry whose flock nobody holds and whose pid is gone (or that
 * is old: a pid reused, another pid namespace). This process's own entries
 * are its to remove. Returns those removed, with the bytes each held where
 * `count` (prune says what it freed; a pull does not walk them first).
 */
export async function cleanTmp(store: Store, count = false): Promise<{ path: string; bytes: number }[]> {
  const tmp = path.join(store.root, 'tmp');
  const removed: { path: string; bytes: number }[] = [];
  for (const name of fs.readdirSync(tmp)) {
    const pid = Number(/^(\d+)-/.exec(name)?.[1]);
    if (pid === process.pid) continue;
    const full = path.join(tmp, name);
    let fd: number;
    try {
      fd = fs.openSync(full, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW | fs.constants.O_NONBLOCK);
    } catch {
      continue;
    }
    let leftover = false;
    try {
      const st = fs.fstatSync(fd);
      leftover = native.flockTry(fd, 'ex') === 0 && (!(pid > 0) || !pidRuns(pid) || Date.now() - st.mtimeMs > GRACE_MS);
    } finally {
      fs.closeSync(fd);
    }
    if (!leftover) continue;
    const bytes = count ? treeBytes(full) : 0;
    // What could not be removed is not said to be freed: the next clean tries it again.
    if (
      await removeTree(full).then(
        () => true,
        () => false,
      )
    )
      removed.push({ path: full, bytes });
  }
  return removed;
}
