// An extraction as a task of the provision's Piscina pool (src/images/run.ts):
// one tarball layer streamed into its scratch directory on a pool worker
// (or on the main thread: Pool.runHere, src/images/run.ts),
// while zlib inflates on libuv's threads. Asynchronous from start to end, so
// several run on one worker at once (the pool's concurrentTasksPerWorker);
// piscina's atomics wait only while a worker has no task. CommonJS for the
// reason src/core/native.cts gives; the extraction itself is loaded with
// import(). Failures go back as plain data and become errors again on the
// main thread.
import type { LayerSource } from '../core/errors.js';
import type { CancelFlag, NativePolicy } from '../core/native.cjs';
import type { ExtractedLayer, TarLayer } from './layer.js';

export interface ExtractTask {
  tar: TarLayer;
  /** The layer's scratch directory, an fd of the main thread's (same process). */
  root: number;
  cancel?: CancelFlag;
  /** Where the bytes of the tarball read so far go (progress: slot `slot`). */
  read?: BigInt64Array;
  slot?: number;
  /** The provision's claims set and this layer's index among all layers (src/images/extract.ts). */
  claims?: { id: number; layer: number; record?: boolean };
  /** root is the rootfs of a one-layer image (src/images/extract.ts). */
  direct?: boolean;
  /** The argument the layer came from, by which its entries are named (src/images/extract.ts). */
  source?: LayerSource;
  /** The metadata policy entries are written by (native/meta.h). */
  policy?: NativePolicy;
  /** Set as the task starts (src/copy/pool.ts: a task that started never runs again). */
  started?: Int32Array;
}

/** A failure as plain data; `cause`: its cause's message and code (a corrupt blob's ERR_DIGEST_MISMATCH keeps the reader's error there); `restart`: a RestartLayer. */
export type ExtractResult =
  | { ok: ExtractedLayer }
  | {
      error: { message: string; code?: string; layer?: string; path?: string; syscall?: string; errno?: number; cause?: { message: string; code?: string }; restart?: boolean };
    };

export default async function extract(task: ExtractTask): Promise<ExtractResult> {
  if (task.started) Atomics.store(task.started, 0, 1);
  return extractWith(task, async () => (await import('./layer.js')).extractLayer);
}

/**
 * The extraction with the reader `load` gives: a worker loads layer.js
 * itself, the main thread passes the bundle's own (Pool.runHere), which it
 * has loaded already. Failures come back as plain data either way.
 */
export async function extractWith(task: ExtractTask, load: () => Promise<typeof import('./layer.js').extractLayer>): Promise<ExtractResult> {
  try {
    const extractLayer = await load();
    const { read, slot = 0 } = task;
    const onRead = read ? (bytes: number) => Atomics.store(read, slot, BigInt(bytes)) : undefined;
    const progress = read ? { read, slot } : undefined;
    return {
      ok: await extractLayer(task.tar, task.root, { cancel: task.cancel, onRead, progress, claims: task.claims, policy: task.policy, direct: task.direct, source: task.source }),
    };
  } catch (error) {
    const e = error as {
      name?: string;
      message: string;
      code?: string;
      layer?: string;
      path?: string;
      syscall?: string;
      errno?: number;
      cause?: { message?: unknown; code?: unknown };
    };
    const cause = typeof e.cause?.message === 'string' ? { message: e.cause.message, code: typeof e.cause.code === 'string' ? e.cause.code : undefined } : undefined;
    const restart = e.name === 'RestartLayer' ? true : undefined;
    return { error: { message: e.message, code: e.code, layer: e.layer, path: e.path, syscall: e.syscall, errno: e.errno, cause, restart } };
  }
}
