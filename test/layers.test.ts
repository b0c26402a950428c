// The scratch extractions' removal once the rootfs is committed
// (src/layers.ts, cleanup): where the pool never started, each layer's is
// removed on a thread of libuv's pool, all at once.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { Pool } from '../src/copy/pool.js';
import { pumpsHere } from '../src/images/pumped.js';
import { provisionWith } from '../src/provision.js';
import { scratch } from './helpers.js';
import { ociImage, type RawEntry, rawTar } from './images/fixtures.js';

const pool = new Pool(2);
afterAll(() => pool.close());

/** Layer `i`: its own tree of 40 files, a read-only directory with files in it, and `shared` (each layer's replaces the one below: the lower ones' data is hidden). */
function layer(i: number): Buffer {
  const entries: RawEntry[] = [{ name: `l${i}/`, type: '5', mode: 0o755 }];
  for (let d = 0; d < 4; d++) {
    entries.push({ name: `l${i}/d${d}/`, type: '5', mode: 0o755 });
    for (let f = 0; f < 10; f++) entries.push({ name: `l${i}/d${d}/f${f}`, data: `${i}.${d}.${f}` });
  }
  entries.push({ name: `ro${i}/`, type: '5', mode: 0o555 }, { name: `ro${i}/x`, data: 'x', mode: 0o444 });
  entries.push({ name: 'shared', data: `layer ${i} `.repeat(1000) });
  return rawTar(entries);
}

it.runIf(pumpsHere())('gzip layers pumped with no pool started: every scratch extraction removed, read-only directories too; nothing beside the rootfs [needs ISA-L]', async () => {
  const dir = scratch();
  const layout = ociImage(path.join(dir, 'img'), { layers: [0, 1, 2].map(layer), compression: 'gzip' });
  const rootfs = path.join(dir, 'root');
  const summary = await provisionWith(pool, [`oci:${layout}:latest`], rootfs);
  expect(pool.started).toBe(false);
  expect(summary.entries).toBe(3 * (1 + 4 + 40 + 2) + 1);
  expect(fs.readdirSync(dir).sort()).toEqual(['img', 'root']);
  expect(fs.readFileSync(path.join(rootfs, 'shared'), 'utf8')).toBe('layer 2 '.repeat(1000));
  expect(fs.readFileSync(path.join(rootfs, 'l0', 'd3', 'f9'), 'utf8')).toBe('0.3.9');
  expect(fs.lstatSync(path.join(rootfs, 'ro1')).mode & 0o7777).toBe(0o555);
  expect(fs.lstatSync(path.join(rootfs, 'ro1', 'x')).nlink).toBe(1);
});
