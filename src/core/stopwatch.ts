/**
 * A provision's wall time in disjoint phases, one after the other: each
 * lap charges the time since the previous one to a phase, so the phases
 * add up to the total (docs/cli.md, "The summary"). Work that overlaps —
 * copies running on the pool while the main thread walks — is charged to
 * the phase the main thread is in.
 */
export interface Timings {
  /** Checking the inputs, resolving images, opening layers, the staging directory. */
  resolveMs: number;
  /** Extracting tarball layers (all at once on the pool) and verifying their digests. */
  extractMs: number;
  /** The main thread walking and planning the layers, copies running meanwhile. */
  walkMs: number;
  /** Waiting, after the walk, for the copies still running. */
  copyMs: number;
  /** Hardlinks, big files and directory metadata after the copies. */
  finishMs: number;
  /** The root's mode and the rename into place. */
  commitMs: number;
  /** Removing the tarball layers' scratch extractions. */
  cleanupMs: number;
  totalMs: number;
}

/** A phase by name: 'resolve' for resolveMs. */
export type Phase = 'resolve' | 'extract' | 'walk' | 'copy' | 'finish' | 'commit' | 'cleanup';

/**
 * Milliseconds from a fixed point, as performance.now(). The global
 * `performance` loads perf_hooks and nine internal modules on first use,
 * ~1–2 ms of every provision's start; process.hrtime is already there.
 */
export const nowMs = (): number => Number(process.hrtime.bigint()) / 1e6;

export class Stopwatch {
  readonly timings: Timings = { resolveMs: 0, extractMs: 0, walkMs: 0, copyMs: 0, finishMs: 0, commitMs: 0, cleanupMs: 0, totalMs: 0 };
  readonly #start: number;
  #mark: number;

  constructor(start = nowMs()) {
    this.#start = start;
    this.#mark = start;
  }

  /** Charges the time since the last lap to `phase`. */
  lap(phase: Phase): void {
    const now = nowMs();
    this.timings[`${phase}Ms`] += now - this.#mark;
    this.#mark = now;
  }

  /** Ends the watch: totalMs from the start. */
  stop(): Timings {
    this.timings.totalMs = nowMs() - this.#start;
    return this.timings;
  }
}
