import fs from 'node:fs';
import { distFile } from '../core/compiled.js';
import { abortError, type LayercopyCode, LayercopyError } from '../core/errors.js';
import type { ExtractReply } from './extract-worker.js';
import type { TarLayer } from './layer.js';

const WORKER = distFile('src/images/extract-worker.js');

/**
 * Extracts tarball layers, largest first, on up to twice `threads` worker
 * threads at once (each extraction keeps a worker and a libuv thread half
 * busy: gzip inflates on one, tar parses and writes on the other; figures
 * in docs/benchmarks.md, "Images"), each into the directory fd given with
 * it. Resolves when all are written and verified; rejects with the first
 * failure (the others are stopped).
 */
export async function extractOnThreads(jobs: { tar: TarLayer; root: number }[], threads: number, signal?: AbortSignal): Promise<void> {
  if (jobs.length === 0) return;
  const { Worker } = await import('node:worker_threads');
  // Largest first: a big layer started last would run alone at the end.
  const queue = [...jobs].sort((a, b) => size(b.tar) - size(a.tar));
  const workers: InstanceType<typeof Worker>[] = [];
  const stopAll = () => {
    for (const w of workers) void w.terminate();
  };
  signal?.addEventListener('abort', stopAll, { once: true });
  try {
    await Promise.all(
      Array.from({ length: Math.max(1, Math.min(2 * threads, jobs.length)) }, async () => {
        const worker = new Worker(WORKER);
        workers.push(worker);
        try {
          for (let job = queue.shift(); job; job = queue.shift()) {
            if (signal?.aborted) throw abortError(signal.reason);
            const reply = await new Promise<ExtractReply>((resolve, reject) => {
              const settle = (done: () => void) => {
                worker.off('message', onMessage);
                worker.off('error', onError);
                worker.off('exit', onExit);
                done();
              };
              const onMessage = (r: ExtractReply) => settle(() => resolve(r));
              const onError = (error: Error) => settle(() => reject(error));
              const onExit = (code: number) => settle(() => reject(signal?.aborted ? abortError(signal.reason) : new Error(`extraction thread exited with code ${code}`)));
              worker.on('message', onMessage);
              worker.on('error', onError);
              worker.on('exit', onExit);
              worker.postMessage(job);
            });
            if ('error' in reply) {
              const e = reply.error;
              throw new LayercopyError(e.message, { code: (e.code as LayercopyCode) ?? 'ERR_INVALID_TAR', layer: e.layer, path: e.path, syscall: e.syscall, errno: e.errno });
            }
          }
        } finally {
          worker.postMessage({ done: true });
        }
      }),
    );
  } catch (error) {
    stopAll();
    throw error;
  } finally {
    signal?.removeEventListener('abort', stopAll);
  }
}

function size(tar: TarLayer): number {
  if (tar.size !== undefined) return tar.size;
  try {
    return fs.statSync(tar.file).size;
  } catch {
    return 0;
  }
}
