// gzip layers through each inflater (src/images/decompress.ts): ISA-L on
// libuv's pool, ISA-L on the calling thread, and zlib (LAYERCOPY_INFLATE=zlib).
// Each must read the same bytes and fail the same way: a truncated stream,
// corrupt deflate data, a bad trailer, and what is not one plain member
// (GzipFallback, for zlib's gunzip to read). ISA-L is loaded at run time:
// its cases run where libisal.so.2 is installed (.ci/run installs it).
import { execFileSync, spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { native } from '../../src/core/native.cjs';
import { chosenInflater, GzipFallback, gunzipRaw, type Inflater } from '../../src/images/decompress.js';
import { extractLayer } from '../../src/images/layer.js';
import { scratch } from '../helpers.js';
import { gzipMember, rawTar, sha } from './fixtures.js';

const hasIsal = native.isalOpen() !== null;
const inflaters: [Inflater, boolean][] = [
  ['isal', hasIsal],
  ['isal-sync', hasIsal],
  ['zlib', true],
];

/** Every piece gunzipRaw makes of `blob` through `use`, fed in pieces of `piece` bytes. */
async function pieces(blob: Buffer, use: Inflater, piece = 1000): Promise<Buffer[]> {
  const out: Buffer[] = [];
  for await (const b of gunzipRaw(
    (async function* () {
      for (let i = 0; i < blob.length; i += piece) yield blob.subarray(i, i + piece);
    })(),
    use,
  ))
    out.push(Buffer.from(b));
  return out;
}
const inflate = async (blob: Buffer, use: Inflater, piece?: number) => Buffer.concat(await pieces(blob, use, piece));

/** A member of `data` at zlib level `level` (0: stored blocks). */
const member = (data: Buffer, level: number) => zlib.gzipSync(data, { level });

const tar = rawTar([
  { name: 'a', data: 'a'.repeat(3000) },
  { name: 'b', data: Buffer.from(Array.from({ length: 8000 }, (_, i) => (i * 7919) % 251)).toString('latin1') },
]);

describe.each(inflaters)('gunzipRaw through %s', (use, present) => {
  it.runIf(present).each([1, 7, 1000, 1 << 20])('a member fed %i bytes at a time gives the tar, stored and coded blocks alike', async (piece) => {
    for (const level of [0, 1, 9]) expect((await inflate(member(tar, level), use, piece)).equals(tar), `level ${level}`).toBe(true);
  });

  it.runIf(present)('a decompression bomb never makes more than 1 MiB at once', async () => {
    const zeros = Buffer.alloc(64 << 20);
    const made = await pieces(gzipMember(zeros), use, 1 << 20);
    expect(Math.max(...made.map((b) => b.length))).toBeLessThanOrEqual(1 << 20);
    expect(made.reduce((n, b) => n + b.length, 0)).toBe(zeros.length);
  });

  it.runIf(present)('cut inside the deflate data: unexpected end of file', async () => {
    await expect(inflate(gzipMember(tar).subarray(0, 200), use)).rejects.toThrow(/^unexpected end of file$/);
  });

  it.runIf(present)('cut inside the trailer: unexpected end of file', async () => {
    await expect(inflate(gzipMember(tar).subarray(0, -3), use)).rejects.toThrow(/^unexpected end of file$/);
  });

  it.runIf(present)("corrupt deflate data (a reserved block type): the inflater's error, not a fallback", async () => {
    const r = await inflate(Buffer.concat([gzipMember(tar).subarray(0, 10), Buffer.from([0x07]), Buffer.alloc(64)]), use).catch((e) => e);
    expect(r).toBeInstanceOf(Error);
    expect(r).not.toBeInstanceOf(GzipFallback);
    // Which inflater ran shows in its words.
    expect(r.message).toMatch(use === 'zlib' ? /^invalid (block type|code lengths set|distance)/ : /^invalid (deflate block|code in the deflate data|distance)/);
  });

  it.runIf(present)('a trailer whose length is wrong: incorrect length check', async () => {
    await expect(inflate(gzipMember(tar, { isize: tar.length + 1 }), use)).rejects.toThrow(/^incorrect length check$/);
  });

  it.runIf(present).each([
    ['a second member', Buffer.concat([gzipMember(tar), gzipMember(tar)])],
    ['zeros after the member', Buffer.concat([gzipMember(tar), Buffer.alloc(100)])],
    ['one byte after the member', Buffer.concat([gzipMember(tar), Buffer.alloc(1)])],
  ])('%s: GzipFallback', async (_what, blob) => {
    await expect(inflate(blob, use, 777)).rejects.toBeInstanceOf(GzipFallback);
  });
});

describe.each(inflaters)('a gzip layer whose diff_id is checked, through %s', (use, present) => {
  const saved = process.env.LAYERCOPY_INFLATE;
  beforeAll(() => {
    process.env.LAYERCOPY_INFLATE = use;
  });
  afterAll(() => {
    if (saved === undefined) delete process.env.LAYERCOPY_INFLATE;
    else process.env.LAYERCOPY_INFLATE = saved;
  });
  const open: number[] = [];
  afterEach(() => {
    for (const fd of open.splice(0)) fs.closeSync(fd);
  });
  async function extract(blob: Buffer): Promise<string> {
    const dir = scratch();
    fs.writeFileSync(path.join(dir, 'layer.gz'), blob);
    fs.mkdirSync(path.join(dir, 'out'));
    const fd = fs.openSync(path.join(dir, 'out'), fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
    open.push(fd);
    await extractLayer({ file: path.join(dir, 'layer.gz'), label: 'layer 1/1', diffId: sha(tar) }, fd);
    return path.join(dir, 'out');
  }

  it.runIf(present)('concatenated members: read again through gunzip, every file there', async () => {
    const out = await extract(Buffer.concat([gzipMember(tar.subarray(0, 2048)), gzipMember(tar.subarray(2048))]));
    expect(fs.readFileSync(path.join(out, 'a'), 'utf8')).toBe('a'.repeat(3000));
    expect(fs.readFileSync(path.join(out, 'b')).length).toBe(8000);
  });

  it.runIf(present).each([
    ['cut inside its deflate data', (b: Buffer) => b.subarray(0, 200), /^layer 1\/1: gzip: unexpected end of file$/],
    ['corrupt deflate data', (b: Buffer) => Buffer.concat([b.subarray(0, 10), Buffer.from([0x07]), Buffer.alloc(64)]), /^layer 1\/1: gzip: invalid /],
    ['a wrong length in its trailer', (b: Buffer) => Buffer.concat([b.subarray(0, -4), Buffer.from([1, 2, 3, 4])]), /^layer 1\/1: gzip: incorrect length check$/],
  ])('%s: ERR_INVALID_TAR naming the layer', async (_what, mangle, message) => {
    const r = await extract(mangle(gzipMember(tar))).catch((e) => e);
    expect(r).toMatchObject({ code: 'ERR_INVALID_TAR', layer: 'layer 1/1' });
    expect(r.message).toMatch(message);
  });
});

describe.each(inflaters.filter(([use]) => use !== 'zlib'))('reused output buffers, through %s', (use, present) => {
  it.runIf(present)('each chunk read before the next is asked for: the same bytes, from two buffers in turn', async () => {
    // 5 MiB of incompressible bytes: several 1 MiB steps.
    const data = crypto.randomBytes(5 << 20);
    const hash = crypto.createHash('sha256');
    const backing = new Set<ArrayBuffer>();
    let chunks = 0;
    for await (const b of gunzipRaw(
      (async function* () {
        yield zlib.gzipSync(data, { level: 1 });
      })(),
      use,
      { reuse: true },
    )) {
      hash.update(b);
      backing.add(b.buffer as ArrayBuffer);
      chunks++;
    }
    expect(hash.digest('hex')).toBe(crypto.createHash('sha256').update(data).digest('hex'));
    expect(chunks).toBeGreaterThan(2);
    expect(backing.size).toBe(2);
  });

  it.runIf(present)('isalFeed inflates into the buffer given: at most its length, at most 1 MiB', () => {
    const data = Buffer.alloc(3 << 20, 7);
    const deflated = zlib.deflateRawSync(data);
    const stream = native.isalOpen()!;
    const out = Buffer.alloc(4096);
    const r = native.isalFeed(stream, deflated, 0, out);
    expect([r.data === out, r.length]).toEqual([true, 4096]);
    expect(out.equals(data.subarray(0, 4096))).toBe(true);
    const big = Buffer.alloc(2 << 20);
    const r2 = native.isalFeed(stream, deflated, r.pos, big);
    expect([r2.data === big, r2.length]).toEqual([true, 1 << 20]);
  });
});

describe('choosing the inflater', () => {
  it('LAYERCOPY_INFLATE=zlib forces zlib; anything else asks for ISA-L', () => {
    const saved = process.env.LAYERCOPY_INFLATE;
    try {
      process.env.LAYERCOPY_INFLATE = 'zlib';
      expect(chosenInflater()).toBe('zlib');
      delete process.env.LAYERCOPY_INFLATE;
      expect(chosenInflater()).toBe('isal');
    } finally {
      if (saved !== undefined) process.env.LAYERCOPY_INFLATE = saved;
    }
  });

  it('a libisal.so.2 that inflates wrongly fails the self-check at load: no ISA-L stream, zlib reads the layer [needs cc]', () => {
    const dir = scratch();
    // Claims to finish at once having made nothing: the known stream's bytes never come.
    fs.writeFileSync(path.join(dir, 'fake.c'), 'void isal_inflate_init(void *s) { (void)s; }\nint isal_inflate(void *s) { (void)s; return 0; }\n');
    execFileSync('cc', ['-shared', '-fPIC', '-o', path.join(dir, 'libisal.so.2'), path.join(dir, 'fake.c')]);
    const script = `const { native } = require(${JSON.stringify(path.resolve('dist/src/core/native.cjs'))}); process.stdout.write(String(native.isalOpen()));`;
    const r = spawnSync(process.execPath, ['-e', script], { env: { ...process.env, LD_LIBRARY_PATH: dir }, encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe('null');
  });
});
