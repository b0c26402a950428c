// The order extractions go to the pool in (src/images/run.ts balance): the
// pool gives each new task to the worker with the fewest, so the order
// decides which layers share a worker. And layers the native helper pumps,
// extracted from the calling thread.
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { Pool } from '../../src/copy/pool.js';
import { pumpsHere } from '../../src/images/pumped.js';
import { balance, extractOnPool } from '../../src/images/run.js';
import { scratch } from '../helpers.js';
import { hexText, rawTar, sha } from './fixtures.js';

/** Which sizes each worker gets when the pool hands tasks round-robin to the worker with the fewest (first of equals), two each. */
function dealt(order: number[], workers: number): number[][] {
  const got: number[][] = Array.from({ length: workers }, () => []);
  for (const size of order.slice(0, 2 * workers)) got.reduce((a, b) => (b.length < a.length ? b : a)).push(size);
  return got;
}

describe('balance', () => {
  it('the overlapping image on two workers: the largest with the smallest, the two middle ones together', () => {
    const order = balance([96, 130, 82, 0.3], (n) => n, 2);
    expect(order).toEqual([130, 96, 0.3, 82]);
    expect(dealt(order, 2)).toEqual([
      [130, 0.3],
      [96, 82],
    ]);
  });

  it('more layers than two per worker: the rest follow largest first', () => {
    expect(balance([1, 2, 3, 4, 5, 6, 7], (n) => n, 2)).toEqual([7, 6, 4, 5, 3, 2, 1]);
  });

  it('a small layer goes first: its whiteouts reach the claims before the layers beneath write what they hide', () => {
    const MB = 1 << 20;
    const order = balance([93 * MB, 164 * MB, 305 * MB, 428 * MB, 534], (n) => n, 2);
    expect(order[0]).toBe(534);
    expect(dealt(order, 2)).toEqual([
      [534, 428 * MB],
      [305 * MB, 164 * MB],
    ]);
    expect(order.slice(4)).toEqual([93 * MB]);
  });

  it('fewer layers than workers, or one layer', () => {
    expect(balance([5, 9], (n) => n, 4)).toEqual([9, 5]);
    expect(balance([5], (n) => n, 2)).toEqual([5]);
    expect(balance([], (n: number) => n, 2)).toEqual([]);
  });
});

describe('layers the native helper pumps (src/images/pumped.ts)', () => {
  // Not where zlib is the inflater (LAYERCOPY_INFLATE=zlib: CI's second run of these tests).
  const pumping = pumpsHere();
  const threads = () => fs.readdirSync('/proc/self/task').filter((t) => comm(t) === 'layercopy-pump').length;

  // Big enough that the threads run for a while: the sampler below (setImmediate on a busy machine) missed 2 MiB ones.
  const LAYER_BYTES = 12 << 20;
  /** n gzip layers of one LAYER_BYTES file each, and a directory fd for each. */
  function layers(n: number) {
    const dir = scratch();
    return Array.from({ length: n }, (_, i) => {
      const tar = rawTar([{ name: `f${i}`, data: hexText(LAYER_BYTES, i + 1) }]);
      const blob = zlib.gzipSync(tar);
      const file = path.join(dir, `l${i}.gz`);
      fs.writeFileSync(file, blob);
      const out = path.join(dir, `out${i}`);
      fs.mkdirSync(out);
      const root = fs.openSync(out, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
      return { tar: { file, label: `l${i}`, digest: sha(blob), size: blob.length, diffId: sha(tar) }, root, layerIndex: i, out };
    });
  }

  /** Extracts the layers on a pool of one worker; the most pump threads seen at once, and whether the pool started. */
  async function extract(n: number) {
    const jobs = layers(n);
    const pool = new Pool(1);
    let most = 0;
    let running = true;
    const poll = () => {
      most = Math.max(most, threads());
      if (running) setImmediate(poll);
    };
    setImmediate(poll);
    try {
      await extractOnPool(pool, jobs, { cancel: new Int32Array(new SharedArrayBuffer(4)), layers: n });
      for (const job of jobs) expect(fs.readFileSync(path.join(job.out, `f${job.layerIndex}`)).equals(hexText(LAYER_BYTES, job.layerIndex + 1))).toBe(true);
      return { most, started: pool.started };
    } finally {
      running = false;
      for (const job of jobs) fs.closeSync(job.root);
      await pool.close();
    }
  }

  it.runIf(pumping)('are extracted from this thread: the pool never starts', async () => {
    const { most, started } = await extract(2);
    expect(started).toBe(false);
    expect(most).toBeGreaterThan(0);
  });

  it.runIf(pumping)('at most as many at once as the pool would run (two per worker)', async () => {
    const { most } = await extract(5);
    expect(most).toBe(2);
  });

  it.runIf(pumping)('a layer that fails is told once the others stopped: no thread of theirs still writes when the caller removes their directories', async () => {
    const jobs = layers(3);
    const big = rawTar([{ name: 'big', data: hexText(32 << 20, 9) }]);
    const blob = zlib.gzipSync(big);
    fs.writeFileSync(jobs[2].tar.file, blob);
    Object.assign(jobs[2].tar, { digest: sha(blob), size: blob.length, diffId: sha(big) });
    // The smallest layer's blob is not its descriptor's: it fails at its end, while the big one extracts.
    fs.appendFileSync(jobs[0].tar.file, Buffer.alloc(1));
    const pool = new Pool(1);
    try {
      const failed = await extractOnPool(pool, jobs, { cancel: new Int32Array(new SharedArrayBuffer(4)), layers: 3 }).catch((e) => e);
      expect(failed).toMatchObject({ code: 'ERR_DIGEST_MISMATCH', layer: 'l0' });
      expect(threads()).toBe(0);
    } finally {
      for (const job of jobs) fs.closeSync(job.root);
      await pool.close();
    }
  });

  it('go to the pool with LAYERCOPY_PUMP_HERE=0', async () => {
    process.env.LAYERCOPY_PUMP_HERE = '0';
    try {
      expect((await extract(2)).started).toBe(true);
    } finally {
      delete process.env.LAYERCOPY_PUMP_HERE;
    }
  });
});

/** A thread's name ('' for one that ended since it was listed). */
function comm(tid: string): string {
  try {
    return fs.readFileSync(`/proc/self/task/${tid}/comm`, 'utf8').trim();
  } catch {
    return '';
  }
}
