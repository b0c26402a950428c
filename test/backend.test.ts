import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { CopyBackend, provision } from '../src/index.js';
import { buildLayer, diffSnapshots, exists, scratch, snapshot } from './helpers.js';

describe('CopyBackend', () => {
  it('runs concurrent provisions on one shared pool, each identical to a sequential run', async () => {
    const dir = scratch();
    const files = Object.fromEntries(Array.from({ length: 60 }, (_, i) => [`d${i % 6}/f${i}`, `${i}`]));
    const l1 = buildLayer(path.join(dir, 'l1'), files);
    const l2 = buildLayer(path.join(dir, 'l2'), { 'd0/.wh.f0': '', 'd1/.wh..wh..opq': '', 'd1/new': 'n', d2: 'file now' });
    const backend = new CopyBackend({ concurrency: 2 });
    try {
      await backend.provision([l1, l2], path.join(dir, 'ref'), { batchSize: 5 });
      const ref = snapshot(path.join(dir, 'ref'));
      await Promise.all(Array.from({ length: 6 }, (_, i) => backend.provision([l1, l2], path.join(dir, `r${i}`), { batchSize: 5 })));
      for (let i = 0; i < 6; i++) expect(diffSnapshots(ref, snapshot(path.join(dir, `r${i}`)))).toEqual([]);
    } finally {
      await backend.close();
    }
  });

  it('validates its options at construction', () => {
    expect(() => new CopyBackend({ concurrency: -1 })).toThrow('options.concurrency must be a positive integer');
  });

  it('provision() with options that are no object: ERR_INVALID_OPTION naming them (was a TypeError reading their concurrency)', async () => {
    const dir = scratch();
    const l1 = buildLayer(path.join(dir, 'l1'), { a: 'a' });
    await expect(provision([l1], path.join(dir, 'root'), null as never)).rejects.toMatchObject({ code: 'ERR_INVALID_OPTION', message: 'options must be an object' });
    expect(exists(path.join(dir, 'root'))).toBe(false);
  });

  it('rejects provisions after close()', async () => {
    const dir = scratch();
    const l1 = buildLayer(path.join(dir, 'l1'), { a: 'a' });
    const backend = new CopyBackend({ concurrency: 1 });
    await backend.close();
    await expect(backend.provision([l1], path.join(dir, 'root'))).rejects.toMatchObject({ code: 'ERR_INVALID_STATE' });
    expect(exists(path.join(dir, 'root'))).toBe(false);
  });

  it('close() waits for provisions in flight', async () => {
    const dir = scratch();
    const l1 = buildLayer(path.join(dir, 'l1'), Object.fromEntries(Array.from({ length: 30 }, (_, i) => [`f${i}`, 'x'])));
    const backend = new CopyBackend({ concurrency: 1 });
    const running = backend.provision([l1], path.join(dir, 'root'), { batchSize: 1 });
    await backend.close();
    await expect(running).resolves.toMatchObject({ entries: 30 });
  });
});
