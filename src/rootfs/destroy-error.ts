import path from 'node:path';
import type { LayercopyError } from '../core/errors.js';
import type { NativeFailure } from '../core/native.cjs';
import { displayPath } from '../core/paths.js';
import { nativeError } from './staging.js';

/** The syscalls that fail on ROOTFS itself before anything beneath it is removed. */
const BEFORE_ANY = new Set(['open', 'unlink', 'fstat', 'getdents64']);

/**
 * A failed destroy's error: the path that failed and the syscall, then what
 * the best-effort removal left (as `rm -rf` goes on past an entry it cannot
 * remove, and containerd reports what remains), so the caller knows the
 * tree is no longer whole and how to finish the job.
 */
export function destroyError(failure: NativeFailure, target: string, base: string): LayercopyError {
  const rel = failure.rel ?? base;
  const error = nativeError({ ...failure, rel }, target, `destroy ${target}`);
  if (failure.code) return error; // a mount point or an interrupt: nativeError's words say what stays
  const where = displayPath(path.dirname(target), rel);
  let left: string;
  if (rel === base && BEFORE_ANY.has(failure.syscall)) {
    left = 'nothing was removed';
  } else if (rel === base) {
    left = `its contents were removed; the empty directory ${target} stays`;
  } else {
    const others = failure.more ? ` and ${failure.more} other ${failure.more === 1 ? 'entry' : 'entries'}` : '';
    left = `${target} is partly removed: everything else that could be removed was; ${where}${others} stay${others ? '' : 's'}, with the directories above`;
  }
  error.message = `${error.message}; ${left}; make what stays removable (run destroy as its owner or as root, or chmod/chown it) and run destroy again`;
  return error;
}
