import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { BATCH_GROWTH, GROW_AFTER_ENTRIES, nextBatchSize } from '../../src/copy/batcher.js';
import { provision } from '../../src/index.js';
import { buildLayer, diffSnapshots, scratch, snapshot } from '../helpers.js';

describe('nextBatchSize', () => {
  it('keeps the base size until the provision has batched GROW_AFTER_ENTRIES entries, whatever the queue', () => {
    expect(nextBatchSize(256, 256, GROW_AFTER_ENTRIES - 1, true)).toBe(256);
  });

  it('then doubles while the workers are behind, up to BATCH_GROWTH times the base', () => {
    const sizes = [256];
    for (let i = 0; i < 4; i++) sizes.push(nextBatchSize(sizes[i], 256, GROW_AFTER_ENTRIES, true));
    sizes.shift();
    expect(sizes).toEqual([512, 1024, 256 * BATCH_GROWTH, 256 * BATCH_GROWTH]);
  });

  it('and halves back, not below the base, when the queue had room', () => {
    expect([nextBatchSize(1024, 256, GROW_AFTER_ENTRIES, false), nextBatchSize(256, 256, GROW_AFTER_ENTRIES, false)]).toEqual([512, 256]);
  });
});

describe("batchSize 'auto'", () => {
  it('a tree past the growth threshold is copied exactly, batches grown or not', async () => {
    const dir = scratch();
    const spec: Record<string, string> = {};
    const n = GROW_AFTER_ENTRIES + 4_000;
    for (let i = 0; i < n; i++) spec[`d${i % 97}/e${i % 13}/f${i}`] = '';
    const layer = buildLayer(path.join(dir, 'l'), spec);
    const summary = await provision([layer], path.join(dir, 'root'), { batchSize: 'auto' });
    expect(summary.entries).toBe(n + 97 + 97 * 13);
    expect(diffSnapshots(snapshot(layer), snapshot(path.join(dir, 'root')))).toEqual([]);
  });
});

describe('Batcher.flushIfStale', () => {
  it("a layer's batch that stopped filling goes to the pool once other batches took a batch's worth, not at the end of the walk", async () => {
    const dir = scratch();
    const n = 1500;
    const spec: Record<string, string> = {};
    for (let i = 0; i < n; i++) spec[`b${i % 100}/f${i}`] = '';
    const l0 = buildLayer(path.join(dir, 'l0'), spec);
    // The higher layer's names are walked first: its one entry waits in its own batch.
    const l1 = buildLayer(path.join(dir, 'l1'), { 'a/x': 'x' });
    const seen: number[] = [];
    await provision([l0, l1], path.join(dir, 'root'), {
      batchSize: 4,
      concurrency: 1,
      onProgress: (e) => {
        if (e.phase === 'copy' && e.layerIndex === 1) seen.push(e.entries);
      },
    });
    // Submitted at the end of the walk, it came after nearly every entry of l0 (the queue holds 8 batches of 4).
    expect(seen.length).toBeGreaterThan(0);
    expect(seen[0]).toBeLessThan(n - 300);
  });
});
