// The tar format as the native reader (native/tar.c) takes it: GNU records,
// base-256 numbers, the end of the archive, header-only types, and what a
// broken or hostile tar gets (a clear error, nothing outside, nothing left),
// down to random corruptions of a real layer (run under the sanitizers too).
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { provision } from '../../src/index.js';
import { buildLayer, diffSnapshots, isRoot, lstat, native, scratch, snapshot } from '../helpers.js';
import { rawTar, tarDir } from './fixtures.js';

const leftovers = (dir: string) => fs.readdirSync(dir).filter((n) => n === 'root' || n.includes('layercopy'));

/** Provisions the tar layers (written to files) into dir/root; resolves to the summary or the error. */
async function fromTars(dir: string, ...tars: Buffer[]) {
  const files = tars.map((tar, i) => {
    const file = path.join(dir, `layer${i}.tar`);
    fs.writeFileSync(file, tar);
    return file;
  });
  return provision(files, path.join(dir, 'root')).catch((e) => e);
}

/** The tar with header block `block` changed by edit, its checksum made right again. */
function patchHeader(tar: Buffer, block: number, edit: (h: Buffer) => void): Buffer {
  const out = Buffer.from(tar);
  const h = out.subarray(block * 512, block * 512 + 512);
  edit(h);
  h.fill(0x20, 148, 156);
  let sum = 0;
  for (const b of h) sum += b;
  h.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
  return out;
}

