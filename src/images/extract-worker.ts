// A thread of its own for extracting tarball layers (src/images/run.ts): tar
// parsing, hashing and the native writes of one layer run here, several
// layers at once on several threads, while zlib inflates on libuv's. Layers
// come as messages, one at a time; results and failures go back as plain
// data and become errors again on the main thread.
import { parentPort } from 'node:worker_threads';
import { LayercopyError } from '../core/errors.js';
import { extractLayerFile, type TarLayer } from './layer.js';

export type ExtractRequest = { tar: TarLayer; root: number } | { done: true };
export type ExtractReply =
  | { ok: { entries: number; bytes: number; compressedBytes: number } }
  | { error: { message: string; code?: string; layer?: string; path?: string; syscall?: string; errno?: number } };

parentPort!.on('message', async (request: ExtractRequest) => {
  if ('done' in request) {
    parentPort!.close();
    return;
  }
  let reply: ExtractReply;
  try {
    reply = { ok: await extractLayerFile(request.tar, request.root) };
  } catch (error) {
    const e = error as LayercopyError;
    reply = { error: { message: e.message, code: e instanceof LayercopyError ? e.code : undefined, layer: e.layer, path: e.path, syscall: e.syscall, errno: e.errno } };
  }
  parentPort!.postMessage(reply);
});
