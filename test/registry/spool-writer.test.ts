// A download's spool file (src/registry/download.ts, SpoolWriter): chunks
// that arrive while a write is under way go into the next one, in order,
// with what is on file published for the extraction that follows it.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { SpoolWriter } from '../../src/registry/download.js';
import { scratch } from '../helpers.js';

const CHUNK = 64 << 10;

/** A spool file whose writes take `delayMs` each; records every write's size, and what was published when each began. */
async function slowFile(delayMs: number, opts: { shortFirst?: boolean; failAt?: number } = {}) {
  const handle = await fs.promises.open(path.join(scratch(), 'blob'), 'w+');
  const writes: { bytes: number; position: number }[] = [];
  let short = opts.shortFirst ?? false;
  const out = {
    async writev(buffers: Buffer[], position: number) {
      await new Promise((r) => setTimeout(r, delayMs));
      writes.push({ bytes: buffers.reduce((n, b) => n + b.length, 0), position });
      if (opts.failAt !== undefined && writes.length === opts.failAt) throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
      if (short) {
        // Half of the first buffer only, as a filesystem that fills up mid-write does.
        short = false;
        return handle.writev([buffers[0].subarray(0, buffers[0].length >> 1)], position);
      }
      return handle.writev(buffers, position);
    },
  };
  return { handle, writes, out };
}

describe('SpoolWriter', () => {
  it('a slow file gets fewer, larger writes than chunks, in order, the bytes on file published', async () => {
    const { handle, writes, out } = await slowFile(5);
    const progress = new BigInt64Array(new SharedArrayBuffer(16));
    const spool = new SpoolWriter(out, progress);
    const data = crypto.randomBytes(200 * CHUNK);
    const published: number[] = [];
    for (let at = 0; at < data.length; at += CHUNK) {
      await spool.push(data.subarray(at, at + CHUNK));
      published.push(Number(progress[0]));
    }
    await spool.drain();
    expect(Number(progress[0])).toBe(data.length);
    expect(spool.flushed).toBe(data.length);
    expect((await handle.readFile()).equals(data)).toBe(true);
    await handle.close();
    // One write per chunk took 200 of them; each write here is what arrived during the one before.
    expect(writes.length).toBeLessThan(20);
    expect(writes.map((w) => w.position)).toEqual(writes.map((_, i) => writes.slice(0, i).reduce((n, w) => n + w.bytes, 0)));
    // Never more than 4 MiB waiting (and the chunk that reached it).
    expect(Math.max(...writes.map((w) => w.bytes))).toBeLessThanOrEqual((4 << 20) + CHUNK);
    // What the follower sees only grows, and never runs ahead of the file.
    expect(published).toEqual([...published].sort((a, b) => a - b));
  });

  it('a short write: the rest is written after it', async () => {
    const { handle, out } = await slowFile(1, { shortFirst: true });
    const progress = new BigInt64Array(new SharedArrayBuffer(16));
    const spool = new SpoolWriter(out, progress);
    const data = crypto.randomBytes(10 * CHUNK);
    for (let at = 0; at < data.length; at += CHUNK) await spool.push(data.subarray(at, at + CHUNK));
    await spool.drain();
    expect((await handle.readFile()).equals(data)).toBe(true);
    expect(Number(progress[0])).toBe(data.length);
    await handle.close();
  });

  it("a failed write fails the next push or the drain with the file's error; nothing after it is published", async () => {
    const { handle, out } = await slowFile(2, { failAt: 2 });
    const progress = new BigInt64Array(new SharedArrayBuffer(16));
    const spool = new SpoolWriter(out, progress);
    const data = crypto.randomBytes(50 * CHUNK);
    const outcome = (async () => {
      for (let at = 0; at < data.length; at += CHUNK) await spool.push(data.subarray(at, at + CHUNK));
      await spool.drain();
    })();
    await expect(outcome).rejects.toMatchObject({ code: 'ENOSPC' });
    await expect(spool.drain()).rejects.toMatchObject({ code: 'ENOSPC' });
    // Only the first write's bytes (one chunk: nothing had queued behind it yet) count as on file.
    expect(Number(progress[0])).toBe(CHUNK);
    await handle.close();
  });
});
