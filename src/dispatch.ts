import PQueue from 'p-queue';
import { abortError, fromFailure, LayercopyError, type LayerContext } from './errors.js';
import type { CopyResult } from './native.cjs';
import type { Pool, Task } from './pool.js';

/**
 * The tasks of one layer of one provision on a (possibly shared) pool: a
 * bounded queue, the first failure, and the barrier that waits for every
 * task submitted so far.
 */
export class LayerTasks {
  #pool: Pool;
  #ctx: LayerContext;
  #signal?: AbortSignal;
  #queue: PQueue;
  #limit: number;
  #failed: unknown;

  constructor(pool: Pool, ctx: LayerContext, signal: AbortSignal | undefined) {
    this.#pool = pool;
    this.#ctx = ctx;
    this.#signal = signal;
    // Two tasks per worker handed to the pool (one running, one ready), as
    // many again waiting here: every worker stays busy while the main thread
    // plans, and a huge layer never piles up in memory.
    this.#limit = pool.concurrency * 2;
    this.#queue = new PQueue({ concurrency: this.#limit });
  }

  get stopped(): boolean {
    return this.#failed !== undefined || this.#signal?.aborted === true;
  }

  fail(error: unknown): void {
    this.#failed ??= error;
  }

  /** Queues a task, waiting first while the queue is full. `ctx` names the task's layer in errors (default: the queue's). */
  async submit(task: Task, operation: string, onResult?: (r: CopyResult) => void, ctx: LayerContext = this.#ctx): Promise<void> {
    if (this.#queue.size >= this.#limit) await this.#queue.onSizeLessThan(this.#limit);
    this.#queue.add(() => this.#run(task, operation, ctx, onResult)).catch((error) => this.fail(error));
  }

  /** Waits for every task submitted so far; then throws the first failure, or an AbortError. */
  async barrier(): Promise<void> {
    await this.#queue.onIdle();
    if (this.#failed !== undefined) throw this.#failed;
    if (this.#signal?.aborted) throw abortError(this.#signal.reason);
  }

  async #run(task: Task, operation: string, ctx: LayerContext, onResult?: (r: CopyResult) => void): Promise<void> {
    if (this.stopped) return;
    let result: CopyResult;
    try {
      result = await this.#pool.run(task);
    } catch (error) {
      throw new LayercopyError(`layer ${ctx.layerIndex + 1} (${ctx.layer}): ${operation}: worker failed: ${(error as Error).message}`, {
        code: 'ERR_WORKER',
        layer: ctx.layer,
        layerIndex: ctx.layerIndex,
        cause: error,
      });
    }
    onResult?.(result);
    if (result.failure) throw fromFailure(result.failure, ctx, operation);
  }
}
