// The members of an uncompressed tar, found by the native reader's header
// rules: tars written here byte by byte, for what GNU tar writes only in
// some cases (base-256 numbers, PAX sizes) or never (signed checksums,
// cut-short files).
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { readMember, scanTar } from '../../src/images/members.js';
import { scratch } from '../helpers.js';

interface Header {
  /** The name field's bytes (latin1 for a string). */
  name: string | Buffer;
  type?: string;
  /** The size field: a number written in octal, or the field's 12 bytes as given (base-256). */
  size: number | Buffer;
  prefix?: string;
  magic?: 'ustar' | 'gnu';
  /** 'signed': the checksum of the bytes read as signed, as some old tars wrote it; 'bad': off by one. */
  checksum?: 'unsigned' | 'signed' | 'bad';
  /** Bytes to write at an offset of the block (GNU sparse fields). */
  raw?: [number, Buffer][];
}

function header(h: Header): Buffer {
  const b = Buffer.alloc(512);
  const put = (s: string | Buffer, at: number, len: number) => (typeof s === 'string' ? Buffer.from(s, 'latin1') : s).copy(b, at, 0, len);
  const oct = (n: number, len: number) => `${n.toString(8).padStart(len - 1, '0')}\0`;
  put(h.name, 0, 100);
  put(oct(0o644, 8), 100, 8);
  put(oct(0, 8), 108, 8);
  put(oct(0, 8), 116, 8);
  put(typeof h.size === 'number' ? oct(h.size, 12) : h.size, 124, 12);
  put(oct(1_000_000_000, 12), 136, 12);
  put(h.type ?? '0', 156, 1);
  put(h.magic === 'gnu' ? 'ustar  \0' : 'ustar\u000000', 257, 8);
  if (h.prefix) put(h.prefix, 345, 155);
  for (const [at, bytes] of h.raw ?? []) put(bytes, at, bytes.length);
  b.fill(' ', 148, 156);
  let sum = 0;
  for (const byte of b) sum += h.checksum === 'signed' && byte >= 0x80 ? byte - 256 : byte;
  if (h.checksum === 'bad') sum += 1;
  put(`${(sum >>> 0).toString(8).padStart(6, '0')}\0 `, 148, 8);
  return b;
}

const padded = (data: Buffer) => Buffer.concat([data, Buffer.alloc((512 - (data.length % 512)) % 512)]);
const END = Buffer.alloc(1024);

/** A member: its header and its data, padded. */
const member = (h: Omit<Header, 'size'> & { size?: Header['size'] }, data: string | Buffer) => {
  const bytes = Buffer.from(data);
  return Buffer.concat([header({ size: bytes.length, ...h }), padded(bytes)]);
};

/** PAX records ('x' header and its data) for the next header. */
const pax = (records: Record<string, string>) => {
  const body = Buffer.concat(
    Object.entries(records).map(([k, v]) => {
      const rec = ` ${k}=${v}\n`;
      let len = Buffer.byteLength(rec);
      len += String(len + String(len).length).length;
      return Buffer.from(`${len}${rec}`);
    }),
  );
  return member({ name: 'PaxHeaders/x', type: 'x' }, body);
};

/** A 12-byte base-256 (GNU binary) number field. */
function base256(n: bigint): Buffer {
  const b = Buffer.alloc(12);
  for (let i = 11; i > 0; i--, n >>= 8n) b[i] = Number(n & 0xffn);
  b[0] = 0x80;
  return b;
}

function write(...parts: Buffer[]): string {
  const file = path.join(scratch(), 'archive.tar');
  fs.writeFileSync(file, Buffer.concat(parts));
  return file;
}

const read = (file: string, name: string) => {
  const m = scanTar(file, 'test-archive').get(name);
  return m && readMember(file, m).toString('latin1');
};