describe('the tar format', () => {
  it.each([
    ['unsigned: accepted', true, 0],
    ['signed, as old tars sum (bytes past 0x7f count negative): accepted', false, 0],
    ['unsigned, one off: refused', true, 1],
  ])('a header checksum summed %s', async (name, unsigned, off) => {
    const dir = scratch();
    const src = buildLayer(path.join(dir, 'src'), { 'caf\u00e9': 'x' });
    // The name's UTF-8 bytes (0xc3 0xa9) are past 0x7f: signed and unsigned sums differ.
    const tar = Buffer.from(tarDir(src, 'gnu'));
    const at = tar.indexOf('./caf\u00e9');
    const h = tar.subarray(at - (at % 512), at - (at % 512) + 512);
    h.fill(0x20, 148, 156);
    let sum = off;
    for (const b of h) sum += unsigned || b < 0x80 ? b : b - 256;
    h.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
    const r = await fromTars(dir, tar);
    if (name.endsWith('accepted')) expect(fs.readFileSync(path.join(dir, 'root/caf\u00e9'), 'utf8')).toBe('x');
    else expect([(r as Error).message, fs.existsSync(path.join(dir, 'root'))]).toEqual([expect.stringMatching(/bad checksum/), false]);
  });

  it('a hardlink whose target passes through a symlink of the layer: refused naming the hardlink, not the target with an ELOOP', async () => {
    const dir = scratch();
    const r = await fromTars(
      dir,
      rawTar([
        { name: 'a', type: '2', linkname: '/etc' },
        { name: 'h', type: '1', linkname: 'a/passwd' },
      ]),
    );
    expect(r).toMatchObject({
      code: 'ERR_INVALID_TAR',
      path: `${dir}/layer0.tar:/h`,
      message: expect.stringMatching(/:\/h: hardlink target \/a\/passwd passes through a symlink: a hardlink names a file of the layer by its own path$/),
    });
    expect(leftovers(dir)).toEqual([]);
  });

  it('an entry with more extended attributes than a real layer holds (256) is refused: they are matched by name as each comes', async () => {
    const dir = scratch();
    const xattrs = (n: number) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`SCHILY.xattr.user.k${i}`, 'v']));
    const ok = await fromTars(dir, rawTar([{ name: 'f', data: 'x', pax: xattrs(256) }]));
    expect(ok.entries).toBeGreaterThan(0);
    expect(Object.keys(native.lgetxattrs(path.join(dir, 'root/f'))).filter((n) => n.startsWith('user.k'))).toHaveLength(256);
    fs.rmSync(path.join(dir, 'root'), { recursive: true });
    const r = await fromTars(dir, rawTar([{ name: 'f', data: 'x', pax: xattrs(257) }]));
    expect(r).toMatchObject({ code: 'ERR_INVALID_TAR', message: expect.stringMatching(/: more than 256 extended attributes on one entry$/) });
    expect(leftovers(dir)).toEqual([]);
  });

  it("GNU tar's own format: long names and link targets as 'L'/'K' records", async () => {
    const dir = scratch();
    const long = `${'d'.repeat(90)}/${'n'.repeat(150)}`;
    const src = buildLayer(path.join(dir, 'src'), { [long]: 'long', [`${long}-hard`]: { link: long }, sym: { symlink: `../${'t'.repeat(180)}` } });
    // GNU's format keeps whole seconds.
    for (const rel of [long, `${long}-hard`, 'sym', path.dirname(long), '.']) fs.lutimesSync(path.join(src, rel), 1_600_000_000, 1_600_000_000);
    const tar = tarDir(src, 'gnu');
    expect(tar.includes('././@LongLink')).toBe(true);
    expect(tar.includes('PaxHeaders')).toBe(false);
    const r = await fromTars(dir, tar);
    expect(r).not.toBeInstanceOf(Error);
    expect(diffSnapshots(snapshot(src, { atime: false }), snapshot(path.join(dir, 'root'), { atime: false }))).toEqual([]);
    expect(lstat(path.join(dir, 'root', long)).ino).toBe(lstat(path.join(dir, 'root', `${long}-hard`)).ino);
  });

  it.runIf(isRoot)('owners past 8^8 in base-256 fields (GNU), kept [needs root: chown]', async () => {
    const dir = scratch();
    const src = buildLayer(path.join(dir, 'src'), { f: 'x' });
    fs.chownSync(path.join(src, 'f'), 3_000_000_000, 4_000_000_000);
    const tar = tarDir(src, 'gnu');
    expect(tar[512 + 108] & 0x80).toBe(0x80); // ./f follows ./
    await fromTars(dir, tar);
    expect(lstat(path.join(dir, 'root/f'))).toMatchObject({ uid: 3_000_000_000n, gid: 4_000_000_000n });
  });

  it.each([
    ['old GNU (type S)', ['--format=gnu']],
    ['PAX 0.0', ['--format=posix', '--sparse-version=0.0']],
    ['PAX 0.1', ['--format=posix', '--sparse-version=0.1']],
    ['PAX 1.0', ['--format=posix', '--sparse-version=1.0']],
  ])('a sparse file, %s: its data at its offsets, its holes kept, its size', async (_name, format) => {
    const dir = scratch();
    const src = path.join(dir, 'src');
    fs.mkdirSync(src);
    const file = path.join(src, 'sparse.img');
    const fd = fs.openSync(file, 'w');
    fs.writeSync(fd, Buffer.alloc(5000, 'A'), 0, 5000, 1 << 20);
    fs.writeSync(fd, Buffer.alloc(100, 'B'), 0, 100, 3 << 20);
    fs.ftruncateSync(fd, (4 << 20) + 123);
    fs.closeSync(fd);
    // Many segments too (an old GNU header holds four; the rest go in extension blocks).
    const many = path.join(src, 'many.img');
    const fd2 = fs.openSync(many, 'w');
    for (let i = 0; i < 30; i++) fs.writeSync(fd2, Buffer.from(`segment-${String(i).padStart(2, '0')}`), 0, 10, i * 65536 * 2);
    fs.closeSync(fd2);
    const tar = execFileSync('tar', [...format, '--sparse', '--numeric-owner', '-C', src, '-cf', '-', '.'], { maxBuffer: 1 << 26 });
    expect(tar.length).toBeLessThan(1 << 20);
    const r = await fromTars(dir, tar);
    expect(r).not.toBeInstanceOf(Error);
    for (const name of ['sparse.img', 'many.img']) {
      const out = path.join(dir, 'root', name);
      expect(fs.readFileSync(out).equals(fs.readFileSync(path.join(src, name))), name).toBe(true);
      expect(Number(lstat(out).blocks) * 512, name).toBeLessThan(fs.statSync(out).size / 4);
    }
  });

  it('a time before 1970 in a negative base-256 field (GNU tar) is kept, to the second', async () => {
    const dir = scratch();
    const src = buildLayer(path.join(dir, 'src'), { old: 'x' });
    execFileSync('touch', ['-h', '-d', '1960-01-01 00:00:00Z', path.join(src, 'old')]);
    const tar = path.join(dir, 'neg.tar');
    execFileSync('tar', ['--format=gnu', '-C', src, '-cf', tar, 'old']);
    expect(fs.readFileSync(tar)[136]).toBe(0xff); // the field is base-256, negative
    await provision([tar], path.join(dir, 'root'));
    expect(Math.floor(fs.lstatSync(path.join(dir, 'root', 'old')).mtimeMs / 1000)).toBe(-315619200);
  });

  it('a header-only type carries no data, whatever its size field says (as Go archive/tar reads it)', async () => {
    const dir = scratch();
    const tar = patchHeader(
      rawTar([
        { name: 'link', type: '2', linkname: 'target' },
        { name: 'after', data: 'a' },
      ]),
      0,
      (h) => h.write('00000001750\0', 124, 'latin1'),
    );
    expect(await fromTars(dir, tar)).not.toBeInstanceOf(Error);
    expect(fs.readlinkSync(path.join(dir, 'root/link'))).toBe('target');
    expect(fs.readFileSync(path.join(dir, 'root/after'), 'utf8')).toBe('a');
  });

  it('what follows the two zero blocks that end the archive is not read', async () => {
    const dir = scratch();
    expect(await fromTars(dir, Buffer.concat([rawTar([{ name: 'in', data: 'i' }]), rawTar([{ name: 'after-the-end', data: 'x' }])]))).not.toBeInstanceOf(Error);
    expect(fs.readdirSync(path.join(dir, 'root'))).toEqual(['in']);
  });

  it('a tar without end blocks ends where its last entry does', async () => {
    const dir = scratch();
    const tar = rawTar([{ name: 'a', data: 'a' }]);
    expect(await fromTars(dir, tar.subarray(0, tar.length - 1024))).not.toBeInstanceOf(Error);
    expect(fs.readdirSync(path.join(dir, 'root'))).toEqual(['a']);
  });

  // umoci 0.4's `insert` writes its layers so, and `umoci unpack` (Go's
  // archive/tar) reads them: the end of the data there is the archive's end.
  it.each([
    ['without', 0],
    ['with part of', 100],
  ])('a tar that ends after its last file %s the padding ends where that file does, alone and under a layer', async (_name, pad) => {
    const dir = scratch();
    const tar = rawTar([{ name: 'a', data: 'hello' }]);
    const cut = tar.subarray(0, 512 + 5 + pad);
    expect(await fromTars(dir, cut)).not.toBeInstanceOf(Error);
    expect(fs.readFileSync(path.join(dir, 'root/a'), 'utf8')).toBe('hello');
    const under = scratch();
    expect(await fromTars(under, rawTar([{ name: 'b', data: 'b' }]), cut)).not.toBeInstanceOf(Error);
    expect(fs.readdirSync(path.join(under, 'root')).sort()).toEqual(['a', 'b']);
  });

  it('a directory replaced by a file and made again by a later name: nothing of the old one stays, its metadata neither', async () => {
    const dir = scratch();
    const r = await fromTars(
      dir,
      rawTar([
        { name: 'd', type: '5', mode: 0o700 },
        { name: 'd/e', type: '5', mode: 0o750 },
        { name: 'd/e/old', data: 'old' },
        { name: 'd', data: 'now a file' },
        { name: 'd/e/new', data: 'new' },
      ]),
    );
    expect(r).not.toBeInstanceOf(Error);
    expect(fs.readdirSync(path.join(dir, 'root/d/e'))).toEqual(['new']);
    // Implied parents again (0755), not the modes of the directories the file replaced.
    expect(Number(lstat(path.join(dir, 'root/d')).mode) & 0o7777).toBe(0o755);
    expect(Number(lstat(path.join(dir, 'root/d/e')).mode) & 0o7777).toBe(0o755);
  });

  it('a hardlink whose first name a higher layer hides keeps the content', async () => {
    const dir = scratch();
    const r = await fromTars(
      dir,
      rawTar([
        { name: 'a', data: 'group' },
        { name: 'b', type: '1', linkname: 'a' },
        { name: 'c', type: '1', linkname: 'a' },
      ]),
      rawTar([{ name: '.wh.a', data: '' }]),
    );
    expect(r).not.toBeInstanceOf(Error);
    expect(fs.readdirSync(path.join(dir, 'root')).sort()).toEqual(['b', 'c']);
    expect(fs.readFileSync(path.join(dir, 'root/b'), 'utf8')).toBe('group');
    expect(lstat(path.join(dir, 'root/b')).ino).toBe(lstat(path.join(dir, 'root/c')).ino);
  });

  it.each([
    ['a truncated tar', () => rawTar([{ name: 'big', data: 'x'.repeat(2000) }]).subarray(0, 1500), /big: unexpected end of data: the tar is truncated/],
    [
      'a lone zero block before a header',
      () => Buffer.concat([rawTar([{ name: 'a', data: 'a' }]).subarray(0, 1024), Buffer.alloc(512), rawTar([{ name: 'b', data: 'b' }])]),
      /a lone zero block/,
    ],
    [
      'a PAX header claiming 2 MiB',
      () => patchHeader(rawTar([{ name: 'a', data: 'a', pax: { path: 'b' } }]), 0, (h) => h.write('00010000000\0', 124, 'latin1')),
      /PAX header of 2097152 bytes .*more than 1 MiB/,
    ],
    ['a malformed PAX record', () => rawTar([{ name: 'a', data: 'a', pax: { path: 'b' } }]).fill('9', 512, 514), /invalid PAX record/],
    ['a PAX size that is not a number', () => rawTar([{ name: 'a', data: 'a', pax: { size: '12abc' } }]), /invalid PAX size/],
    ['records with no header after them', () => rawTar([{ name: 'a', data: 'a', pax: { path: 'b' } }]).subarray(0, 1024), /truncated/],
    ['a bad base-256 field', () => patchHeader(rawTar([{ name: 'a', data: 'a' }]), 0, (h) => h.fill(0xff, 124, 136).writeUInt8(0x80, 124)), /bad size field/],
    [
      'an unknown format (no ustar magic)',
      () =>
        patchHeader(
          rawTar([
            { name: 'a', data: 'a' },
            { name: 'b', data: 'b' },
          ]),
          2,
          (h) => h.write('tar\0\0\0', 257, 'latin1'),
        ),
      /unknown format/,
    ],
    ['a sparse map past the file', () => rawTar([{ name: 'a', data: 'a', pax: { 'GNU.sparse.map': '100,1', 'GNU.sparse.size': '50' } }]), /sparse map segment lies past/],
    [
      'a sparse map that does not match the data',
      () => rawTar([{ name: 'a', data: 'ab', pax: { 'GNU.sparse.map': '0,1', 'GNU.sparse.size': '10' } }]),
      /does not match the data stored/,
    ],
    ['sparse segments out of order', () => rawTar([{ name: 'a', data: 'ab', pax: { 'GNU.sparse.map': '5,1,0,1', 'GNU.sparse.size': '10' } }]), /overlap or are out of order/],
    [
      'a PAX 1.0 map that runs past the data',
      () => rawTar([{ name: 'a', data: '3\n0\n', pax: { 'GNU.sparse.major': '1', 'GNU.sparse.minor': '0', 'GNU.sparse.realsize': '9' } }]),
      /runs past the data/,
    ],
  ])('%s: ERR_INVALID_TAR or ERR_UNSUPPORTED_ENTRY naming the layer; nothing left', async (_name, make, message) => {
    const dir = scratch();
    const r = await fromTars(dir, make());
    expect(r).toBeInstanceOf(Error);
    expect(r.code).toMatch(/^ERR_(INVALID_TAR|UNSUPPORTED_ENTRY)$/);
    expect(r.message).toMatch(/layer0\.tar/);
    expect(r.message).toMatch(message);
    expect(leftovers(dir)).toEqual([]);
  });

  it.each([
    ['alone', 1],
    ['over a layer', 2],
  ])('a tarball layer that fails to read is named "layer N (FILE)", as a directory layer is (%s)', async (_name, count) => {
    const dir = scratch();
    const cut = rawTar([{ name: 'big', data: 'x'.repeat(2000) }]).subarray(0, 1500);
    const r = await fromTars(dir, ...[rawTar([{ name: 'a', data: 'a' }]), cut].slice(2 - count));
    expect(r.message).toMatch(new RegExp(`^layer ${count} \\(${dir}/layer${count - 1}\\.tar\\): ${dir}/layer${count - 1}\\.tar:/big: unexpected end of data`));
    expect([r.layerIndex, leftovers(dir)]).toEqual([count - 1, []]);
  });

  it('a name that climbs out is named as the tar writes it, after the tarball: FILE:/a/../../escape', async () => {
    const dir = scratch();
    const r = await fromTars(dir, rawTar([{ name: 'a/../../escape', data: 'x' }]));
    expect(r).toMatchObject({ code: 'ERR_INVALID_TAR', path: `${dir}/layer0.tar:/a/../../escape` });
    expect(r.message).toBe(`layer 1 (${dir}/layer0.tar): ${dir}/layer0.tar:/a/../../escape: a name with a .. component would climb out of the layer`);
  });

  it('random corruptions of a real layer: each provisions or fails with a layercopy error; nothing outside, nothing left', async () => {
    const dir = scratch();
    const src = buildLayer(path.join(dir, 'src'), {
      'etc/motd': { file: 'hello', mode: 0o640, xattrs: { 'user.a': Buffer.from([1, 2, 3]) } },
      'etc/hard': { link: 'etc/motd' },
      [`${'d'.repeat(120)}/${'n'.repeat(120)}`]: 'long',
      'usr/sym': { symlink: '../../../outside' },
      'usr/.wh.gone': '',
      big: Buffer.alloc(3000, 7),
    });
    const tar = tarDir(src);
    const outside = path.join(dir, 'outside');
    fs.mkdirSync(outside);
    // A deterministic generator: a failure is reproducible from its index.
    let seed = 12345;
    const next = () => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed;
    };
    const codes = new Set<string>();
    for (let i = 0; i < 60; i++) {
      const bad = Buffer.from(tar);
      for (let n = 1 + (next() % 4); n > 0; n--) bad[next() % Math.min(bad.length, 8192)] = next() & 0xff;
      const cut = next() % 5 === 0 ? bad.subarray(0, next() % bad.length) : bad;
      const run = path.join(dir, `run${i}`);
      fs.mkdirSync(run);
      const r = await fromTars(run, cut);
      if (r instanceof Error) {
        codes.add(String((r as { code?: string }).code));
        expect((r as { code?: string }).code, `run ${i}: ${r.message}`).toMatch(/^(ERR_INVALID_TAR|ERR_UNSUPPORTED_ENTRY|ERR_INVALID_WHITEOUT|E[A-Z]+)$/);
        expect(leftovers(run), `run ${i}`).toEqual([]);
      }
      fs.rmSync(run, { recursive: true, force: true });
    }
    expect(fs.readdirSync(outside)).toEqual([]);
    expect(codes.has('ERR_INVALID_TAR')).toBe(true);
  });
});
