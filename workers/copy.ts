// Piscina worker: the copy step. Each task is a batch; everything runs
// synchronously in the native helper on this thread, so the shared libuv
// threadpool (4 threads for the whole process) is never the bottleneck.
// Results go back as plain data; the main thread turns failures into errors.
import { native } from '../src/native.js';
import type { Task, TaskResult } from '../src/pool.js';

export default function run(task: Task): TaskResult {
  switch (task.op) {
    case 'copy':
      return native.copyEntries(task.src, task.dst, task.rels, task.types, task.deferLinks);
    case 'link':
      return { bytes: 0, deferred: [], ...native.linkEntries(task.dst, task.rels) };
    case 'meta':
      return { bytes: 0, deferred: [], ...native.dirMeta(task.src, task.dst, task.rels, task.keepRootMode) };
    case 'crash':
      // Test hook for the fault tests: a worker that throws mid-batch.
      throw new Error('worker crashed on purpose');
  }
}
