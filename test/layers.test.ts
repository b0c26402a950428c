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

/** A layer of `dirs` directories of three files each, one of them read-only, under `top`. */
function wide(top: string, dirs: number, tag: string): Buffer {
  const entries: RawEntry[] = [{ name: `${top}/`, type: '5', mode: 0o755 }];
  for (let d = 0; d < dirs; d++) {
    entries.push({ name: `${top}/d${d}/`, type: '5', mode: d === 7 ? 0o555 : 0o755 });
    for (let f = 0; f < 3; f++) entries.push({ name: `${top}/d${d}/f${f}`, data: `${tag}.${d}.${f}` });
  }
  entries.push({ name: 'top-file', data: tag });
  return rawTar(entries);
}

it('scratch extractions of more directories than the removal has pieces: split, every piece removed, the rootfs whole', async () => {
  const dir = scratch();
  // Both layers under the same directory, so the upper one's extraction goes through scratch and so does the lower one's hidden file.
  const layout = ociImage(path.join(dir, 'img'), { layers: [wide('usr', 90, 'a'), wide('usr', 50, 'b')], compression: 'gzip' });
  const rootfs = path.join(dir, 'root');
  await provisionWith(pool, [`oci:${layout}:latest`], rootfs);
  expect(fs.readdirSync(dir).sort()).toEqual(['img', 'root']);
  expect(fs.readdirSync(path.join(rootfs, 'usr')).length).toBe(90);
  expect(fs.readFileSync(path.join(rootfs, 'usr', 'd49', 'f2'), 'utf8')).toBe('b.49.2');
  expect(fs.readFileSync(path.join(rootfs, 'usr', 'd89', 'f0'), 'utf8')).toBe('a.89.0');
  expect(fs.readFileSync(path.join(rootfs, 'top-file'), 'utf8')).toBe('b');
  expect(fs.lstatSync(path.join(rootfs, 'usr', 'd7')).mode & 0o7777).toBe(0o555);
  expect(fs.lstatSync(path.join(rootfs, 'usr', 'd7', 'f1')).nlink).toBe(1);
});
