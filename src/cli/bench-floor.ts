// The decompression floor of `layercopy bench` on images: every layer
// decompressed with the libraries layercopy uses (zlib, gzip inflated raw
// without its CRC as layercopy does where a diff_id covers the tar; zstd as
// src/images/decompress.ts picks it), writing nothing, each the fastest way: gzip
// all at once on this thread (zlib inflates on libuv's threads); zstd
// through libzstd or fzstd, which decode on the thread that calls them, on
// as many worker threads as layercopy's pool has by default, two layers at
// once on each, placed as its pool places them (on one thread
// the zstd floor was a serial one: 1.29 s against 0.86-1.0 s; workers made
// the gzip floor slower, 1.56-1.79 s against 1.37-1.43 s). argv[2]: JSON
// TarLayer[]; argv[3] "verify": also each digest layercopy checks, by the
// same code (openLayer: the blob's size and sha256, the tar's diff_id): the
// floor of a verified extraction, where no cc builds its C program
// (native/baseline/verified_floor.c, which the bench times where it can).
// gzip goes through the inflater layercopy picks (ISA-L, else zlib;
// LAYERCOPY_INFLATE=zlib forces zlib).
import fs from 'node:fs';
import os from 'node:os';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import zlib from 'node:zlib';
import { GzipFallback, readHead, sniffCompression } from '../images/decompress.js';
import { openLayer, type TarLayer } from '../images/layer.js';
import { balance } from '../images/run.js';

const verify = process.argv[3] === 'verify' || (!isMainThread && workerData === 'verify');

async function inflate(layer: TarLayer, gunzip?: 'checked'): Promise<void> {
  const opened = openLayer(layer, { digests: verify, gunzip });
  try {
    for await (const chunk of opened.tar) opened.onTar?.(chunk);
  } catch (error) {
    // As the extraction does: a gzip that is not one plain member is read again through zlib's gunzip.
    opened.input.destroy();
    if (error instanceof GzipFallback && !gunzip) return inflate(layer, 'checked');
    throw error;
  }
  if (verify) await opened.verify();
}

const size = (layer: TarLayer) => layer.size ?? fs.statSync(layer.file).size;

const ownZstd = typeof (zlib as unknown as { createZstdDecompress?: unknown }).createZstdDecompress === 'function';
const isZstd = (layer: TarLayer) => sniffCompression(readHead(layer.file, layer.start)) === 'zstd';
const layers: TarLayer[] = isMainThread ? JSON.parse(process.argv[2]) : [];

if (isMainThread && (ownZstd || !layers.some(isZstd))) {
  await Promise.all(layers.map((layer) => inflate(layer)));
} else if (isMainThread) {
  const threads = Math.max(1, Math.min(os.availableParallelism(), Math.ceil(layers.length / 2)));
  // Placed as layercopy's pool places its extractions (balance, then each to
  // the worker with the fewest running, two at most): handed out largest
  // first from one queue, the two largest layers went to one thread, and
  // the verified zstd floor took longer than layercopy (2.25 against
  // 2.00 s) — no floor.
  const order = balance(layers, size, threads);
  const workers = Array.from({ length: threads }, () => ({ thread: new Worker(new URL(import.meta.url), { workerData: verify ? 'verify' : undefined }), running: 0 }));
  await new Promise<void>((resolve, reject) => {
    let next = 0;
    let done = 0;
    const dispatch = () => {
      for (;;) {
        const free = workers.filter((w) => w.running < 2);
        if (next >= order.length || free.length === 0) return;
        const w = free.reduce((a, b) => (b.running < a.running ? b : a));
        w.running++;
        w.thread.postMessage(order[next++]);
      }
    };
    for (const w of workers) {
      w.thread.on('message', () => {
        w.running--;
        if (++done === order.length) resolve();
        else dispatch();
      });
      w.thread.once('error', reject);
    }
    if (order.length === 0) resolve();
    dispatch();
  });
  await Promise.all(workers.map((w) => w.thread.terminate()));
} else {
  parentPort!.on('message', async (layer: TarLayer) => {
    await inflate(layer);
    parentPort!.postMessage(null);
  });
}
