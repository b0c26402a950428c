// The tar reader fed on a thread of its own (native/tarpipe.c, `piped`):
// the caller hands chunks over and goes on inflating; a failure comes back
// on a later chunk or at the end.
import { spawnSync } from 'node:child_process';
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

  it("where the input fails after a bad entry was handed over, the reader's failure is told, as when fed on the caller's thread", async () => {
    const dir = scratch();
    const tar = rawTar([{ name: 'first', data: 'x' }, { name: '../escape', data: 'x' }, ...many()]);
    // The bad entry in the first chunk; the decompressor fails on the next.
    async function* input(): AsyncGenerator<Buffer> {
      yield tar.subarray(0, 64 * 1024);
      throw new Error('invalid stored block lengths');
    }
    for (const piped of [false, true]) {
      const root = path.join(dir, String(piped));
      fs.mkdirSync(root);
      const fd = fs.openSync(root, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
      const error = await extractTar(input(), fd, 'bad', { piped })
        .catch((e: unknown) => e)
        .finally(() => fs.closeSync(fd));
      expect(error).toMatchObject({ code: 'ERR_INVALID_TAR' });
      expect((error as Error).message).toMatch(/^bad: .*escape/);
    }
  });

  it('an empty chunk is nothing to hand over (its data may be NULL: UBSan, npm run test:asan)', async () => {
    const dir = scratch();
    const tar = rawTar([{ name: 'a', data: 'x' }]);
    async function* input(): AsyncGenerator<Buffer> {
      yield Buffer.alloc(0);
      yield tar;
      yield Buffer.alloc(0);
    }
    fs.mkdirSync(path.join(dir, 'out'));
    const fd = fs.openSync(path.join(dir, 'out'), fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
    try {
      await extractTar(input(), fd, 'out', { piped: true });
    } finally {
      fs.closeSync(fd);
    }
    expect(fs.readFileSync(path.join(dir, 'out', 'a'), 'utf8')).toBe('x');
  });

  // A child with its address space capped (ulimit -v): not under ASan, which maps terabytes of shadow.
  it.skipIf(/asan/.test(process.env.LD_PRELOAD ?? ''))('a queue of small chunks takes memory as they are, not 1 MiB each', () => {
    const dir = scratch();
    const native = process.env.LAYERCOPY_NATIVE ?? path.resolve(__dirname, '../../build/Release/layercopy_native.node');
    const tar = rawTar(Array.from({ length: 20_000 }, (_, i): RawEntry => ({ name: `f${i}`, mtime: T })));
    fs.writeFileSync(path.join(dir, 'layer.tar'), tar);
    fs.mkdirSync(path.join(dir, 'out'));
    // 20k empty files fed 512 bytes at a time, as fast as they can be
    // queued: 2 MiB of them wait at once, 4096 chunks (4 GiB at 1 MiB each).
    const script = `
      const fs = require('node:fs');
      const n = require(process.argv[1]);
      const tar = fs.readFileSync(process.argv[2] + '/layer.tar');
      const r = n.tarOpen(fs.openSync(process.argv[2] + '/out', 'r'), undefined, undefined, undefined, 16);
      for (let at = 0; at < tar.length; at += 512) {
        const failed = n.tarFeed(r, tar.subarray(at, at + 512));
        if (failed) throw new Error(JSON.stringify(failed));
      }
      const done = n.tarFinish(r);
      console.log(JSON.stringify(done.failure ?? { entries: done.entries }));
    `;
    const out = spawnSync('bash', ['-c', 'ulimit -v 3000000; exec "$0" -e "$1" "$2" "$3"', process.execPath, script, native, dir], { encoding: 'utf8' });
    expect(out.stderr).toBe('');
    expect(out.stdout.trim()).toBe('{"entries":20000}');
  });
});
