import fs from 'node:fs';
import os from 'node:os';
import { abortError, LayercopyError } from '../core/errors.js';
import { native } from '../core/native.cjs';
import { nowMs } from '../core/stopwatch.js';

// The store's locks: flock(2) on one file per digest (locks/), through the
// native helper. Shared: an entry is pinned (a provision reads it; prune
// passes it over). Exclusive: an entry is being built, or removed. A lock
// belongs to its open file: a process that dies releases it, so no file
// here is ever trusted for what it says, only for who holds it.
//
// Prune removes a lock file while holding it exclusively; whoever opened the
// same name before the removal then holds a lock on a file no one else
// will open. So every lock, once taken, is checked to still be the file at
// its name, and is taken again on the new one where it is not.

const EWOULDBLOCK = os.constants.errno.EWOULDBLOCK;

// A wait in flock(2) holds one of libuv's threads (4 by default), which
// gzip inflation and file reads also need; an extraction this process runs
// must never starve behind its own waits. So one wait at a time blocks a
// thread; the others poll.
let blockingWait = false;
const POLL_MS = [5, 10, 20, 40, 80];

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export type LockMode = 'sh' | 'ex';

export class StoreLock {
  #fd: number;
  mode: LockMode;
  readonly path: string;

  private constructor(path: string, fd: number, mode: LockMode) {
    this.path = path;
    this.#fd = fd;
    this.mode = mode;
  }

  /**
   * Takes the lock at `file` (made where missing). Without `wait`,
   * undefined where another holds a conflicting lock; with it, waits
   * (`onWait` gets the milliseconds waited). Never wait while holding an
   * exclusive lock (docs/design.md, "Locking"): holders of exclusive locks
   * must never wait, so that every wait ends.
   */
  static async acquire(
    file: string,
    mode: LockMode,
    opts: { wait: boolean; signal?: AbortSignal; onWait?: (ms: number) => void } = { wait: true },
  ): Promise<StoreLock | undefined> {
    for (;;) {
      const fd = open(file);
      // held: the fd is the lock's, or (an abandoned wait) the blocked thread's, which closes it.
      const owner = { held: false };
      try {
        let e = native.flockTry(fd, mode);
        if (e === EWOULDBLOCK) {
          if (!opts.wait) return undefined;
          const started = nowMs();
          e = await waitFor(fd, mode, opts.signal, owner);
          opts.onWait?.(nowMs() - started);
        }
        if (e !== 0) throw new LayercopyError(`store: flock ${file}: errno ${e}`, { code: 'ERR_STORE', path: file, errno: -e });
        if (sameFile(fd, file)) {
          owner.held = true;
          return new StoreLock(file, fd, mode);
        }
      } finally {
        if (!owner.held) fs.closeSync(fd);
      }
    }
  }

  /** Exclusive to shared. Not atomic (flock(2)): check the entry again after it. */
  downgrade(): void {
    const e = native.flockTry(this.#fd, 'sh');
    if (e !== 0) throw new LayercopyError(`store: flock ${this.path}: errno ${e}`, { code: 'ERR_STORE', path: this.path, errno: -e });
    this.mode = 'sh';
  }

  /** Removes the lock file; only while held exclusively (prune, after removing its entry). */
  unlink(): void {
    if (this.mode !== 'ex') throw new LayercopyError('store: a lock file is removed only under its exclusive lock', { code: 'ERR_STORE' });
    fs.rmSync(this.path, { force: true });
  }

  release(): void {
    if (this.#fd < 0) return;
    fs.closeSync(this.#fd);
    this.#fd = -1;
  }
}

function open(file: string): number {
  try {
    return fs.openSync(file, fs.constants.O_RDWR | fs.constants.O_CREAT | fs.constants.O_NOFOLLOW, 0o600);
  } catch (error) {
    const e = error as NodeJS.ErrnoException;
    throw new LayercopyError(`store: cannot open the lock ${file}: ${e.code}`, { code: 'ERR_STORE', path: file, cause: error });
  }
}

function sameFile(fd: number, file: string): boolean {
  try {
    const a = fs.fstatSync(fd);
    const b = fs.lstatSync(file);
    return a.dev === b.dev && a.ino === b.ino;
  } catch {
    return false;
  }
}

/**
 * Waits for the lock on fd: blocking in flock(2) on a libuv thread where no
 * other wait of this process does, else polling. On abort, rejects at once;
 * a blocked thread keeps the fd until its flock returns, and closes it then
 * (closing it earlier would let the number name another file under it).
 */
async function waitFor(fd: number, mode: LockMode, signal: AbortSignal | undefined, owner: { held: boolean }): Promise<number> {
  if (signal?.aborted) throw abortError(signal.reason);
  if (!blockingWait) {
    blockingWait = true;
    const wait = native.flock(fd, mode === 'ex', true).finally(() => {
      blockingWait = false;
    });
    if (!signal) return wait;
    let onAbort = () => {};
    const aborted = new Promise<never>((_, reject) => {
      onAbort = () => reject(abortError(signal.reason));
      signal.addEventListener('abort', onAbort, { once: true });
    });
    try {
      return await Promise.race([wait, aborted]);
    } catch (error) {
      owner.held = true;
      void wait.then(() => fs.closeSync(fd));
      throw error;
    } finally {
      signal.removeEventListener('abort', onAbort);
    }
  }
  for (let i = 0; ; i++) {
    if (signal?.aborted) throw abortError(signal.reason);
    await sleep(POLL_MS[Math.min(i, POLL_MS.length - 1)]);
    const e = native.flockTry(fd, mode);
    if (e !== EWOULDBLOCK) return e;
  }
}
