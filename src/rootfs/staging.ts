import fs from 'node:fs';
import path from 'node:path';
import { errnoWords, UNWRITABLE } from '../core/errno-words.js';
import { errnoError, fromNodeError, LayercopyError } from '../core/errors.js';
import { type NativeFailure, native } from '../core/native.cjs';
import { displayPath } from '../core/paths.js';
import { pidRuns } from '../core/processes.js';
import { parseStagingName } from '../core/staging-name.js';
import { removeInWorker } from './remove.js';

/** Names are carried as latin1-mapped bytes (src/core/paths.ts). */
const bytes = (s: string) => Buffer.from(s).toString('latin1');

/** A new staging directory's name for ROOTFS (the format: src/core/staging-name.ts). */
export function stagingName(rootfs: string): string {
  // Uniqueness, not secrecy: the directory is made with mkdirat (an existing
  // name fails) and is 0700. Not crypto: loading it slows startup
  // (docs/benchmarks.md, "Figures behind the code: Startup").
  const random = Math.floor(Math.random() * 2 ** 32)
    .toString(16)
    .padStart(8, '0');
  return `.${bytes(path.basename(rootfs))}.layercopy-${process.pid}-${random}`;
}

/**
 * ROOTFS's parent directory, opened once: the staging directory is created,
 * listed, removed and renamed relative to this fd, so a parent swapped for a
 * symlink after the checks changes nothing. `resolved` is that parent with
 * symlinks resolved (provision resolves them while checking its inputs).
 */
export function openParent(rootfs: string, resolved?: string): number {
  try {
    const flags = fs.constants.O_RDONLY | fs.constants.O_DIRECTORY;
    return resolved === undefined ? fs.openSync(path.dirname(rootfs), flags) : fs.openSync(resolved, flags | fs.constants.O_NOFOLLOW);
  } catch (error) {
    throw errnoError(fromNodeError(error, 'open', resolved ?? path.dirname(rootfs)), (name) => `rootfs ${rootfs}: cannot open its parent directory: ${name}`, { cause: error });
  }
}

export interface Staging {
  parentFd: number;
  /** Name in the parent (latin1 bytes). */
  name: string;
  /** The staging directory, opened O_NOFOLLOW right after it was made. */
  fd: number;
}

/**
 * Creates the staging directory, mode 0700 until the commit: nothing
 * unprivileged can reach into a half-built tree (CVE-2021-41103).
 */
export function createStaging(parentFd: number, rootfs: string): Staging {
  const name = stagingName(rootfs);
  const made = native.makeDir(parentFd, name);
  if (made) {
    // Name what the user typed, as cp does ("cannot create directory 'out/nb': Permission denied"), not the staging name.
    throw errnoError({ errno: made.errno, syscall: 'mkdir', path: rootfs }, (name, description) => {
      // The rootfs is built beside ROOTFS: an empty ROOTFS of the user's own is not enough.
      const where = UNWRITABLE.includes(name)
        ? ` (it is built beside ROOTFS, in ${path.dirname(rootfs)}, which must be writable)`
        : name === 'ENAMETOOLONG'
          ? ` (it is built beside ROOTFS as ${JSON.stringify(stagingName('ROOTFS').replace('ROOTFS', '<name>'))}, which must fit in 255 bytes: a name of ${255 - Buffer.byteLength(stagingName(''))} bytes at most)`
          : '';
      return `cannot create rootfs '${rootfs}': ${errnoWords(name, description)}${where}`;
    });
  }
  const opened = native.openDir(parentFd, name);
  if (!('fd' in opened)) throw nativeError(opened, rootfs, 'cannot open the staging directory');
  return { parentFd, name, fd: opened.fd };
}

/** Names of the staging directories of ROOTFS (in parentFd) left by processes that no longer run. */
export function staleStagings(parentFd: number, rootfs: string): string[] {
  const listing = native.listDir(parentFd, '');
  if (listing.failure) return [];
  const base = bytes(path.basename(rootfs));
  return listing.names.filter((name) => {
    const staging = parseStagingName(name);
    return staging !== undefined && staging.base === base && !pidRuns(staging.pid);
  });
}

/**
 * Removes the stale staging directories of ROOTFS (see staleStagings) and
 * returns their paths, for the caller to say what it removed. strict: a
 * failure throws (destroy); otherwise that directory is skipped (provision
 * builds beside it all the same).
 */
export async function removeStale(parentFd: number, rootfs: string, { strict }: { strict: boolean }): Promise<string[]> {
  const removed: string[] = [];
  for (const name of staleStagings(parentFd, rootfs)) {
    const failure = await removeInWorker(parentFd, name, true);
    if (failure && !strict) continue;
    if (failure) throw nativeError({ ...failure, rel: failure.rel ?? name }, rootfs, `remove the stale staging directory of ${rootfs}`);
    removed.push(displayPath(path.dirname(rootfs), name));
  }
  return removed;
}

/** A removal's or staging step's failure as an error naming the user's path. */
export function nativeError(f: NativeFailure, rootfs: string, what: string, parent = path.dirname(rootfs)): LayercopyError {
  const where = displayPath(parent, f.rel ?? '');
  if (f.code === 'EMOUNTPOINT') {
    return new LayercopyError(
      `${what}: ${where} is a mount point (another filesystem, or a bind mount): it was not entered and stays, with the directories above it; unmount it and try again`,
      { code: 'ERR_MOUNT_POINT', path: where, syscall: f.syscall },
    );
  }
  if (f.code === 'ECANCELED') return new LayercopyError(`${what}: interrupted`, { code: 'ABORT_ERR', path: where });
  return errnoError({ errno: f.errno, syscall: f.syscall, path: where }, (name, description) => `${what}: ${f.syscall} ${where} failed: ${name} (${description})`);
}

/**
 * Renames staging to ROOTFS, refusing to replace anything that appeared
 * there meanwhile. overEmpty: ROOTFS was an empty directory at the start;
 * the rename replaces it only while it still is one.
 */
export function commit(staging: Staging, rootfs: string, { overEmpty = false }: { overEmpty?: boolean } = {}): void {
  const errno = native.renameNoReplace(staging.parentFd, staging.name, bytes(path.basename(rootfs)), overEmpty);
  if (errno === 0) return;
  const error = errnoError({ errno, syscall: 'rename', path: rootfs }, (name, description) => `commit ${rootfs}: rename failed: ${name} (${description})`);
  if (error.code === 'EEXIST' || error.code === 'ENOTEMPTY') {
    const what = overEmpty ? 'is no longer empty: something was written into it while provisioning' : 'appeared while provisioning';
    throw new LayercopyError(`Rootfs is already provisioned: ${rootfs} ${what}`, {
      code: 'ERR_ALREADY_PROVISIONED',
      path: rootfs,
      cause: error,
    });
  }
  throw error;
}
