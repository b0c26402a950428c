// Hardlink groups handed back by the workers (src/copy/deferred.ts): each
// name kept packed, every one linked to its group's first, names as bytes.
// A link that fails is made to fail on a tmpfs with one inode too few (a
// hardlink takes one there): needs root to mount it, skipped elsewhere.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { Deferred } from '../../src/copy/deferred.js';
import { Pool } from '../../src/copy/pool.js';
import { provision } from '../../src/index.js';
import { provisionWith } from '../../src/provision.js';
import { isRoot, scratch } from '../helpers.js';

const link = (rel: string, ino: number, nlink = 1e9) => ({ rel, dev: 1n, ino: BigInt(ino), type: 'f', size: 0, nlink });

/** The slot of the group of inode `ino` (device 1) in `layer`. */
const slot = (d: Deferred, layer: number, ino: number) => d.key(layer, link('', ino));

/** Every pair ready in layer `layer` once the groups of `keys` are copied, in chunks of `size`. */
function linked(d: Deferred, layer: number, keys: number[], size: number): string[][] {
  d.copied(keys);
  return d.takeReady(layer, size, true);
}

describe('hardlink groups', () => {
  it('pairs every later name with its group first, per layer, in chunks of the size asked, names byte for byte', () => {
    const d = new Deferred();
    // Names past the first buffer's 256 bytes, one not UTF-8 (a latin1 string: one byte a character).
    const names = Array.from({ length: 300 }, (_, i) => `dir/${i === 7 ? 'caf\xe9\xff' : ''}name-${i}`);
    expect(d.addLink(0, link(names[0], 10))).toBe('first');
    for (const name of names.slice(1)) expect(d.addLink(0, link(name, 10))).toBe('held');
    expect(d.addLink(1, link('other/first', 10))).toBe('first');
    expect(d.addLink(1, link('other/second', 10))).toBe('held');
    const chunks = linked(d, 0, [slot(d, 0, 10)], 64);
    expect(chunks.map((c) => c.length / 2)).toEqual([64, 64, 64, 64, 43]);
    expect(chunks.flat()).toEqual(names.slice(1).flatMap((n) => [names[0], n]));
    expect(linked(d, 1, [slot(d, 1, 10)], 64)).toEqual([['other/first', 'other/second']]);
    expect(d.size).toBe(2);
  });

  it("a layer's groups share its chunks, and no chunk holds another layer's pairs", () => {
    const d = new Deferred();
    // Groups met in the order concurrent walks hand them back: layer 1's between two of layer 0's.
    for (const [layer, ino, names] of [
      [0, 1, ['a', 'a1', 'a2']],
      [1, 2, ['b', 'b1']],
      [0, 3, ['c', 'c1', 'c2', 'c3']],
    ] as const) {
      for (const name of names) d.addLink(layer, link(name, ino));
    }
    d.copied([slot(d, 0, 1), slot(d, 1, 2), slot(d, 0, 3)]);
    expect(d.readyLayers().sort()).toEqual([0, 1]);
    expect(d.takeReady(0, 4)).toEqual([['a', 'a1', 'a', 'a2', 'c', 'c1', 'c', 'c2']]);
    expect(d.takeReady(1, 4)).toEqual([]);
    expect(d.takeReady(0, 4, true)).toEqual([['c', 'c3']]);
    expect(d.takeReady(1, 4, true)).toEqual([['b', 'b1']]);
    expect(d.readyLayers()).toEqual([]);
  });

  it("names that come after their group's first is copied are ready at once, not held", () => {
    const d = new Deferred();
    expect(d.addLink(0, link('a', 1))).toBe('first');
    expect(d.addLink(0, link('a1', 1))).toBe('held');
    d.copied([slot(d, 0, 1)]);
    expect(d.addLink(0, link('a2', 1))).toBe('ready');
    expect(d.takeReady(0, 2)).toEqual([['a', 'a1', 'a', 'a2']]);
    expect(d.addLink(0, link('a3', 1))).toBe('ready');
    expect(d.takeReady(0, 2)).toEqual([]);
    expect(d.takeReady(0, 2, true)).toEqual([['a', 'a3']]);
  });

  it('a batch of first names is due once a batch of names waits behind it, however few firsts it holds', () => {
    const d = new Deferred();
    d.addLink(0, link('a', 1));
    expect(d.addFirst(0, link('a', 1), 4)).toBeUndefined();
    for (let i = 1; i < 4; i++) d.addLink(0, link(`a${i}`, 1));
    expect(d.dueFirsts(0, 4)).toBeUndefined();
    d.addLink(0, link('a4', 1));
    expect(d.dueFirsts(0, 4)).toMatchObject({ rels: ['a'], types: 'f', keys: [slot(d, 0, 1)] });
    expect(d.takeFirsts()).toEqual([]);
  });

  it('a group is dropped once its first is copied and every name of the inode was met (its link count), in either order', () => {
    const d = new Deferred(() => true);
    d.addLink(0, link('a', 1, 3));
    d.addLink(0, link('a1', 1, 3));
    d.copied([slot(d, 0, 1)]);
    expect(d.size).toBe(1);
    expect(d.addLink(0, link('a2', 1, 3))).toBe('ready');
    expect(d.size).toBe(0);
    d.addLink(0, link('b', 2, 2));
    d.addLink(0, link('b1', 2, 2));
    d.copied([slot(d, 0, 2)]);
    expect(d.size).toBe(0);
    expect(d.pending).toBe(true);
    expect(d.takeReady(0, 8, true)).toEqual([['a', 'a1', 'a', 'a2', 'b', 'b1']]);
    expect(d.pending).toBe(false);
  });

  it("a layer directory's group stays once its link count is met: a later name of the inode still joins it", () => {
    const d = new Deferred((layer) => layer === 1);
    d.addLink(0, link('a', 1, 2));
    d.addLink(0, link('a1', 1, 2));
    d.copied([slot(d, 0, 1)]);
    expect(d.size).toBe(1);
    expect(d.addLink(0, link('a2', 1, 2))).toBe('ready');
    expect(d.takeReady(0, 8, true)).toEqual([['a', 'a1', 'a', 'a2']]);
  });

  it('a group of 150,000 names held for its first: every name once, in order', () => {
    const d = new Deferred();
    const name = (i: number) => `d${i % 100}/hardlink-number-${i}`;
    const n = 150_000;
    for (let i = 0; i < n; i++) d.addLink(0, link(name(i), 5));
    let seen = 0;
    for (const rels of linked(d, 0, [slot(d, 0, 5)], 1000)) {
      for (let j = 0; j < rels.length / 2; j++) {
        seen++;
        expect(rels[2 * j]).toBe(name(0));
        if (rels[2 * j + 1] !== name(seen)) expect(rels[2 * j + 1]).toBe(name(seen));
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

describe('a small layer with a hardlink', () => {
  it("is copied on this thread within the inline budget, no worker booted for its group's first name; one inode in the rootfs", async () => {
    const dir = scratch();
    const layer = path.join(dir, 'layer');
    fs.mkdirSync(path.join(layer, 'etc'), { recursive: true });
    fs.writeFileSync(path.join(layer, 'etc/a'), 'a');
    fs.linkSync(path.join(layer, 'etc/a'), path.join(layer, 'etc/a2'));
    const pool = new Pool(2);
    try {
      const summary = await provisionWith(pool, [layer], path.join(dir, 'root'));
      expect([pool.started, summary.hardlinks]).toEqual([false, 1]);
    } finally {
      await pool.close();
    }
    expect(fs.lstatSync(path.join(dir, 'root/etc/a2')).ino).toBe(fs.lstatSync(path.join(dir, 'root/etc/a')).ino);
  });
});

describe('a layer directory with a bind mount in it', () => {
  it.runIf(isRoot)('more names of an inode than its link count (a bind mount shows them twice): one inode in the rootfs [needs root: mounts]', async () => {
    const dir = scratch();
    const layer = path.join(dir, 'layer');
    const [sub, bind] = ['sub', 'zbind'].map((n) => path.join(layer, n));
    for (const d of [sub, bind]) fs.mkdirSync(d, { recursive: true });
    fs.writeFileSync(path.join(sub, 'a'), 'shared');
    fs.linkSync(path.join(sub, 'a'), path.join(sub, 'b'));
    // Enough names between the two views that the group's first is copied before zbind is walked.
    for (let i = 0; i < 300; i++) fs.writeFileSync(path.join(sub, `f${i}`), `${i}`);
    execFileSync('mount', ['--bind', sub, bind]);
    try {
      await provision([layer], path.join(dir, 'root'), { batchSize: 1 });
    } finally {
      execFileSync('umount', [bind]);
    }
    const inos = ['sub/a', 'sub/b', 'zbind/a', 'zbind/b'].map((rel) => fs.lstatSync(path.join(dir, 'root', rel)).ino);
    expect(new Set(inos).size).toBe(1);
    expect(fs.lstatSync(path.join(dir, 'root', 'sub/a')).nlink).toBe(4);
  });
});

describe('a link that fails', () => {
  it.runIf(isRoot)(
    "names the layer of the name it could not make, not another layer's whose links went in the same chunk; nothing is left [needs root: mounts a tmpfs]",
    async () => {
      const dir = scratch();
      const [l1, l2, mnt] = ['l1', 'l2', 'mnt'].map((n) => path.join(dir, n));
      for (const d of [l1, path.join(l2, 'kept'), path.join(l2, 'other'), mnt]) fs.mkdirSync(d, { recursive: true });
      for (let i = 0; i < 4; i++) {
        fs.writeFileSync(path.join(l1, `f${i}`), `${i}`);
        fs.linkSync(path.join(l1, `f${i}`), path.join(l1, `g${i}`));
      }
      fs.writeFileSync(path.join(l2, 'kept', 'first'), 'x');
      fs.linkSync(path.join(l2, 'kept', 'first'), path.join(l2, 'other', 'second'));
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'nr_inodes=1000', 'tmpfs', mnt]);
      try {
        // The inodes a whole provision takes, then one fewer: the last link made fails.
        await provision([l1, l2], path.join(mnt, 'root'), { batchSize: 64 });
        const { files, ffree } = fs.statfsSync(mnt);
        fs.rmSync(path.join(mnt, 'root'), { recursive: true });
        execFileSync('mount', ['-o', `remount,nr_inodes=${files - ffree - 1}`, mnt]);
        const failed = await provision([l1, l2], path.join(mnt, 'root'), { batchSize: 64 }).catch((error) => error);
        expect(failed).toMatchObject({ code: 'ENOSPC', syscall: 'link' });
        const rel = path.relative(path.join(mnt, 'root'), failed.path);
        expect(failed.layer).toBe(rel.startsWith('kept/') || rel.startsWith('other/') ? l2 : l1);
        expect(fs.readdirSync(mnt)).toEqual([]);
      } finally {
        execFileSync('umount', [mnt]);
      }
    },
  );
});
