import type PQueue from 'p-queue';
import { abortError, fromFailure, type LayerContext, LayercopyError, layerLabel, sourceFields } from '../core/errors.js';
import type { Changes } from '../core/rootless.js';
import { nowMs } from '../core/stopwatch.js';

import { type Pool, TASKS_PER_WORKER, type Task, type TaskResult } from './pool.js';

/**
 * A provision runs its first tasks on the main thread, up to INLINE_MS of
 * them or INLINE_ENTRIES entries, and starts the pool only when it needs one
 * (POOL_START_ENTRIES): loading piscina and booting the workers costs more
 * than a small provision takes in all (docs/benchmarks.md, "Figures behind the code: Inline
 * budget and pool start").
 */
export const INLINE_ENTRIES = 1024;
export const INLINE_MS = 20;
/**
 * While the pool has not started, an entry linked into place from a scratch
 * extraction (a `move` copy, a hardlink), removed (a whiteout) or given its
 * directory's metadata costs a few syscalls and no data: it takes this much
 * less of the inline budget, and no INLINE_MS, so that the layers above a
 * base pumped from this thread (src/images/run.ts) are applied without
 * booting two workers for them: 1024 x 8 such entries take about as long
 * on this thread as the workers' boot.
 */
export const MOVE_WEIGHT = 8;
/**
 * The pool starts once this many entries ran inline, and the rest of the
 * budget still runs inline: the threads boot on the other cores while this
 * thread copies, instead of after it. Not lower: a layer of a few hundred
 * entries then pays for threads it hardly uses (same section).
 */
export const POOL_START_ENTRIES = 512;

/** What a provision may still run inline: shared by all of its task queues. */
export interface InlineBudget {
  entries: number;
  /** Milliseconds of inline work so far. */
  ms: number;
}

/** A provision's budget: none when the pool is already running (another provision started it). */
export function inlineBudget(pool: Pool): InlineBudget {
  return { entries: pool.started || !pool.inlinable ? 0 : INLINE_ENTRIES, ms: 0 };
}

export interface SubmitOptions {
  /** Called with the task's result on this thread, before a failure in it is thrown. */
  onResult?: (r: TaskResult) => void;
  /** The layer named in errors (default: the queue's). */
  ctx?: LayerContext;
  /** false: run on the pool even within the inline budget (default true). */
  mayInline?: boolean;
  /**
   * Queued at once, ahead of the tasks waiting with a lower one (higher
   * first; default 0, in order): a big file's size, so that the longest
   * copy starts first.
   */
  priority?: number;
}

/**
 * The tasks of one layer (or one merged walk) of one provision on a
 * (possibly shared) pool: a bounded queue, the first failure, and the
 * barrier that waits for every task submitted so far. While the provision's
 * inline budget lasts (it has one only if it found the pool stopped), tasks
 * run on this thread instead; the pool starts part way through it.
 */
export class LayerTasks {
  #pool: Pool;
  #ctx: LayerContext;
  #signal?: AbortSignal;
  #inline: InlineBudget;
  #changes?: Changes;
  #queue: PQueue | undefined;
  #limit: number;
  #failed: unknown;
  /** Whether the last task submitted found the queue full (the workers are behind). */
  waited = false;
  /** submitSoon calls still waiting for room in the queue. */
  #submitting = new Set<Promise<void>>();

  /** changes: where what the metadata policy changed goes (the provision's). */
  constructor(pool: Pool, ctx: LayerContext, signal: AbortSignal | undefined, inline: InlineBudget = { entries: 0, ms: 0 }, changes?: Changes) {
    this.#pool = pool;
    this.#changes = changes;
    this.#ctx = ctx;
    this.#signal = signal;
    this.#inline = inline;
    // Two tasks per worker handed to each worker (one running, one ready in
    // its port: src/copy/pool.ts), as many again queued in the pool: every worker
    // stays busy while the main thread plans, and a huge layer never piles up
    // in memory (100k small files: 1.00–1.04 s against 1.06–1.18 s with one
    // task per worker and two per worker in flight).
    this.#limit = pool.concurrency * TASKS_PER_WORKER * 2;
  }

  get stopped(): boolean {
    return this.#failed !== undefined || this.#signal?.aborted === true;
  }

  fail(error: unknown): void {
    this.#failed ??= error;
  }

