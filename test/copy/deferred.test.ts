// Hardlink groups handed back by the workers (src/copy/deferred.ts): each
// name kept packed, every one linked to its group's first, names as bytes.
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { Deferred } from '../../src/copy/deferred.js';
import { provision } from '../../src/index.js';
import { scratch } from '../helpers.js';

const link = (rel: string, ino: number) => ({ rel, dev: 1n, ino: BigInt(ino), type: 'f', size: 0 });

describe('hardlink groups', () => {
  it('pairs every later name with its group first, per layer, in chunks of the size asked, names byte for byte', () => {
    const d = new Deferred();
    // Names past the first buffer's 256 bytes, one not UTF-8 (a latin1 string: one byte a character).
    const names = Array.from({ length: 300 }, (_, i) => `dir/${i === 7 ? 'caf\xe9\xff' : ''}name-${i}`);
    expect(d.addLink(0, link(names[0], 10))).toBe(true);
    for (const name of names.slice(1)) expect(d.addLink(0, link(name, 10))).toBe(false);
    expect(d.addLink(1, link('other/first', 10))).toBe(true);
    expect(d.addLink(1, link('other/second', 10))).toBe(false);
    const chunks = [...d.pairs(64)];
    expect(chunks.map((c) => c.layers.length)).toEqual([64, 64, 64, 64, 44]);
    const rels = chunks.flatMap((c) => c.rels);
    const layers = chunks.flatMap((c) => c.layers);
    const expected = [...names.slice(1).flatMap((n) => [names[0], n]), 'other/first', 'other/second'];
    expect(rels).toEqual(expected);
    expect(layers).toEqual([...names.slice(1).map(() => 0), 1]);
    expect(d.size).toBe(2);
  });

  it('a group of more names than one 1 MiB buffer holds: every name once, in order', () => {
    const d = new Deferred();
    const name = (i: number) => `d${i % 100}/hardlink-number-${i}`;
    const n = 150_000;
    for (let i = 0; i < n; i++) d.addLink(0, link(name(i), 5));
    let seen = 0;
    for (const chunk of d.pairs(1000)) {
      for (let j = 0; j < chunk.layers.length; j++) {
        seen++;
        expect(chunk.rels[2 * j]).toBe(name(0));
        if (chunk.rels[2 * j + 1] !== name(seen)) expect(chunk.rels[2 * j + 1]).toBe(name(seen));
      }
    }
    expect(seen).toBe(n - 1);
  });

  it('a group of 600 names with bytes that are not UTF-8: one inode in the rootfs', async () => {
    const dir = scratch();
    const layer = path.join(dir, 'layer');
    fs.mkdirSync(layer);
    const first = path.join(layer, 'first');
    fs.writeFileSync(first, 'shared');
    const names = Array.from({ length: 600 }, (_, i) => Buffer.concat([Buffer.from(`n${i}-`), Buffer.from([0xe9, 0xff])]));
    for (const name of names) fs.linkSync(first, Buffer.concat([Buffer.from(`${layer}/`), name]));
    await provision([layer], path.join(dir, 'root'), { batchSize: 64 });
    const ino = fs.lstatSync(path.join(dir, 'root', 'first')).ino;
    const root = Buffer.from(`${path.join(dir, 'root')}/`);
    for (const name of names) expect(fs.lstatSync(Buffer.concat([root, name])).ino).toBe(ino);
    expect(fs.lstatSync(path.join(dir, 'root', 'first')).nlink).toBe(601);
  });
});
