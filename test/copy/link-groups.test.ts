// The open hardlink groups' table (src/copy/link-groups.ts): one slot a
// group, found by layer, device and inode, slots of dropped groups reused.
import { describe, expect, it } from 'vitest';
import { COPYING, LinkGroups, QUEUED, READY } from '../../src/copy/link-groups.js';

describe('link groups', () => {
  it('finds a group by layer, device and inode; another layer or device is another group', () => {
    const g = new LinkGroups();
    const a = g.open(0, 1n, 5n, 'a', 2);
    expect(g.find(0, 1n, 5n)).toBe(a);
    expect(g.find(1, 1n, 5n)).toBe(-1);
    expect(g.find(0, 2n, 5n)).toBe(-1);
    const b = g.open(1, 1n, 5n, 'b', 1);
    const c = g.open(0, 2n, 5n, 'c', 1);
    expect(new Set([a, b, c]).size).toBe(3);
    expect([g.first(a), g.first(b), g.first(c)]).toEqual(['a', 'b', 'c']);
    expect([g.layer(a), g.layer(b), g.layer(c)]).toEqual([0, 1, 0]);
    expect(g.size).toBe(3);
  });

  it('inode numbers past 2^53 are told apart (not rounded to one number)', () => {
    const g = new LinkGroups();
    const big = 2n ** 60n;
    const a = g.open(0, 1n, big, 'a', 1);
    const b = g.open(0, 1n, big + 1n, 'b', 1);
    expect(a).not.toBe(b);
    expect(g.find(0, 1n, big + 1n)).toBe(b);
    expect(g.find(0, 1n, big)).toBe(a);
    g.drop(a);
    expect(g.find(0, 1n, big)).toBe(-1);
    expect(g.find(0, 1n, big + 1n)).toBe(b);
  });

  it('a dropped group is gone, its held names with it, and its slot serves the next group', () => {
    const g = new LinkGroups();
    const a = g.open(0, 1n, 1n, 'a', 1);
    g.hold(a, 'a1');
    g.setState(a, READY);
    g.drop(a);
    expect(g.find(0, 1n, 1n)).toBe(-1);
    expect(g.size).toBe(0);
    expect(g.state(a)).not.toBe(READY);
    const b = g.open(0, 1n, 2n, 'b', 1);
    expect(b).toBe(a);
    expect(g.state(b)).toBe(QUEUED);
    expect(g.takeHeld(b)).toEqual([]);
    expect(g.first(b)).toBe('b');
  });

  it('counts the names left to meet, below zero too (a bind mount shows more names than the link count), and at most 2^31 - 1', () => {
    const g = new LinkGroups();
    const a = g.open(0, 1n, 1n, 'a', 1);
    expect(g.met(a)).toBe(0);
    expect(g.met(a)).toBe(-1);
    expect(g.left(a)).toBe(-1);
    // A link count past 2^31 is taken as 2^31 - 1, not wrapped to a count the group would meet at once.
    const b = g.open(0, 1n, 2n, 'b', 2 ** 40);
    expect(g.left(b)).toBe(2 ** 31 - 1);
  });

  it('keeps every group whole as the table grows past its first columns: 100,000 groups, every other one dropped', () => {
    const g = new LinkGroups();
    const n = 100_000;
    const slots = Array.from({ length: n }, (_, i) => {
      const s = g.open(i % 3, 7n, BigInt(i), `d/${i}`, i);
      g.setState(s, i % 2 ? COPYING : READY);
      if (i % 1000 < 2) g.hold(s, `held-${i}`);
      return s;
    });
    for (let i = 0; i < n; i += 2) g.drop(slots[i]);
    expect(g.size).toBe(n / 2);
    for (let i = 0; i < n; i++) {
      const s = g.find(i % 3, 7n, BigInt(i));
      if (i % 2 === 0) {
        expect(s).toBe(-1);
        continue;
      }
      if (s !== slots[i] || g.first(s) !== `d/${i}` || g.layer(s) !== i % 3 || g.left(s) !== i || g.state(s) !== COPYING) {
        expect({ s, first: g.first(s), layer: g.layer(s), left: g.left(s), state: g.state(s) }).toEqual({ s: slots[i], first: `d/${i}`, layer: i % 3, left: i, state: COPYING });
      }
    }
    expect(g.takeHeld(slots[1000])).toEqual([]);
    expect(g.takeHeld(slots[99_001])).toEqual(['held-99001']);
    expect(g.takeHeld(slots[99_001])).toEqual([]);
  });

  it('agrees with a map under 200,000 random opens and drops: every group found, every first name byte for byte after its bytes were packed again', () => {
    const g = new LinkGroups();
    const model = new Map<string, { slot: number; first: string }>();
    let seed = 7;
    const rand = (n: number) => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      return seed % n;
    };
    for (let step = 0; step < 200_000; step++) {
      // Few inodes and devices: runs of the index collide, drops move entries back.
      const [layer, dev, ino] = [rand(2), BigInt(rand(2)), BigInt(rand(5000)) + (rand(50) === 0 ? 2n ** 60n : 0n)];
      const key = `${layer}:${dev}:${ino}`;
      const had = model.get(key);
      expect(g.find(layer, dev, ino)).toBe(had ? had.slot : -1);
      if (had) {
        if (g.first(had.slot) !== had.first) expect(g.first(had.slot)).toBe(had.first);
        g.drop(had.slot);
        model.delete(key);
      } else {
        // Names of every byte value (latin1: one character a byte), long enough that the names' buffer is packed many times.
        const first = `${key}/${String.fromCharCode(rand(256), rand(256))}${'x'.repeat(rand(200))}`;
        model.set(key, { slot: g.open(layer, dev, ino, first, 1), first });
      }
    }
    expect(g.size).toBe(model.size);
    for (const [key, { slot, first }] of model) {
      const [layer, dev, ino] = key.split(':');
      expect(g.find(Number(layer), BigInt(dev), BigInt(ino))).toBe(slot);
      expect(g.first(slot)).toBe(first);
    }
  });

  it('finds every group after drops from an index half full, where runs of positions wrap past its end', () => {
    const g = new LinkGroups();
    const live = new Map<number, number>();
    let seed = 11;
    const rand = (n: number) => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      return seed % n;
    };
    for (let round = 0; round < 300; round++) {
      // 1,023 groups keep the first index (2,048 positions) just under half full: long runs, some across its end.
      while (live.size < 1023) {
        const ino = rand(1e9);
        if (!live.has(ino)) live.set(ino, g.open(0, 1n, BigInt(ino), 'n', 1));
      }
      for (const [ino, slot] of live) {
        if (rand(3) > 0) continue;
        g.drop(slot);
        live.delete(ino);
      }
      for (const [ino, slot] of live) if (g.find(0, 1n, BigInt(ino)) !== slot) expect({ round, ino, found: g.find(0, 1n, BigInt(ino)) }).toEqual({ round, ino, found: slot });
    }
  });
});
