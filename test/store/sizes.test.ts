// Sizes as people read them (podman's images, du -h): a small image is
// "10.1 kB", not "0.0 MB"; and "1 layer", not "1 layers".
import path from 'node:path';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { humanSize } from '../../src/cli/store.js';
import { testImage } from '../fixtures/registry.js';
import { scratch } from '../helpers.js';
import { cli } from '../registry/pull-helpers.js';

const run = (args: string[]) => execa('node', [cli, ...args], { reject: false });

describe('store sizes', () => {
  it('humanSize: decimal units, 3 significant digits, no trailing zeros', () => {
    expect([0, 1, 999, 1000, 10_104, 999_499, 999_700, 1_500_000, 812_400_000, 2_040_000_000, 3.2e12].map(humanSize)).toEqual([
      '0 B',
      '1 B',
      '999 B',
      '1 kB',
      '10.1 kB',
      '999 kB',
      '1 MB',
      '1.5 MB',
      '812 MB',
      '2.04 GB',
      '3.2 TB',
    ]);
  });

  it('images and prune of a small one-layer image: kB, and "1 layer"', async () => {
    const dir = scratch();
    const image = testImage(path.join(dir, 'img'), { layers: 1, sizeMb: 0.01, seed: 93 });
    const store = path.join(dir, 'store');
    expect((await run(['pull', '--store', store, image])).exitCode).toBe(0);
    const [size] = JSON.parse((await run(['images', '--json', '--store', store])).stdout).map((i: { size: number }) => i.size);
    expect(size).toBeLessThan(100_000);
    const list = await run(['images', '--store', store]);
    const shown = list.stdout.split('\n')[1].split('\t')[3];
    expect(shown).toMatch(/^\d+(\.\d+)? kB$/);
    expect(Math.abs(Number.parseFloat(shown) * 1000 - size)).toBeLessThan(size / 100);
    expect((await run(['rmi', '--store', store, image])).exitCode).toBe(0);
    const pruned = await run(['prune', '--store', store]);
    expect([pruned.exitCode, pruned.stdout]).toEqual([0, expect.stringMatching(/^freed \d+(\.\d+)? kB: 3 blobs, 1 layer removed$/)]);
  });
});
