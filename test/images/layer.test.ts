// Tar layers read at once share what each holds (native/claims.h): a lower
// layer's file that a higher layer already hides is left empty in its
// scratch directory, and a hardlink that stays to such a file makes the
// layer be read again in full. Driven one layer after the other here, so
// that what a higher layer claims is known when the lower one is read.
// And gzip layers whose diff_id is checked, inflated without zlib's CRC:
// the fallback to zlib's gunzip for what is not one plain member.
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { afterEach, describe, expect, it } from 'vitest';
import { native } from '../../src/core/native.cjs';
import { extractLayer } from '../../src/images/layer.js';
import { lstat, scratch } from '../helpers.js';
import { gzipMember, type RawEntry, rawTar, sha } from './fixtures.js';

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

describe('tar layers read with a claims set', () => {
  it('a file a higher layer replaces, whites out or hides under an opaque directory is left empty; the others are written', async () => {
    const dir = scratch();
    await withClaims(async (id) => {
      await layer(
        dir,
        'upper',
        [
          { name: 'replaced', data: 'upper' },
          { name: '.wh.gone', data: '' },
          { name: 'etc/.wh..wh..opq', data: '' },
          { name: '.wh.tree', data: '' },
        ],
        { id, layer: 1 },
      );
      const lower = await layer(
        dir,
        'lower',
        [
          { name: 'replaced', data: 'lower data' },
          { name: 'gone', data: 'lower data' },
          { name: 'etc/conf', data: 'lower data' },
          { name: 'tree/deep/file', data: 'lower data' },
          { name: 'kept', data: 'lower data' },
        ],
        { id, layer: 0 },
      );
      for (const rel of ['replaced', 'gone', 'etc/conf', 'tree/deep/file']) expect(fs.statSync(path.join(lower, rel)).size, rel).toBe(0);
      expect(fs.readFileSync(path.join(lower, 'kept'), 'utf8')).toBe('lower data');
    });
  });

  it('a hardlink that stays, to a file a higher layer hides: the layer is read again in full', async () => {
    const dir = scratch();
    await withClaims(async (id) => {
      await layer(dir, 'upper', [{ name: 'a', data: 'upper' }], { id, layer: 1 });
      const lower = await layer(
        dir,
        'lower',
        [
          { name: 'a', data: 'group' },
          { name: 'b', type: '1', linkname: 'a' },
        ],
        { id, layer: 0 },
      );
      expect(fs.readFileSync(path.join(lower, 'b'), 'utf8')).toBe('group');
      expect(lstat(path.join(lower, 'b')).ino).toBe(lstat(path.join(lower, 'a')).ino);
    });
  });

  it('a hardlink that a higher layer hides too, to a hidden file: no second read (both left as they are)', async () => {
    const dir = scratch();
    await withClaims(async (id) => {
      await layer(dir, 'upper', [{ name: '.wh.d', data: '' }], { id, layer: 1 });
      const lower = await layer(
        dir,
        'lower',
        [
          { name: 'd/a', data: 'group' },
          { name: 'd/b', type: '1', linkname: 'd/a' },
        ],
        { id, layer: 0 },
      );
      expect(fs.statSync(path.join(lower, 'd/b')).size).toBe(0);
      expect(lstat(path.join(lower, 'd/b')).ino).toBe(lstat(path.join(lower, 'd/a')).ino);
    });
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

/** Extracts `blob` (a gzip of `tar`) as a layer whose diff_id is the tar's sha256 (or none); the directory it went to. */
async function gzipLayer(blob: Buffer, tar: Buffer | undefined): Promise<string> {
  const dir = scratch();
  const file = path.join(dir, 'layer.gz');
  fs.writeFileSync(file, blob);
  fs.mkdirSync(path.join(dir, 'out'));
  const fd = fs.openSync(path.join(dir, 'out'), fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
  open.push(fd);
  await extractLayer({ file, label: 'layer 1/1', diffId: tar && sha(tar) }, fd);
  return path.join(dir, 'out');
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
