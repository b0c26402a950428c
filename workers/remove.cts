// One removal on a thread of its own (destroy; cleanup when no pool is at
// hand): removing 300k entries on the main thread stalled timers and signal
// handlers for 1.7 s. The fd in workerData is the main thread's (threads
// share the fd table).
import { parentPort, workerData } from 'node:worker_threads';
import { native } from '../src/core/native.cjs';

const { root, rel, forceWritable, cancel } = workerData as { root: number; rel: string; forceWritable: boolean; cancel?: Int32Array };
parentPort!.postMessage(native.removeEntry(root, rel, forceWritable, cancel));
