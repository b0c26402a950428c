import path from 'node:path';
import { LayercopyError } from './errors.js';
import { removeTree, staleStagings } from './staging.js';

export interface DestroyResult {
  /** True when ROOTFS no longer exists. */
  ok: boolean;
  error?: LayercopyError;
}

/**
 * Removes a provisioned rootfs (and stale staging directories of it) without
 * following symlinks. Like the seed, a failure is reported in the result, not
 * thrown: the caller retries later.
 */
export async function destroy(rootfs: string): Promise<DestroyResult> {
  if (typeof rootfs !== 'string' || rootfs.trim() === '') {
    return { ok: false, error: new LayercopyError('destroy: rootfs must be a non-empty path', { code: 'ERR_INVALID_ARGUMENT' }) };
  }
  const target = path.resolve(rootfs);
  if (target === '/') {
    return { ok: false, error: new LayercopyError('destroy: refusing to remove /', { code: 'ERR_INVALID_ARGUMENT', path: target }) };
  }
  try {
    for (const stale of staleStagings(target)) removeTree(stale);
    removeTree(target);
    return { ok: true };
  } catch (error) {
    return { ok: false, error: error as LayercopyError };
  }
}
