import { distFile } from '../core/compiled.js';
import type { CancelFlag, NativeFailure } from '../core/native.cjs';

const WORKER = distFile('workers/remove.cjs');

/**
 * Removes rel (beneath the directory fd root) on a worker thread of its own:
 * rm -rf --one-file-system, never following a symlink, at any depth. The
 * event loop stays free, so a second Ctrl-C is handled at once.
 */
export async function removeInWorker(root: number, rel: string, forceWritable: boolean, cancel?: CancelFlag): Promise<NativeFailure | null> {
  // Loaded here, not at startup: a provision that succeeds never removes anything.
  const { Worker } = await import('node:worker_threads');
  return new Promise((resolve, reject) => {
    const worker = new Worker(WORKER, { workerData: { root, rel, forceWritable, cancel } });
    let result: NativeFailure | null | undefined;
    worker.once('message', (r: NativeFailure | null) => {
      result = r;
    });
    worker.once('error', reject);
    worker.once('exit', (code) => {
      if (result !== undefined) resolve(result);
      else reject(new Error(`removal worker exited with code ${code}`));
    });
  });
}
