// Load: many concurrent provisions on one shared pool, and concurrent CLI
// processes; every rootfs must equal a sequential run (docs/reliability.md).
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { CopyBackend } from '../src/index.js';
import { buildLayer, diffSnapshots, generateImage, scratch, snapshot } from './helpers.js';

const cli = fileURLToPath(new URL('../dist/src/cli.js', import.meta.url));

describe('load', () => {
  it('16 concurrent provisions through one CopyBackend equal a sequential run', async () => {
    const dir = scratch();
    const layers = generateImage(7).map((spec, i) => buildLayer(path.join(dir, `l${i}`), spec));
    const backend = new CopyBackend({ concurrency: 2 });
    try {
      await backend.provision(layers, path.join(dir, 'sequential'), { batchSize: 8 });
      const reference = snapshot(path.join(dir, 'sequential'));
      const rssBefore = process.resourceUsage().maxRSS;
      const summaries = await Promise.all(Array.from({ length: 16 }, (_, i) => backend.provision(layers, path.join(dir, `c${i}`), { batchSize: 8 })));
      const rssAfter = process.resourceUsage().maxRSS;
      console.log(
        `16 concurrent provisions: ${summaries[0].entries} entries each, peak RSS of the test process ${(rssAfter / 1024).toFixed(0)} MB (was ${(rssBefore / 1024).toFixed(0)} MB)`,
      );
      for (let i = 0; i < 16; i++) expect(diffSnapshots(reference, snapshot(path.join(dir, `c${i}`)))).toEqual([]);
    } finally {
      await backend.close();
    }
  });

  it('8 concurrent CLI processes equal a sequential run', async () => {
    const dir = scratch();
    const layers = generateImage(8).map((spec, i) => buildLayer(path.join(dir, `l${i}`), spec));
    await execa('node', [cli, 'provision', '--quiet', ...layers, path.join(dir, 'sequential')]);
    const reference = snapshot(path.join(dir, 'sequential'));
    const runs = await Promise.all(
      Array.from({ length: 8 }, (_, i) => execa('node', [cli, 'provision', '--json', '--concurrency', '2', ...layers, path.join(dir, `p${i}`)], { reject: false })),
    );
    for (let i = 0; i < 8; i++) {
      expect(runs[i].exitCode, runs[i].stderr).toBe(0);
      expect(diffSnapshots(reference, snapshot(path.join(dir, `p${i}`)))).toEqual([]);
    }
  });
});
