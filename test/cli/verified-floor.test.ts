// The bench's verified floor as a C program (native/baseline/verified_floor.c),
// built as the bench builds it: every digest checked, through zlib and
// through ISA-L, and each failure a non-zero exit naming the layer.
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { execa } from 'execa';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildVerifiedFloor } from '../../src/cli/bench-process.js';
import { native } from '../../src/core/native.cjs';
import { scratch } from '../helpers.js';
import { compress, gzipMember, hasZstd, rawTar, sha } from '../images/fixtures.js';

const tar = rawTar([
  { name: 'a', data: 'x'.repeat(5000) },
  { name: 'b', data: Buffer.from(Array.from({ length: 300_000 }, (_, i) => (i * 7919) % 253)).toString('latin1') },
]);

/** A layer file holding `blob` and its floor arguments: FILE START SIZE DIGEST DIFFID. */
function layer(blob: Buffer, diffId: string | undefined = sha(tar)): string[] {
  const file = path.join(scratch(), 'layer');
  fs.writeFileSync(file, blob);
  return [file, '-', String(blob.length), sha(blob), diffId ?? '-'];
}

let program: string | undefined;
beforeAll(async () => {
  program = await buildVerifiedFloor(scratch());
});

describe.each([
  ['zlib', true],
  ['isal', native.isalOpen() !== null],
] as const)('the verified floor in C, gzip through %s [needs cc]', (inflater, present) => {
  const floor = (...layers: string[][]) => execa(program!, [inflater, '2', ...layers.flat()], { reject: false });

  it.runIf(present)('checks every digest of good layers (gzip, two members, zeros after, plain tar) and exits 0', async () => {
    const two = Buffer.concat([gzipMember(tar.subarray(0, 1024)), gzipMember(tar.subarray(1024))]);
    const r = await floor(layer(zlib.gzipSync(tar)), layer(two), layer(Buffer.concat([gzipMember(tar), Buffer.alloc(100)])), layer(tar));
    expect(r.stderr).toBe('');
    expect(r.exitCode).toBe(0);
  });

  it.runIf(present && hasZstd)('a zstd layer: through libzstd, its diff_id checked [needs the zstd command for fixtures]', async () => {
    expect((await floor(layer(compress(tar, 'zstd')))).exitCode).toBe(0);
    const r = await floor(layer(compress(tar, 'zstd'), sha(Buffer.from('other'))));
    expect(r.stderr).toMatch(/diff_id does not match/);
  });

  it.runIf(present).each([
    ['a blob digest that is not its own', (a: string[]) => [a[0], a[1], a[2], sha(Buffer.from('other')), a[4]], /: blob digest does not match$/],
    ['a size one byte more', (a: string[]) => [a[0], a[1], String(Number(a[2]) + 1), a[3], a[4]], /: blob size does not match$/],
    ['a diff_id that is not the tar', (a: string[]) => [a[0], a[1], a[2], a[3], sha(Buffer.from('other'))], /: diff_id does not match$/],
  ])('%s: exit 1, naming the layer', async (_what, change, message) => {
    const args = change(layer(zlib.gzipSync(tar)));
    const r = await floor(args);
    expect(r.exitCode).toBe(1);
    expect(r.stderr.trim()).toMatch(message);
    expect(r.stderr).toContain(args[0]);
  });

  it.runIf(present).each([
    ['cut inside its deflate data', (b: Buffer) => b.subarray(0, 300), /unexpected end of the compressed stream/],
    ['corrupt deflate data', (b: Buffer) => Buffer.concat([b.subarray(0, 10), Buffer.from([0x07]), Buffer.alloc(64)]), /invalid/],
    ['bytes after its member', (b: Buffer) => Buffer.concat([b, Buffer.from('junk')]), /bytes after the last gzip member/],
  ])('a gzip %s: exit 1', async (_what, mangle, message) => {
    const r = await floor(layer(mangle(zlib.gzipSync(tar)), undefined));
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toMatch(message);
  });

  it.runIf(present)('a layer given by its place in a file (a docker-archive member): only those bytes read', async () => {
    const blob = zlib.gzipSync(tar);
    const file = path.join(scratch(), 'archive');
    fs.writeFileSync(file, Buffer.concat([Buffer.alloc(1000, 1), blob, Buffer.alloc(500, 2)]));
    expect((await floor([file, '1000', String(blob.length), sha(blob), sha(tar)])).exitCode).toBe(0);
  });
});
