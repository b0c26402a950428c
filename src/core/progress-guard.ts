import { LayercopyError } from './errors.js';
import type { Progress } from './options.js';

/** The options a provision or pull takes that the guard touches. */
interface Guarded {
  signal?: AbortSignal;
  onProgress?: (progress: Progress) => void;
}

/**
 * The caller's onProgress, which is called from the copy's own steps and
 * from timers (an extraction's and a download's bytes, every 100 ms). An
 * exception thrown in a timer escaped every handler: the process exited
 * on it as uncaught, or a tarball's provision rejected with its interval
 * and claims table left running, and the process never exited. Here the
 * first exception is kept, no later event is sent, and the work is aborted
 * through the guard's signal; failure() is the error it then fails with.
 * Options that are not what they should be pass through untouched, for
 * the validation to name them.
 */
export class ProgressGuard<T extends Guarded> {
  readonly options: T;
  readonly #controller = new AbortController();
  #thrown: { error: unknown; phase: Progress['phase'] } | undefined;

  constructor(options: T) {
    this.options = options;
    if (options === null || typeof options !== 'object') return;
    const { onProgress, signal } = options;
    if (typeof onProgress !== 'function' || (signal !== undefined && !(signal instanceof AbortSignal))) return;
    const report = (progress: Progress) => {
      if (this.#thrown) return;
      try {
        onProgress(progress);
      } catch (error) {
        this.#thrown = { error, phase: progress.phase };
        this.#controller.abort(error);
      }
    };
    this.options = { ...options, onProgress: report, signal: signal ? AbortSignal.any([signal, this.#controller.signal]) : this.#controller.signal };
  }

  /** The error `what` fails with where onProgress threw, else undefined. */
  failure(what: string): LayercopyError | undefined {
    if (!this.#thrown) return undefined;
    const { error, phase } = this.#thrown;
    // The 'done' event comes once the work is committed: it cannot be undone.
    const after = phase === 'done' ? " on the 'done' event (what was made before it stays)" : '';
    const message = error instanceof Error ? error.message : String(error);
    return new LayercopyError(`${what}: options.onProgress threw${after}: ${message}`, { code: 'ERR_SYSTEM', cause: error });
  }
}
