// Tar layers read at once share what each holds (native/claims.h): a lower
// layer's file that a higher layer already hides is left empty in its
// scratch directory, and a hardlink that stays to such a file makes the
// layer be read again in full. Driven one layer after the other here, so
// that what a higher layer claims is known when the lower one is read.
// And gzip layers whose diff_id is checked, inflated without zlib's CRC:
// the fallback to zlib's gunzip for what is not one plain member. And a
// corrupt blob: ERR_DIGEST_MISMATCH, whatever failed while it streamed.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { afterEach, describe, expect, it } from 'vitest';
import type { LayercopyError } from '../../src/core/errors.js';
import { native } from '../../src/core/native.cjs';
import { FOLLOW_DONE, FOLLOW_FAILED, followProgress } from '../../src/images/follow.js';
import { extractLayer, type TarLayer } from '../../src/images/layer.js';
import { pumpsHere } from '../../src/images/pumped.js';
import { provision } from '../../src/index.js';
import { diffSnapshots, lstat, scratch, snapshot } from '../helpers.js';
import { type Compression, compress, gzipFullHeader, gzipMember, hasZstd, hexText, ociImage, type RawEntry, rawTar, sha } from './fixtures.js';

const open: number[] = [];
afterEach(() => {
  for (const fd of open.splice(0)) fs.closeSync(fd);
});

/** Runs fn with a claims set of its own, closed after. */
async function withClaims(fn: (id: number) => Promise<void>): Promise<void> {
  const id = native.claimsOpen();
  try {
    await fn(id);
  } finally {
    native.claimsClose(id);
  }
}