describe('scanTar: the members of a tar file by their headers', () => {
  it('a base-256 size field: the member and the one after it are found at their offsets', () => {
    const file = write(member({ name: 'big', size: base256(600n) }, 'x'.repeat(600)), member({ name: 'after' }, 'after'), END);
    expect(scanTar(file, 'test-archive').get('big')).toEqual({ offset: 512, size: 600, name: 'big' });
    expect(read(file, 'after')).toBe('after');
  });

  it('a size past 2^53 is refused naming the member, not wrapped', () => {
    const file = write(member({ name: 'huge', size: base256(2n ** 60n) }, 'x'), END);
    expect(() => scanTar(file, 'test-archive')).toThrow(
      expect.objectContaining({ code: 'ERR_INVALID_IMAGE', message: expect.stringMatching(/^test-archive: member huge at offset 0: 1152921504606846976 bytes .*past 2\^53/) }),
    );
  });

  it('a checksum of the bytes read as signed is accepted, as tar accepts it', () => {
    const name = Buffer.from('caf\xe9-\xff', 'latin1');
    const file = write(member({ name, checksum: 'signed' }, 'signed'), END);
    expect(read(file, name.toString('latin1'))).toBe('signed');
  });

  it('a bad checksum: ERR_INVALID_IMAGE naming the archive and the header offset', () => {
    const file = write(member({ name: 'a' }, 'a'), member({ name: 'b', checksum: 'bad' }, 'b'), END);
    expect(() => scanTar(file, 'test-archive')).toThrow(
      expect.objectContaining({ code: 'ERR_INVALID_IMAGE', message: 'test-archive: bad tar header at offset 1024: bad checksum (a corrupt tar, or one still compressed)' }),
    );
  });

  it('a PAX path record names the member', () => {
    const long = `blobs/sha256/${'d'.repeat(64)}/${'n'.repeat(80)}`;
    const file = write(pax({ path: long }), member({ name: 'short' }, 'by pax'), END);
    expect(read(file, long)).toBe('by pax');
  });

  it("a PAX size record overrides the header's size field (as Go writes members over 8 GiB)", () => {
    const data = 'y'.repeat(700);
    const file = write(pax({ size: '700' }), member({ name: 'sized', size: 0 }, data), member({ name: 'next' }, 'next'), END);
    expect(scanTar(file, 'test-archive').get('sized')).toEqual({ offset: 1536, size: 700, name: 'sized' });
    expect(read(file, 'next')).toBe('next');
  });

  it('a GNU long name names the member', () => {
    const long = `dir/${'l'.repeat(150)}`;
    const file = write(member({ name: '././@LongLink', type: 'L', magic: 'gnu' }, `${long}\0`), member({ name: long.slice(0, 100), magic: 'gnu' }, 'by L'), END);
    expect(read(file, long)).toBe('by L');
  });

  it('a ustar prefix and name make the member name', () => {
    const file = write(member({ name: 'manifest.json', prefix: 'some/dir' }, '{}'), END);
    expect(read(file, 'some/dir/manifest.json')).toBe('{}');
  });

  it("a GNU-format header's bytes where ustar keeps its prefix are no prefix", () => {
    const file = write(member({ name: 'plain', magic: 'gnu', raw: [[345, Buffer.from('12345670123')]] }, 'gnu'), END);
    expect(read(file, 'plain')).toBe('gnu');
  });

  it('a file ending where a header would start, without the end-of-archive blocks, is whole', () => {
    const file = write(member({ name: 'a' }, 'a'), member({ name: 'b' }, 'b'));
    expect([...scanTar(file, 'test-archive').keys()]).toEqual(['a', 'b']);
  });

  it('a file cut inside a header is cut short, named with the offset and where the file ends', () => {
    const whole = Buffer.concat([member({ name: 'a' }, 'a'), member({ name: 'b' }, 'b'), END]);
    const file = write(whole.subarray(0, 1024 + 100));
    expect(() => scanTar(file, 'test-archive')).toThrow(
      expect.objectContaining({
        code: 'ERR_INVALID_IMAGE',
        message: 'test-archive: the archive is cut short: a header at offset 1024 needs 512 bytes, the file ends at 1124',
      }),
    );
  });

  it("a file cut inside a member's data is cut short, naming the member", () => {
    const whole = Buffer.concat([member({ name: 'a' }, 'a'), member({ name: 'blobs/sha256/b' }, 'b'.repeat(2000)), END]);
    const file = write(whole.subarray(0, 1024 + 512 + 1000));
    expect(() => scanTar(file, 'test-archive')).toThrow(
      expect.objectContaining({
        code: 'ERR_INVALID_IMAGE',
        message: 'test-archive: the archive is cut short: member blobs/sha256/b needs 2000 bytes at offset 1536, the file ends at 2536',
      }),
    );
  });

  it('a sparse member is refused: its bytes in the archive are not its contents', () => {
    const oct12 = (n: number) => Buffer.from(`${n.toString(8).padStart(11, '0')}\0`);
    // Old GNU sparse: one segment of 4 data bytes at 8192 of a 12288-byte file.
    const map: [number, Buffer][] = [
      [386, oct12(8192)],
      [398, oct12(4)],
      [483, oct12(12288)],
    ];
    const file = write(member({ name: 'holes', type: 'S', magic: 'gnu', raw: map }, 'data'), END);
    expect(() => scanTar(file, 'test-archive')).toThrow(expect.objectContaining({ code: 'ERR_INVALID_IMAGE', message: expect.stringContaining('member holes is a sparse file') }));
  });

  it('a member read whole past the limit is refused by its name before anything is allocated', () => {
    const file = write(member({ name: 'manifest.json' }, 'x'.repeat(2000)), END);
    const m = scanTar(file, 'test-archive').get('manifest.json')!;
    expect(readMember(file, m, 2000).toString()).toBe('x'.repeat(2000));
    expect(() => readMember(file, m, 1999)).toThrow(
      expect.objectContaining({ code: 'ERR_INVALID_IMAGE', message: `${file}: member manifest.json is 2000 bytes, more than the 1999 a manifest, index or config may be` }),
    );
  });
});
