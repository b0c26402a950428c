// The tar reader fed on a thread of its own (native/tarpipe.c, `piped`):
// the caller hands chunks over and goes on inflating; a failure comes back
// on a later chunk or at the end.
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { extractTar } from '../../src/images/extract.js';
import { diffSnapshots, exists, scratch, snapshot } from '../helpers.js';
import { type RawEntry, rawTar } from './fixtures.js';

const T = 1_600_000_000;

/** The tar in chunks of `size` bytes, as an inflater hands them over. */
async function* chunks(tar: Buffer, size: number): AsyncGenerator<Buffer> {
  for (let at = 0; at < tar.length; at += size) yield tar.subarray(at, at + size);
}

/** Extracts tar into a new directory dir/name through extractTar, fed in 64 KiB chunks. */
async function extractInto(dir: string, name: string, tar: Buffer, piped = true): Promise<string> {
  const root = path.join(dir, name);
  fs.mkdirSync(root);
  const fd = fs.openSync(root, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
  try {
    await extractTar(chunks(tar, 64 * 1024), fd, name, { piped });
  } finally {
    fs.closeSync(fd);
  }
  return root;
}

// 200 files of 20 KiB in 10 directories: about 4 MB, 64 chunks, more than the queue holds.
const many = (): RawEntry[] => [
  { name: './', type: '5', mode: 0o755, mtime: T },
  ...Array.from({ length: 10 }, (_, d): RawEntry => ({ name: `d${d}/`, type: '5', mode: 0o750, mtime: T + d })),
  ...Array.from({ length: 200 }, (_, i): RawEntry => ({ name: `d${i % 10}/f${i}`, data: Buffer.alloc(20 * 1024, i % 251), mode: 0o640, mtime: T + i })),
];

describe('the tar reader on a thread of its own', () => {
  it("a layer comes out the same as when it is fed on the caller's thread", async () => {
    const dir = scratch();
    const tar = rawTar(many());
    const piped = await extractInto(dir, 'piped', tar);
    const inline = await extractInto(dir, 'inline', tar, false);
    expect(diffSnapshots(snapshot(inline), snapshot(piped))).toEqual([]);
    expect(fs.readdirSync(path.join(piped, 'd3')).length).toBe(20);
  });

  it('a failure in an early chunk is told with its entry, and nothing after it is written', async () => {
    const dir = scratch();
    const tar = rawTar([{ name: 'first', data: 'x' }, { name: '../escape', data: 'x' }, ...many()]);
    const error = await extractInto(dir, 'bad', tar).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'ERR_INVALID_TAR' });
    expect((error as Error).message).toMatch(/^bad: .*escape/);
    expect(exists(path.join(dir, 'bad', 'first'))).toBe(true);
    expect(exists(path.join(dir, 'bad', 'd0'))).toBe(false);
  });
});
