// The summary's phases are disjoint and add up to the wall time; each
// layer's line carries real numbers or none.
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Timings } from '../../src/core/stopwatch.js';
import { provision } from '../../src/index.js';
import { buildLayer, scratch } from '../helpers.js';
import { ociImage, rawTar } from '../images/fixtures.js';

const PHASES = ['resolveMs', 'extractMs', 'walkMs', 'copyMs', 'finishMs', 'commitMs', 'cleanupMs'] as const;

function addsUp(t: Timings): void {
  const sum = PHASES.reduce((a, k) => a + t[k], 0);
  for (const k of PHASES) expect(t[k]).toBeGreaterThanOrEqual(0);
  expect(Math.abs(t.totalMs - sum)).toBeLessThanOrEqual(Math.max(20, 0.02 * t.totalMs));
}

describe('timings', () => {
  it.each(['merged', 'layered'] as const)('%s, directory layers: the phases add up to the total; applyMs per layer only where layers are applied one by one', async (strategy) => {
    const dir = scratch();
    const l1 = buildLayer(path.join(dir, 'l1'), { 'a/1': '1', 'a/2': { link: 'a/1' } });
    const l2 = buildLayer(path.join(dir, 'l2'), { 'b/1': '2' });
    const summary = await provision([l1, l2], path.join(dir, 'root'), { strategy });
    addsUp(summary.timings);
    expect(summary.timings.extractMs).toBe(0);
    expect(summary.timings.walkMs).toBeGreaterThan(0);
    for (const layer of summary.perLayer) {
      expect(layer.extractMs).toBeUndefined();
      if (strategy === 'layered') expect(layer.applyMs).toBeGreaterThan(0);
      else expect(layer).not.toHaveProperty('applyMs');
    }
  });

  it('an image: extraction is a phase of its own, and each layer its extraction time, the argument as given and its full digests', async () => {
    const dir = scratch();
    const layout = ociImage(path.join(dir, 'img'), { layers: [rawTar([{ name: 'a', data: 'a' }]), rawTar([{ name: 'b', data: 'b' }])] });
    const given = `oci:${layout}:latest`;
    const summary = await provision([given], path.join(dir, 'root'));
    addsUp(summary.timings);
    expect(summary.timings.extractMs).toBeGreaterThan(0);
    expect(summary.perLayer).toHaveLength(2);
    for (const layer of summary.perLayer) {
      expect(layer).toMatchObject({ layer: given, digest: expect.stringMatching(/^sha256:[0-9a-f]{64}$/), diffId: expect.stringMatching(/^sha256:[0-9a-f]{64}$/) });
      expect(layer.extractMs).toBeGreaterThan(0);
      expect(layer.extractMs).toBeLessThanOrEqual(summary.timings.extractMs);
    }
  });
});
