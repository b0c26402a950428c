import { Piscina } from 'piscina';
import type { CancelFlag, CopyResult, Root } from './native.cjs';

/**
 * A batch. `base` is the batch's common directory ('' for the root) and rels
 * are relative to it: a deep common prefix crosses the thread boundary once
 * per batch, not once per entry.
 */
export type Task =
  | { op: 'copy'; src: Root; dst: Root; base: string; rels: string[]; types: string; defer: boolean; cancel?: CancelFlag }
  | { op: 'link'; dst: Root; rels: string[] }
  | { op: 'meta'; src: Root; dst: Root; base: string; rels: string[]; keepRootMode: boolean; cancel?: CancelFlag };

export type TaskResult = CopyResult;

const WORKER = new URL('../workers/copy.cjs', import.meta.url).href;

/** A fixed-size Piscina pool running the copy step; shared by every provision of a CopyBackend. */
export class Pool {
  readonly concurrency: number;
  #piscina: Piscina<Task, TaskResult>;

  /** `worker` replaces the copy step's module (tests wrap it to inject faults). */
  constructor(concurrency: number, worker: string = WORKER) {
    this.concurrency = concurrency;
    this.#piscina = new Piscina({
      filename: worker,
      minThreads: concurrency,
      maxThreads: concurrency,
      // Tasks are synchronous native calls: 'sync' lets an idle worker pick
      // up the next task without a trip through its event loop.
      atomics: 'sync',
      // Threads are reused across layers and provisions; starting one costs
      // ~30 ms, so never let them time out while the pool is open.
      idleTimeout: 2 ** 31 - 1,
      // Tasks wait here until a worker is free; provisions bound their own
      // in-flight count, so this queue stays small.
      maxQueue: Infinity,
    });
  }

  run(task: Task): Promise<TaskResult> {
    return this.#piscina.run(task);
  }

  async close(): Promise<void> {
    await this.#piscina.destroy();
  }
}
