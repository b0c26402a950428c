// Differential test: a generated multi-layer image provisioned by layercopy
// and by the seed's method (cp -aT per layer, its whiteout handling) must be
// identical entry by entry.
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { provision } from '../src/index.js';
import { seedProvision } from './fixtures/seed.js';
import { buildLayer, diffSnapshots, generateImage, scratch, snapshot } from './helpers.js';

describe('differential: layercopy vs the seed (cp -aT per layer)', () => {
  it.each([1, 2, 3])('seed %i: identical entry by entry', async (seed) => {
    const dir = scratch();
    const layers = generateImage(seed).map((spec, i) => buildLayer(path.join(dir, `l${i}`), spec));
    const ours = path.join(dir, 'ours');
    const theirs = path.join(dir, 'seed');
    await provision(layers, ours, { batchSize: 7 });
    await seedProvision(layers, theirs, { restoreDirTimes: true });
    const a = snapshot(ours);
    const b = snapshot(theirs);
    expect(a.size).toBeGreaterThan(60);
    expect(diffSnapshots(a, b)).toEqual([]);
  });
});
