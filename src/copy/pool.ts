import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import type { Piscina } from 'piscina';
import { distFile } from '../core/compiled.js';
import type { CancelFlag, CopyResult, LaterMode, NativePolicy, Root } from '../core/native.cjs';

/**
 * A batch. `base` is the batch's common directory ('' for the root) and rels
 * are relative to it: a deep common prefix crosses the thread boundary once
 * per batch, not once per entry. Copy, metadata and removal batches carry
 * their rels packed into one string (packRels) and their number as `count`;
 * a removal (layered strategy: entries hidden by whiteouts; tar layers'
 * scratch directories, forceWritable) removes each rel recursively.
 */
export type Task =
  | { op: 'copy'; src: Root; dst: Root; base: string; rels: string; count: number; types: string; defer: boolean; cancel?: CancelFlag; policy?: NativePolicy; move?: boolean }
  | { op: 'link'; dst: Root; rels: string[] }
  | { op: 'meta'; src: Root; dst: Root; base: string; rels: string; count: number; keepRootMode: boolean; cancel?: CancelFlag; policy?: NativePolicy }
  | { op: 'remove'; dst: Root; rels: string; count: number; cancel?: CancelFlag; forceWritable?: boolean };

/** What crosses to a worker: a task, and the flag the worker sets as it starts it (Pool.run). */
export type Posted = Task & { started?: Int32Array };

/** A task's result: a copy's also carries what it handed back (links, large); other tasks leave them out. */
export type TaskResult = Omit<CopyResult, 'links' | 'large'> & Partial<Pick<CopyResult, 'links' | 'large'>> & { later?: LaterMode[] };

const WORKER = distFile('workers/copy.cjs').href;

/** Tasks handed to each worker at once: one running, one ready in its port. */
export const TASKS_PER_WORKER = 2;

/**
 * A fixed-size Piscina pool running the copy step; shared by every provision
 * of a CopyBackend. It starts on first use: importing piscina and booting the
 * workers costs more than a small provision takes in all, so small
 * provisions run their tasks inline (runInline) and never start it
 * (docs/benchmarks.md, "Figures behind the code: Inline budget and pool start").
 */
export class Pool {
  readonly concurrency: number;
  #worker: string;
  #piscina: Piscina<Posted, TaskResult> | undefined;
  #closed = false;
  /** A runHere task is running on this thread. */
  #here = false;

  /** `worker` replaces the copy step's module (tests wrap it to inject faults). */
  constructor(concurrency: number, worker: string = WORKER) {
    this.concurrency = concurrency;
    this.#worker = worker;
  }

  /** True once the threads started. */
  get started(): boolean {
    return this.#piscina !== undefined;
  }

  /** Whether tasks may run inline: only the built-in step (tests' fault-injecting workers never run inline). */
  get inlinable(): boolean {
    return this.#worker === WORKER;
  }

  /**
   * Starts the worker threads; idempotent. Synchronous (piscina loads with
   * require()) so the threads boot in the background while this thread goes
   * on planning and copying inline.
   */
  start(): Piscina<Posted, TaskResult> {
    if (!this.#piscina) {
      const { Piscina } = createRequire(import.meta.url)('piscina') as typeof import('piscina');
      const concurrency = this.concurrency;
      this.#piscina = new Piscina<Posted, TaskResult>({
        filename: this.#worker,
        minThreads: concurrency,
        maxThreads: concurrency,
        // Tasks are synchronous native calls: 'sync' lets an idle worker pick
        // up the next task without a trip through its event loop.
        atomics: 'sync',
        // A second task waits in each worker's port while it runs one: the
        // worker starts it the moment the first ends, without waiting for
        // this thread to read the result and send more (docs/benchmarks.md, "Figures behind the code:
        // Two tasks per worker"; src/copy/dispatch.ts sizes its queue by it).
        concurrentTasksPerWorker: TASKS_PER_WORKER,
        // Threads are reused across layers and provisions; starting one is
        // costly, so never let them time out while the pool is open.
        idleTimeout: 2 ** 31 - 1,
        // Tasks wait here until a worker is free; provisions bound their own
        // in-flight count, so this queue stays small.
        maxQueue: Infinity,
      });
    }
    return this.#piscina;
  }

  /**
   * Runs a task on a worker. A worker holds TASKS_PER_WORKER tasks at once,
   * so when one dies (a crash in the task it runs) the task waiting behind
   * it fails too without having run — possibly another provision's. Such a
   * task runs again on another worker (the flag the worker sets as it starts
   * a task tells the two apart), at most twice; a task that started is never
   * run again.
   */
  async run(task: Task): Promise<TaskResult> {
    return this.#run(task) as Promise<TaskResult>;
  }

  /**
   * Runs a task of another module (a file URL of a CommonJS module whose
   * default export takes the task and sets `started` as it starts) on the
   * same workers, under the same rules: the tarball extractions of
   * src/images/run.ts.
   */
  async runModule<T extends object, R>(filename: string, task: T): Promise<R> {
    return this.#run(task, filename) as Promise<R>;
  }

  async #run(task: object, filename?: string): Promise<unknown> {
    for (let attempt = 0; ; attempt++) {
      const started = new Int32Array(new SharedArrayBuffer(4));
      try {
        return await this.start().run({ ...task, started } as Posted, filename ? { filename } : undefined);
      } catch (error) {
        if (Atomics.load(started, 0) !== 0 || attempt >= 2 || this.#closed) throw error;
      }
    }
  }

  /**
   * Runs `here` on this thread where the threads have not started and no
   * other such task runs here, else `elsewhere` (on the pool): an image of
   * one tarball layer has one task, which a worker could only start after
   * piscina loaded and the thread booted (~50 ms, while this thread idled;
   * docs/benchmarks.md, "Figures behind the code: One layer on the main
   * thread"). One at a time, so that provisions started together still
   * spread over the workers.
   */
  async runHere<R>(here: () => Promise<R>, elsewhere: () => Promise<R>): Promise<R> {
    if (this.started || !this.inlinable || this.#here) return elsewhere();
    this.#here = true;
    try {
      return await here();
    } finally {
      this.#here = false;
    }
  }

  /** Runs a task on this thread, synchronously: the same code a worker runs. */
  runInline(task: Task): TaskResult {
    return inlineStep().default(task);
  }

  /** Runs a task on a thread of libuv's pool, where its op has a native step there (a copy); undefined where not. */
  runLater(task: Task): Promise<TaskResult> | undefined {
    return inlineStep().later(task);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#piscina) await this.#piscina.destroy();
  }
}

type Step = { default: (task: Task) => TaskResult; later: (task: Task) => Promise<TaskResult> | undefined };
let step: Step | undefined;
function inlineStep(): Step {
  step ??= createRequire(import.meta.url)(fileURLToPath(WORKER)) as Step;
  return step;
}
