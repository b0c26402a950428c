import fs from 'node:fs';
import path from 'node:path';
import { asLayercopyError, LayercopyError } from '../core/errors.js';
import { isMountPoint } from '../core/mounts.js';
import { dotEnding, workingDirectory } from '../core/paths.js';
import { storeAbove } from '../core/store-marker.js';
import { destroyError } from './destroy-error.js';
import { removeInWorker } from './remove.js';
import { openParent, removeStale } from './staging.js';

/**
 * ok: ROOTFS no longer exists (removed: whether there was anything to
 * remove, as `rm -rf` succeeds on a missing path; staleRemoved: the staging
 * directories of ROOTFS that killed provisions had left, removed too).
 * Otherwise the error says why; nothing is thrown.
 */
export type DestroyResult = { ok: true; removed: boolean; staleRemoved: string[] } | { ok: false; error: LayercopyError };

/**
 * Removes a provisioned rootfs (and stale staging directories of it) on a
 * worker thread: never following symlinks, never entering another
 * filesystem or a mount point (a volume still mounted in the rootfs is left,
 * and the error names it), at any depth. Like the Mesos backend, a failure
 * is reported in the result, not thrown: the caller retries later.
 */
export async function destroy(rootfs: string): Promise<DestroyResult> {
  try {
    return await destroyChecked(rootfs);
  } catch (error) {
    return { ok: false, error: asLayercopyError(error, `destroy ${rootfs}`) };
  }
}

/**
 * Why ROOTFS must not be removed, or undefined. `rm -rf` refuses `.` and
 * `..`; a rootfs is never the directory the caller stands in or one above
 * it, whatever path leads there (compared by device and inode: `a/b/..`,
 * a bind mount of the working directory), and never a plain file (a typo
 * such as `layer/etc/hostname` would delete a layer's file).
 */
function refusal(given: string, target: string): string | undefined {
  if (target === '/') return 'refusing to remove /';
  // A store's layers are what later provisions copy from: only prune and rmi change it.
  const store = storeAbove(target);
  if (store !== undefined) return `lies inside the layercopy store ${store}; refusing (use layercopy rmi and prune)`;
  const last = dotEnding(given);
  if (last) return `refusing to remove a path that ends in '${last}' (name the rootfs directory itself)`;
  let st: fs.Stats;
  try {
    st = fs.lstatSync(target);
  } catch {
    return undefined; // missing, or unreadable: the removal says which
  }
  if (!st.isDirectory()) {
    const what = st.isSymbolicLink() ? 'a symbolic link' : st.isFile() ? 'a regular file' : 'not a directory';
    return `is ${what}, not a rootfs directory; nothing was removed`;
  }
  // Removing it would empty what is mounted there (a volume, a bind mount of other data); no provision makes one.
  if (isMountPoint(target)) return 'is a mount point, not a provisioned rootfs; unmount it first; nothing was removed';
  const cwd = workingDirectory();
  if (cwd === undefined) return undefined; // the working directory was removed: nothing above it to protect
  for (let dir = cwd; ; dir = path.dirname(dir)) {
    let here: fs.Stats | undefined;
    try {
      here = fs.statSync(dir);
    } catch {
      here = undefined;
    }
    if (here && here.dev === st.dev && here.ino === st.ino) {
      return dir === cwd ? 'refusing to remove the current working directory' : `refusing to remove ${dir}, a directory above the current working directory`;
    }
    if (dir === '/') return undefined;
  }
}

async function destroyChecked(rootfs: string): Promise<DestroyResult> {
  if (typeof rootfs !== 'string' || rootfs.trim() === '') {
    return { ok: false, error: new LayercopyError('destroy: rootfs must be a non-empty path', { code: 'ERR_INVALID_ARGUMENT' }) };
  }
  const target = path.resolve(rootfs);
  const refused = refusal(rootfs, target);
  if (refused) return { ok: false, error: new LayercopyError(`destroy ${rootfs}: ${refused}`, { code: 'ERR_INVALID_ARGUMENT', path: target }) };
  let parentFd: number;
  try {
    parentFd = openParent(target);
  } catch (error) {
    if ((error as LayercopyError).code === 'ENOENT') return { ok: true, removed: false, staleRemoved: [] };
    return { ok: false, error: error as LayercopyError };
  }
  try {
    const base = Buffer.from(path.basename(target)).toString('latin1');
    let existed = true;
    try {
      fs.lstatSync(target);
    } catch {
      existed = false;
    }
    const staleRemoved = await removeStale(parentFd, target, { strict: true });
    const failure = await removeInWorker(parentFd, base, true);
    if (failure) return { ok: false, error: destroyError(failure, target, base) };
    return { ok: true, removed: existed, staleRemoved };
  } finally {
    fs.closeSync(parentFd);
  }
}