/** Extracts a tar (written to dir/NAME.tar) into dir/NAME as layer `layer` of the claims set. */
async function layer(dir: string, name: string, entries: RawEntry[], claims: { id: number; layer: number }) {
  const file = path.join(dir, `${name}.tar`);
  fs.writeFileSync(file, rawTar(entries));
  fs.mkdirSync(path.join(dir, name));
  const fd = fs.openSync(path.join(dir, name), fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
  open.push(fd);
  await extractLayer({ file, label: name }, fd, { claims });
  return path.join(dir, name);
}

/** Extracts `upper` (layer 1), then `lower` (layer 0) under it, in a claims set of their own; the lower layer's directory. */
async function lowerUnder(upper: RawEntry[], lower: RawEntry[]): Promise<string> {
  const dir = scratch();
  let out = '';
  await withClaims(async (id) => {
    await layer(dir, 'upper', upper, { id, layer: 1 });
    out = await layer(dir, 'lower', lower, { id, layer: 0 });
  });
  return out;
}

describe('tar layers read with a claims set', () => {
  it('a file a higher layer replaces, whites out or hides under an opaque directory gets no data (its size given: no block allocated); the others are written', async () => {
    const lower = await lowerUnder(
      [
        { name: 'replaced', data: 'upper' },
        { name: '.wh.gone', data: '' },
        { name: 'etc/.wh..wh..opq', data: '' },
        { name: '.wh.tree', data: '' },
      ],
      [
        { name: 'replaced', data: 'lower data' },
        { name: 'gone', data: 'lower data' },
        { name: 'etc/conf', data: 'lower data' },
        { name: 'tree/deep/file', data: 'lower data' },
        { name: 'kept', data: 'lower data' },
      ],
    );
    for (const rel of ['replaced', 'gone', 'etc/conf', 'tree/deep/file']) {
      const st = fs.statSync(path.join(lower, rel));
      expect([st.size, st.blocks], rel).toEqual(['lower data'.length, 0]);
    }
    expect(fs.readFileSync(path.join(lower, 'kept'), 'utf8')).toBe('lower data');
  });

  it('a hardlink that stays, to a file a higher layer hides: the layer is read again in full', async () => {
    const lower = await lowerUnder(
      [{ name: 'a', data: 'upper' }],
      [
        { name: 'a', data: 'group' },
        { name: 'b', type: '1', linkname: 'a' },
      ],
    );
    expect(fs.readFileSync(path.join(lower, 'b'), 'utf8')).toBe('group');
    expect(lstat(path.join(lower, 'b')).ino).toBe(lstat(path.join(lower, 'a')).ino);
  });

  it('a hardlink that stays, to a hidden hardlink of a hidden file: the layer is read again in full', async () => {
    const lower = await lowerUnder(
      [
        { name: 'a', data: 'upper' },
        { name: '.wh.b', data: '' },
      ],
      [
        { name: 'a', data: 'group' },
        { name: 'b', type: '1', linkname: 'a' },
        { name: 'c', type: '1', linkname: 'b' },
      ],
    );
    expect(fs.readFileSync(path.join(lower, 'c'), 'utf8')).toBe('group');
    expect(lstat(path.join(lower, 'c')).ino).toBe(lstat(path.join(lower, 'a')).ino);
  });

  it('a hardlink that a higher layer hides too, to a hidden file: no second read (both left as they are)', async () => {
    const lower = await lowerUnder(
      [{ name: '.wh.d', data: '' }],
      [
        { name: 'd/a', data: 'group' },
        { name: 'd/b', type: '1', linkname: 'd/a' },
      ],
    );
    const st = fs.statSync(path.join(lower, 'd/b'));
    expect([st.size, st.blocks]).toEqual(['group'.length, 0]);
    expect(lstat(path.join(lower, 'd/b')).ino).toBe(lstat(path.join(lower, 'd/a')).ino);
  });

  it('straight into the rootfs, a directory the layer replaces by a file: a restart into a scratch directory at once, the layer read once (the set cures nothing)', async () => {
    const dir = scratch();
    const file = path.join(dir, 'base.tar');
    fs.writeFileSync(
      file,
      rawTar([
        { name: 'd/', type: '5' },
        { name: 'd/x', data: 'x' },
        { name: 'd', data: 'a file now' },
      ]),
    );
    fs.mkdirSync(path.join(dir, 'root'));
    const fd = fs.openSync(path.join(dir, 'root'), fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
    open.push(fd);
    const reads: number[] = [];
    await withClaims(async (id) => {
      const extracted = extractLayer({ file, label: 'base' }, fd, { claims: { id, layer: 0 }, direct: true, onRead: (bytes) => reads.push(bytes) });
      await expect(extracted).rejects.toMatchObject({ name: 'RestartLayer', hidden: false });
    });
    expect(reads).toEqual([fs.statSync(file).size]);
  });

  it('a full set takes no more names: a lower file it could not record is written with its data (LAYERCOPY_CLAIMS=1)', async () => {
    process.env.LAYERCOPY_CLAIMS = '1';
    try {
      const lower = await lowerUnder(
        [
          { name: 'a', data: 'upper' },
          { name: 'b', data: 'upper' },
        ],
        [
          { name: 'a', data: 'lower data' },
          { name: 'b', data: 'lower data' },
        ],
      );
      const st = fs.statSync(path.join(lower, 'a'));
      expect([st.size, st.blocks]).toEqual(['lower data'.length, 0]);
      expect(fs.readFileSync(path.join(lower, 'b'), 'utf8')).toBe('lower data');
    } finally {
      delete process.env.LAYERCOPY_CLAIMS;
    }
  });

  it('a lower layer read first, or without a set, writes everything', async () => {
    const dir = scratch();
    await withClaims(async (id) => {
      const lower = await layer(dir, 'lower', [{ name: 'a', data: 'lower' }], { id, layer: 0 });
      await layer(dir, 'upper', [{ name: 'a', data: 'upper' }], { id, layer: 1 });
      expect(fs.readFileSync(path.join(lower, 'a'), 'utf8')).toBe('lower');
    });
  });
});

/** Extracts `blob` (a gzip of `tar`) as a layer whose diff_id is the tar's sha256 (or none), with `checked`: its digest and size too; the directory it went to. */
async function gzipLayer(blob: Buffer, tar: Buffer | undefined, checked = false): Promise<string> {
  const { file, fd, out } = blobFile(blob);
  await extractLayer({ file, label: 'layer 1/1', diffId: tar && sha(tar), ...(checked ? { digest: sha(blob), size: blob.length } : {}) }, fd);
  return out;
}

/** `blob` written as layer.gz in a fresh directory, beside an empty directory `out` open to extract into. */
function blobFile(blob: Buffer): { file: string; fd: number; out: string } {
  const dir = scratch();
  const file = path.join(dir, 'layer.gz');
  fs.writeFileSync(file, blob);
  const out = path.join(dir, 'out');
  fs.mkdirSync(out);
  const fd = fs.openSync(out, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
  open.push(fd);
  return { file, fd, out };
}

describe('gzip layers whose diff_id is checked (inflated without the CRC)', () => {
  const tar = rawTar([
    { name: 'a', data: 'a'.repeat(3000) },
    { name: 'b', data: 'b'.repeat(3000) },
  ]);

  it('concatenated members: all of them, as gunzip reads them', async () => {
    const out = await gzipLayer(Buffer.concat([gzipMember(tar.subarray(0, 2048)), gzipMember(tar.subarray(2048))]), tar);
    expect(fs.readFileSync(path.join(out, 'a'), 'utf8')).toBe('a'.repeat(3000));
    expect(fs.readFileSync(path.join(out, 'b'), 'utf8')).toBe('b'.repeat(3000));
  });

  it('zeros after the member are ignored, as gunzip does', async () => {
    const out = await gzipLayer(Buffer.concat([gzipMember(tar), Buffer.alloc(100)]), tar);
    expect(fs.readFileSync(path.join(out, 'b'), 'utf8')).toBe('b'.repeat(3000));
  });

  it("zeros after the member that go on past the first 1 MiB read: the blob's size and digest of every byte, though zlib's gunzip stops reading at the member's end", async () => {
    // Random data: the member (its FEXTRA sized to fit) ends a byte before the first read's end, the zeros run into the second read.
    const big = rawTar([{ name: 'r', data: crypto.randomBytes((1 << 20) - 40000) }]);
    const extra = (1 << 20) - 1 - 8 - zlib.deflateRawSync(big).length - 12;
    const header = Buffer.concat([Buffer.from([0x1f, 0x8b, 8, 4, 0, 0, 0, 0, 0, 3, extra & 0xff, extra >> 8]), Buffer.alloc(extra)]);
    const blob = Buffer.concat([gzipMember(big, { header }), Buffer.alloc(8)]);
    expect(blob.length).toBe((1 << 20) + 7);
    // The last read raced the end of the extraction: several tries, each of which must see it.
    for (let i = 0; i < 5; i++) expect(lstat(path.join(await gzipLayer(blob, big, true), 'r')).size).toBe(BigInt((1 << 20) - 40000));
  });

  it.each([
    ['cut inside its deflate data', (b: Buffer) => b.subarray(0, 40), /^layer 1\/1: gzip: unexpected end of file/],
    ['corrupt deflate data', (b: Buffer) => Buffer.concat([b.subarray(0, 12), Buffer.alloc(64, 0x41)]), /^layer 1\/1: gzip: /],
  ])('a gzip %s is a clear error naming the layer', async (_what, mangle, message) => {
    const r = await gzipLayer(mangle(gzipMember(tar)), tar).catch((e) => e);
    expect(r).toMatchObject({ code: 'ERR_INVALID_TAR', layer: 'layer 1/1' });
    expect(r.message).toMatch(message);
  });

  it('a wrong CRC is left to the diff_id, which covers every byte; without a diff_id the CRC is checked', async () => {
    const blob = gzipMember(tar, { crc: zlib.crc32(tar) ^ 1 });
    expect(fs.readFileSync(path.join(await gzipLayer(blob, tar), 'a'), 'utf8')).toBe('a'.repeat(3000));
    const r = await gzipLayer(blob, undefined).catch((e) => e);
    expect(r).toMatchObject({ code: 'ERR_INVALID_TAR' });
    expect(r.message).toMatch(/gzip: incorrect data check/);
  });
});

/** Extracts a layer into a fresh directory; the error it fails with, or undefined. */
async function extractFails(
  layer: TarLayer,
  opts: { cancel?: Int32Array } = {},
): Promise<{ code?: string; message: string; cause?: { code?: string; message: string } } | undefined> {
  const out = path.join(scratch(), 'out');
  fs.mkdirSync(out);
  const fd = fs.openSync(out, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
  open.push(fd);
  return extractLayer(layer, fd, opts).then(
    () => undefined,
    (e) => e,
  );
}

/** `blob` with the byte at `at` flipped (a copy). */
function flipped(blob: Buffer, at: number): Buffer {
  const b = Buffer.from(blob);
  b[at] ^= 0x55;
  return b;
}

describe('a corrupt blob is ERR_DIGEST_MISMATCH, whatever failed while it streamed', () => {
  // Hex text: a flipped byte of its gzip or zstd breaks the decoding (or the tar) before the end.
  const small = rawTar([
    { name: 'a', data: hexText(3000, 1) },
    { name: 'b', data: hexText(3000, 2) },
  ]);
  let big: Buffer | undefined;
  // 6 MiB of tar, over 3 MB compressed: several of the stream's 1 MiB reads are left when the reader fails.
  const large = () =>
    (big ??= rawTar([
      { name: 'a', data: hexText(3 << 20, 3) },
      { name: 'b', data: hexText(3 << 20, 4) },
    ]));

  /** The image's one layer blob, `compression` of `tar`, with the byte at `at` flipped: provisioned, the error it fails with; what the directory holds after. */
  async function provisionFlipped(tar: Buffer, compression: Compression, at: (blob: Buffer) => number) {
    const dir = scratch();
    const blob = compress(tar, compression);
    const bad = flipped(blob, at(blob));
    const layout = ociImage(path.join(dir, 'img'), { layers: [tar], compression });
    fs.writeFileSync(path.join(layout, 'blobs', sha(blob).replace(':', '/')), bad);
    const error = await provision([`oci:${layout}:latest`], path.join(dir, 'root')).catch((e) => e);
    return { error, blob, bad, layout, left: fs.readdirSync(dir).filter((n) => n !== 'img') };
  }

  async function expectMismatch(tar: Buffer, compression: Compression, at: (blob: Buffer) => number, reader: RegExp) {
    const { error, blob, bad, layout, left } = await provisionFlipped(tar, compression, at);
    expect(error).toMatchObject({ code: 'ERR_DIGEST_MISMATCH', layer: `oci:${layout}:latest`, digest: sha(blob) });
    expect(error.message).toMatch(/ layer 1\/1 /);
    expect(error.message).toContain(`blob digest does not match: expected ${sha(blob)}, got ${sha(bad)} (the data also failed to read as a tar: `);
    expect(error.message.slice(error.message.indexOf('(the data also'))).toMatch(reader);
    expect(left).toEqual([]);
  }

  it.each<[string, () => Buffer, Compression, (blob: Buffer) => number, RegExp]>([
    ['a small gzip layer, its deflate data broken', () => small, 'gzip', () => 12, /gzip: /],
    ['a large gzip layer, its deflate data broken at the start', large, 'gzip', () => 12, /gzip: /],
    ['an uncompressed tar layer, its first header broken', () => small, 'none', () => 148, /bad checksum/],
    ['a gzip layer whose first byte is no magic', () => small, 'gzip', () => 0, /not a tar layer/],
  ])("%s: ERR_DIGEST_MISMATCH naming the layer, the reader's error told too; nothing is left", async (_what, tar, compression, at, reader) => {
    await expectMismatch(tar(), compression, at, reader);
  });

  it.runIf(hasZstd).each<[string, () => Buffer, (blob: Buffer) => number]>([
    ['a small zstd layer', () => small, (b) => b.length >> 1],
    ['a large zstd layer', large, () => 100],
  ])("%s: ERR_DIGEST_MISMATCH naming the layer, the decompressor's error told too; nothing is left [needs the zstd command for fixtures]", async (_what, tar, at) => {
    await expectMismatch(tar(), 'zstd', at, /zstd: /);
  });

  it("the reader's error is the cause", async () => {
    const blob = compress(small, 'gzip');
    const file = path.join(scratch(), 'layer');
    fs.writeFileSync(file, flipped(blob, 12));
    const r = await extractFails({ file, label: 'L', digest: sha(blob), size: blob.length, diffId: sha(small) });
    expect(r).toMatchObject({ code: 'ERR_DIGEST_MISMATCH', cause: { code: 'ERR_INVALID_TAR', message: expect.stringMatching(/^L: gzip: /) } });
  });

  it("through the provision's pool too, the reader's error is the cause", async () => {
    const { error } = await provisionFlipped(small, 'gzip', () => 12);
    expect(error).toMatchObject({ code: 'ERR_DIGEST_MISMATCH', cause: { code: 'ERR_INVALID_TAR', message: expect.stringMatching(/ layer 1\/1 .*: gzip: /) } });
  });

  it("a blob that matches its digest keeps the reader's error", async () => {
    const bad = flipped(compress(small, 'gzip'), 12);
    const file = path.join(scratch(), 'layer');
    fs.writeFileSync(file, bad);
    const r = await extractFails({ file, label: 'L', digest: sha(bad), size: bad.length, diffId: sha(small) });
    expect(r).toMatchObject({ code: 'ERR_INVALID_TAR', message: expect.stringMatching(/^L: gzip: /) });
  });

  it.each<[string, Compression, RegExp]>([
    ['an uncompressed one', 'none', /^L: Invalid tar header at byte 0: bad checksum/],
    ['a gzip one', 'gzip', /^L: gzip: /],
  ])("a layer with only a diff_id (a docker-archive's), %s, keeps the reader's error", async (_what, compression, message) => {
    const blob = compress(small, compression);
    const file = path.join(scratch(), 'archive');
    // A member of an archive: 512 bytes before it, more after.
    fs.writeFileSync(file, Buffer.concat([Buffer.alloc(512), flipped(blob, compression === 'none' ? 148 : 12), Buffer.alloc(1024)]));
    const r = await extractFails({ file, label: 'L', start: 512, size: blob.length, diffId: sha(small) });
    expect(r).toMatchObject({ code: 'ERR_INVALID_TAR', message: expect.stringMatching(message) });
  });

  it("the rest of a member is read to its size only: the digest told is of the member's bytes", async () => {
    const blob = compress(small, 'gzip');
    const bad = flipped(blob, 12);
    const file = path.join(scratch(), 'archive');
    fs.writeFileSync(file, Buffer.concat([Buffer.alloc(512), bad, hexText(2 << 20)]));
    const r = await extractFails({ file, label: 'L', start: 512, size: blob.length, digest: sha(blob), diffId: sha(small) });
    expect(r).toMatchObject({ code: 'ERR_DIGEST_MISMATCH' });
    expect(r?.message).toContain(`blob digest does not match: expected ${sha(blob)}, got ${sha(bad)} (`);
  });

  it("a whole blob file longer than its size: a size mismatch, the file's length told", async () => {
    const blob = compress(small, 'gzip');
    const file = path.join(scratch(), 'layer');
    fs.writeFileSync(file, Buffer.concat([flipped(blob, 12), Buffer.alloc(100)]));
    const r = await extractFails({ file, label: 'L', digest: sha(blob), size: blob.length, diffId: sha(small) });
    expect(r).toMatchObject({ code: 'ERR_DIGEST_MISMATCH' });
    expect(r?.message).toMatch(
      new RegExp(`^L: blob size does not match: expected ${blob.length} bytes, got ${blob.length + 100} bytes \\(the data also failed to read as a tar: gzip: `),
    );
  });

  it('the cancel flag stops the reading of the rest: ABORT_ERR', async () => {
    const blob = compress(large(), 'gzip');
    const file = path.join(scratch(), 'layer');
    fs.writeFileSync(file, flipped(blob, 12));
    const cancel = new Int32Array(new SharedArrayBuffer(4));
    cancel[0] = 1;
    const r = await extractFails({ file, label: 'L', digest: sha(blob), size: blob.length, diffId: sha(large()) }, { cancel });
    expect(r).toMatchObject({ code: 'ABORT_ERR' });
  });
});

describe("the blob's hash thread", () => {
  /** Threads of this process named as the native pipes name theirs (native/tarpipe.c). */
  const pipeThreads = () => fs.readdirSync('/proc/self/task').filter((t) => fs.readFileSync(`/proc/self/task/${t}/comm`, 'utf8').trim() === 'layercopy-pipe').length;

  it.runIf(native.tarHashes())('a blob given up before its digest (two gzip members, read again through zlib) leaves no hash thread behind', async () => {
    const tar = rawTar([{ name: 'a', data: 'a'.repeat(3000) }]);
    const blob = Buffer.concat([gzipMember(tar.subarray(0, 2048)), gzipMember(tar.subarray(2048))]);
    const before = pipeThreads();
    const out = await gzipLayer(blob, tar, true);
    expect(fs.readFileSync(path.join(out, 'a'), 'utf8')).toBe('a'.repeat(3000));
    expect(pipeThreads()).toBe(before);
  });
});

describe('a gzip layer pumped by the native helper (native/pump.h)', () => {
  // A thread listed may have ended before its name is read.
  const comm = (t: string) => {
    try {
      return fs.readFileSync(`/proc/self/task/${t}/comm`, 'utf8').trim();
    } catch {
      return '';
    }
  };
  const threads = (name: string) => fs.readdirSync('/proc/self/task').filter((t) => comm(t) === name).length;
  // Not where zlib is the inflater (LAYERCOPY_INFLATE=zlib: CI's second run of these tests).
  const pumps = pumpsHere();
  const tar = rawTar([
    { name: 'a', data: hexText(3 << 20, 5) },
    { name: 'b', data: hexText(1000, 6) },
  ]);

  /**
   * Extracts `layer` into a fresh directory, counting the helper's pump
   * threads seen while it runs (a short pump can come and go between two
   * polls: only a download held open makes `seen` certain) and the bytes
   * the pump itself said it read (`pumpedBytes`: only the native pump
   * writes the progress array).
   */
  async function pumped(layer: TarLayer, opts: { progress?: { read: BigInt64Array; slot: number } } = {}) {
    const progress = opts.progress ?? { read: new BigInt64Array(new SharedArrayBuffer(8)), slot: 0 };
    const out = path.join(scratch(), 'out');
    fs.mkdirSync(out);
    const fd = fs.openSync(out, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
    open.push(fd);
    let seen = 0;
    let running = true;
    const poll = () => {
      seen = Math.max(seen, threads('layercopy-pump'));
      if (running) setImmediate(poll);
    };
    setImmediate(poll);
    try {
      const extracted = await extractLayer(layer, fd, { ...opts, progress });
      return { out, seen, extracted, pumpedBytes: Number(progress.read[progress.slot]) };
    } finally {
      running = false;
    }
  }

  it.runIf(pumps)('reads an image layer on a thread of its own, none left after; the tree, its digest and the blob bytes as through JavaScript', async () => {
    const blob = gzipMember(tar);
    const file = path.join(scratch(), 'layer');
    fs.writeFileSync(file, blob);
    const layer = { file, label: 'L', digest: sha(blob), size: blob.length, diffId: sha(tar) };
    const read = new BigInt64Array(new SharedArrayBuffer(16));
    const { out, extracted, pumpedBytes } = await pumped(layer, { progress: { read, slot: 1 } });
    expect(pumpedBytes).toBe(blob.length);
    expect(threads('layercopy-pump')).toBe(0);
    expect(read[1]).toBe(BigInt(blob.length));
    expect(extracted).toMatchObject({ compressedBytes: blob.length, digest: sha(tar), entries: 2 });
    process.env.LAYERCOPY_PUMP = '0';
    try {
      const js = await pumped(layer);
      expect(js.seen).toBe(0);
      expect(js.pumpedBytes).toBe(0);
      expect(js.extracted).toEqual(extracted);
      // The root has no header: its times are the test's.
      const entries = (root: string) => new Map([...snapshot(root)].filter(([rel]) => rel !== '' && rel !== '.'));
      const [a, b] = [entries(out), entries(js.out)];
      expect(a.size).toBe(2);
      expect(diffSnapshots(a, b)).toEqual([]);
      expect(fs.readFileSync(path.join(out, 'a')).equals(hexText(3 << 20, 5))).toBe(true);
    } finally {
      delete process.env.LAYERCOPY_PUMP;
    }
  });

  it.runIf(pumps)('a header with every optional field, in an archive at an offset with more after it: read to its size, the member alone hashed', async () => {
    const blob = gzipMember(tar, { header: gzipFullHeader() });
    const file = path.join(scratch(), 'archive');
    fs.writeFileSync(file, Buffer.concat([Buffer.alloc(512), blob, hexText(4096)]));
    const { out, extracted, pumpedBytes } = await pumped({ file, label: 'L', start: 512, size: blob.length, digest: sha(blob), diffId: sha(tar) });
    expect(pumpedBytes).toBe(blob.length);
    expect(extracted.compressedBytes).toBe(blob.length);
    expect(fs.readFileSync(path.join(out, 'b')).equals(hexText(1000, 6))).toBe(true);
  });

  /** A blob written to its file in pieces while it is extracted, as a download is (src/images/follow.ts); `fail`: the writer fails halfway. */
  async function downloaded(blob: Buffer, fail = false) {
    const file = path.join(scratch(), 'spool');
    fs.writeFileSync(file, '');
    const follow = followProgress();
    const write = (async () => {
      const piece = 100_000;
      for (let at = 0; at < blob.length; at += piece) {
        if (fail && at >= blob.length / 2) return Atomics.store(follow, 1, BigInt(FOLLOW_FAILED));
        fs.appendFileSync(file, blob.subarray(at, at + piece));
        Atomics.store(follow, 0, BigInt(Math.min(blob.length, at + piece)));
        await new Promise((resolve) => setTimeout(resolve, 3));
      }
      Atomics.store(follow, 1, BigInt(FOLLOW_DONE));
    })();
    const run = pumped({ file, label: 'L', digest: sha(blob), size: blob.length, diffId: sha(tar), follow });
    await write;
    return run;
  }

  it.runIf(pumps)('a download is pumped as it is written, to its last byte', async () => {
    const blob = gzipMember(tar);
    const { out, seen, extracted } = await downloaded(blob);
    expect(seen).toBe(1);
    expect(extracted.compressedBytes).toBe(blob.length);
    expect(fs.readFileSync(path.join(out, 'a')).equals(hexText(3 << 20, 5))).toBe(true);
  });

  it.runIf(pumps)('a download that fails stops the pump: ABORT_ERR (the pull tells its own error)', async () => {
    await expect(downloaded(gzipMember(tar), true)).rejects.toMatchObject({ code: 'ABORT_ERR' });
  });

  it.runIf(pumps)('a header past 64 KiB (a long FEXTRA) is read through zlib instead, every file there', async () => {
    const fixed = Buffer.from([0x1f, 0x8b, 8, 4, 0, 0, 0, 0, 0, 3]);
    const header = Buffer.concat([fixed, Buffer.from([0xff, 0xff]), Buffer.alloc(0xffff, 7)]);
    const blob = gzipMember(tar, { header });
    const out = await gzipLayer(blob, tar, true);
    expect(fs.readFileSync(path.join(out, 'a')).equals(hexText(3 << 20, 5))).toBe(true);
  });
});

describe('a pumped gzip layer that fails: the error the JavaScript path gives, cause and all', () => {
  const pumps = pumpsHere();
  const tar = rawTar([{ name: 'a', data: hexText(200_000, 3) }]);

  /** The error extracting `blob` (its own digest and size) gives, pumped or with LAYERCOPY_PUMP=0. */
  async function failure(blob: Buffer, js: boolean): Promise<LayercopyError> {
    const { file, fd } = blobFile(blob);
    if (js) process.env.LAYERCOPY_PUMP = '0';
    try {
      await extractLayer({ file, label: 'L', digest: sha(blob), size: blob.length, diffId: sha(tar) }, fd);
    } catch (error) {
      return error as LayercopyError;
    } finally {
      delete process.env.LAYERCOPY_PUMP;
    }
    throw new Error('the layer extracted');
  }
  const shape = (e: LayercopyError) => {
    const cause = e.cause as { message?: string; code?: string; constructor: { name: string } };
    return { code: e.code, message: e.message, cause: { type: cause.constructor.name, message: cause.message, code: cause.code } };
  };

  it.runIf(pumps)('a blob that ends inside its member header: "gzip: unexpected end of file" from the reader (no zlib code), not read again through zlib', async () => {
    const blob = gzipMember(tar, { header: gzipFullHeader() }).subarray(0, 14);
    const pumped = await failure(blob, false);
    expect(shape(pumped)).toEqual({
      code: 'ERR_INVALID_TAR',
      message: 'L: gzip: unexpected end of file',
      cause: { type: 'Error', message: 'unexpected end of file', code: undefined },
    });
    expect(shape(pumped)).toEqual(shape(await failure(blob, true)));
  });

  it.runIf(pumps)('a blob of no bytes in an archive, gzip magic bytes after it: "gzip: unexpected end of file", pumped or not', async () => {
    const dir = scratch();
    const file = path.join(dir, 'archive');
    fs.writeFileSync(file, Buffer.concat([Buffer.alloc(512), gzipMember(tar)]));
    const layer = { file, label: 'L', start: 512, size: 0, digest: sha(Buffer.alloc(0)), diffId: sha(tar) };
    const shapes = [];
    for (const js of [false, true]) {
      fs.mkdirSync(path.join(dir, `out${js}`));
      const fd = fs.openSync(path.join(dir, `out${js}`), fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
      open.push(fd);
      if (js) process.env.LAYERCOPY_PUMP = '0';
      shapes.push(
        await extractLayer(layer, fd).then(
          () => 'extracted',
          (error) => shape(error),
        ),
      );
      delete process.env.LAYERCOPY_PUMP;
    }
    expect(shapes[0]).toEqual({
      code: 'ERR_INVALID_TAR',
      message: 'L: gzip: unexpected end of file',
      cause: { type: 'Error', message: 'unexpected end of file', code: undefined },
    });
    expect(shapes[1]).toEqual(shapes[0]);
  });

  it.runIf(pumps)("corrupt deflate data: ISA-L's words with code ERR_ISAL as the cause", async () => {
    const blob = gzipMember(tar);
    blob[10] |= 0x06; // the first block's type: 3, reserved
    const pumped = await failure(blob, false);
    expect(shape(pumped)).toEqual({
      code: 'ERR_INVALID_TAR',
      message: 'L: gzip: invalid deflate block',
      cause: { type: 'Error', message: 'invalid deflate block', code: 'ERR_ISAL' },
    });
    expect(shape(pumped)).toEqual(shape(await failure(blob, true)));
  });
});
