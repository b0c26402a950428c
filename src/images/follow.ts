import fs from 'node:fs';
import type { Readable } from 'node:stream';
import { streamModule } from '../core/builtins.js';
import { abortError } from '../core/errors.js';
import type { CancelFlag } from '../core/native.cjs';

// A blob read while it is still being written (a download spooling to the
// scratch directory): the reader follows the file as it grows, told how far
// it may read by a counter the writer publishes, so a layer is extracted as
// its bytes arrive, never waiting for the whole download.

/** progress[1] while the writer runs; then done or failed. */
export const FOLLOW_RUNNING = 0;
export const FOLLOW_DONE = 1;
export const FOLLOW_FAILED = 2;

/** The writer's progress: [0] bytes written, [1] its state; on shared memory, so worker threads see it. */
export function followProgress(): BigInt64Array {
  return new BigInt64Array(new SharedArrayBuffer(16));
}

// How long a reader that caught up waits before looking again: short next to a 1 MiB read of a download at 100+ MB/s.
const POLL_MS = 2;

const state = (progress: BigInt64Array) => Number(Atomics.load(progress, 1));
const written = (progress: BigInt64Array) => Number(Atomics.load(progress, 0));

/** Resolves once `bytes` are written or the writer ended (whichever first). */
export async function followed(progress: BigInt64Array, bytes: number, cancel?: CancelFlag): Promise<void> {
  while (written(progress) < bytes && state(progress) === FOLLOW_RUNNING) {
    if (cancel && Atomics.load(cancel, 0) !== 0) throw abortError();
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
}

/** The file's bytes as they are written, 1 MiB reads; ends where the writer ended; fails (abort) where it failed. */
export function followStream(file: string, progress: BigInt64Array, cancel?: CancelFlag): Readable {
  const fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
  let position = 0;
  return new (streamModule().Readable)({
    highWaterMark: 1 << 20,
    read(size) {
      const next = () => {
        const available = written(progress) - position;
        if (available <= 0) {
          const s = state(progress);
          if (s === FOLLOW_DONE) return this.push(null);
          // A failed download: the provision reports the download's own error; this reading only stops.
          if (s === FOLLOW_FAILED || (cancel && Atomics.load(cancel, 0) !== 0)) return this.destroy(abortError());
          setTimeout(next, POLL_MS);
          return;
        }
        const buf = Buffer.allocUnsafe(Math.min(Math.max(size, 1 << 20), available));
        fs.read(fd, buf, 0, buf.length, position, (error, n) => {
          if (error) return this.destroy(error);
          position += n;
          this.push(n === buf.length ? buf : buf.subarray(0, n));
        });
      };
      next();
    },
    destroy(error, callback) {
      fs.close(fd, () => callback(error));
    },
  });
}
