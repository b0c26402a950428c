// Piscina worker: the copy step. Each task is a batch; everything runs
// synchronously in the native helper on this thread, so the shared libuv
// threadpool (4 threads for the whole process) is never the bottleneck.
// Results go back as plain data; the main thread turns failures into errors.

import type { Posted, TaskResult } from '../src/copy/pool.js';
import { type CancelFlag, native, type Root } from '../src/core/native.cjs';

const under = (base: string, rel: string) => (base === '' ? rel : rel === '' ? base : `${base}/${rel}`);

/** Paths in results are relative to the roots again, as the main thread expects. */
function rebase<T extends TaskResult>(base: string, r: T): T {
  if (base === '') return r;
  if (r.failure) r.failure.rel = under(base, r.failure.rel ?? '');
  for (const link of r.links ?? []) link.rel = under(base, link.rel);
  for (const file of r.large ?? []) file.rel = under(base, file.rel);
  for (const c of Object.values(r.changes ?? {})) c.paths = c.paths.map((rel) => under(base, rel));
  for (const dir of r.later ?? []) dir.rel = under(base, dir.rel);
  return r;
}

/** Removes each packed rel recursively; stops at the first failure. */
function removeEntries(dst: Root, packed: string, cancel?: CancelFlag, forceWritable = false): TaskResult {
  const rels = packed.split('\0');
  let done = 0;
  for (let i = 0; i < rels.length - 1; i++) {
    const failure = native.removeEntry(dst, rels[i], forceWritable, cancel);
    if (failure) return { done, bytes: 0, failure };
    done++;
  }
  return { done, bytes: 0 };
}

/**
 * The step on a thread of libuv's pool, where the op has a native step
 * there (a copy); undefined otherwise. For the pool that never started:
 * its moves run beside the main thread's planning (src/copy/dispatch.ts).
 */
export function later(task: Posted): Promise<TaskResult> | undefined {
  if (task.op !== 'copy') return undefined;
  return native.copyEntriesLater(task.src, task.dst, task.base, task.rels, task.types, task.defer, task.cancel, task.policy, task.move).then((r) => rebase(task.base, r));
}

export default function run(task: Posted): TaskResult {
  // Started: from here on a failure of this worker is this task's (Pool.run never runs it again).
  if (task.started) Atomics.store(task.started, 0, 1);
  switch (task.op) {
    case 'copy':
      return rebase(task.base, native.copyEntries(task.src, task.dst, task.base, task.rels, task.types, task.defer, task.cancel, task.policy, task.move));
    case 'link':
      return { bytes: 0, ...native.linkEntries(task.dst, task.rels) };
    case 'remove':
      return removeEntries(task.dst, task.rels, task.cancel, task.forceWritable);
    case 'meta':
      return rebase(task.base, { bytes: 0, ...native.dirMeta(task.src, task.dst, task.base, task.rels, task.keepRootMode, task.cancel, task.policy) });
  }
}