  /**
   * Queues a task, waiting first while the queue is full. `operation` names
   * it in errors; see SubmitOptions for the rest.
   */
  async submit(task: Task, operation: string, options: SubmitOptions = {}): Promise<void> {
    if (this.stopped) return;
    const { onResult, ctx = this.#ctx, mayInline = true, priority = 0 } = options;
    // Linking, removing or setting metadata, while no worker runs: bounded by
    // its entries (weighted) rather than by INLINE_MS, a task meant for the
    // pool (submitSoon) too. Not a big file's (a priority: its size), whose
    // hardlinked first name is copied, not linked.
    const moves = task.op === 'link' || task.op === 'meta' || task.op === 'remove' || (task.op === 'copy' && task.move === true);
    const cheap = moves && priority === 0 && !this.#pool.started;
    const size = Math.ceil((task.op === 'link' ? task.rels.length / 2 : task.count) / (cheap ? MOVE_WEIGHT : 1));
    const inline = this.#inline;
    if ((mayInline || cheap) && inline.entries >= size && (cheap || inline.ms < INLINE_MS)) {
      inline.entries -= size;
      // A move on a thread of libuv's pool, while this thread plans the
      // next: the 7k moves of a 4-layer Debian image's walk took 55 of its
      // ~105 ms on this thread, with the other core idle.
      const later = cheap ? this.#pool.runLater(task) : undefined;
      if (later) {
        this.soon(async () => this.#settle(await later, operation, ctx, onResult));
        return;
      }
      const start = nowMs();
      try {
        this.#settle(this.#pool.runInline(task), operation, ctx, onResult);
      } catch (error) {
        this.fail(error);
      }
      inline.ms += nowMs() - start;
      if (!cheap && INLINE_ENTRIES - inline.entries >= POOL_START_ENTRIES) this.#pool.start();
      return;
    }
    inline.entries = 0;
    if (!this.#queue) {
      const { default: Queue } = await import('p-queue');
      this.#queue ??= new Queue({ concurrency: this.#limit });
    }
    const queue = this.#queue;
    if (priority === 0) {
      this.waited = queue.size >= this.#limit;
      if (this.waited) await queue.onSizeLessThan(this.#limit);
    }
    queue.add(() => this.#run(task, operation, ctx, onResult), { priority }).catch((error) => this.fail(error));
  }

  /**
   * Queues a task from a result's callback, without holding up the caller:
   * for tasks a result calls for (a big file a batch handed back, the first
   * names of hardlink groups); always to the pool (a 50 MB copy on this
   * thread would stall the walk). The barrier waits for it like for any
   * other.
   */
  submitSoon(task: Task, operation: string, options: Omit<SubmitOptions, 'mayInline'> = {}): void {
    this.soon(() => this.submit(task, operation, { ...options, mayInline: false }));
  }

  /** Runs `work` (which submits tasks) without holding up the caller; the barrier waits for it, and a failure in it is the queue's. */
  soon(work: () => Promise<void>): void {
    const submitted = work().catch((error) => this.fail(error));
    this.#submitting.add(submitted);
    submitted.finally(() => this.#submitting.delete(submitted));
  }

  /** Waits for every task submitted so far (and those their results submit); then throws the first failure, or an AbortError. */
  async barrier(): Promise<void> {
    for (;;) {
      if (this.#submitting.size > 0) await Promise.all(this.#submitting);
      await this.#queue?.onIdle();
      if (this.#submitting.size === 0) break;
    }
    if (this.#failed !== undefined) throw this.#failed;
    if (this.#signal?.aborted) throw abortError(this.#signal.reason);
  }

  async #run(task: Task, operation: string, ctx: LayerContext, onResult?: (r: TaskResult) => void): Promise<void> {
    if (this.stopped) return;
    let result: TaskResult;
    try {
      result = await this.#pool.run(task);
    } catch (error) {
      throw new LayercopyError(`${layerLabel(ctx)}: ${operation}: worker failed: ${(error as Error).message}`, {
        code: 'ERR_WORKER',
        ...sourceFields(ctx),
        cause: error,
      });
    }
    this.#settle(result, operation, ctx, onResult);
  }

  #settle(result: TaskResult, operation: string, ctx: LayerContext, onResult?: (r: TaskResult) => void): void {
    this.#changes?.add(result.changes);
    onResult?.(result);
    if (result.failure) throw fromFailure(result.failure, ctx, operation);
  }
}
