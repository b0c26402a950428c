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
  #thrown: { error: unknown } | undefined;

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
        this.#thrown = { error };
        this.#controller.abort(error);
      }
    };
    // Over the caller's object, not a copy of its own properties: options it inherits (Object.create(defaults)) stay.
    const combined = signal ? AbortSignal.any([signal, this.#controller.signal]) : this.#controller.signal;
    this.options = Object.create(options, { onProgress: { value: report, enumerable: true }, signal: { value: combined, enumerable: true } });
  }

  /**
   * The error `what` fails with where onProgress threw, else undefined.
   * `committed`: the work was committed all the same (the exception came on
   * the 'done' event, after it, or too late to stop it): it stays.
   */
  failure(what: string, committed = false): LayercopyError | undefined {
    if (!this.#thrown) return undefined;
    const { error } = this.#thrown;
    const after = committed ? ' after the work was committed (what was made stays)' : '';
    return new LayercopyError(`${what}: options.onProgress threw${after}: ${said(error)}`, { code: 'ERR_SYSTEM', cause: error });
  }

  /**
   * What a failed provision or pull is told as: the abort the guard asked
   * for as the callback's exception (failure()); any other failure — its
   * own, a bad tar met meanwhile — as `error` itself.
   */
  told(error: unknown, what: string): unknown {
    return ((error as { code?: string })?.code === 'ABORT_ERR' ? this.failure(what) : undefined) ?? error;
  }
}

/** What a thrown value says: its message, else its string (a value String() cannot convert, such as Object.create(null), threw a TypeError here). */
function said(error: unknown): string {
  if (error instanceof Error) return error.message;
  try {
    return String(error);
  } catch {
    return 'a value that is no Error';
  }
}
