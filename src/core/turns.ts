import { nowMs } from './stopwatch.js';

/**
 * A turn of the event loop once `ms` of work went by without one: signal
 * handlers (Ctrl-C) run only then, and a long synchronous stretch of the
 * main thread — the walk of a deep tree, where each directory costs more
 * the deeper it lies; a tar layer read there, chunk after resolved chunk —
 * kept them waiting (a 4,000-deep layer held SIGTERM for 6.3 s). Called often; awaits only when due (a clock read every 16
 * calls, one setImmediate a turn).
 */
export function turns(ms = 20): () => Promise<void> | undefined {
  let last = nowMs();
  let calls = 0;
  return () => {
    if ((++calls & 15) !== 0 || nowMs() - last < ms) return undefined;
    return new Promise<void>((resolve) =>
      setImmediate(() => {
        last = nowMs();
        resolve();
      }),
    );
  };
}
