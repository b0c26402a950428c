// Layer decompression: gzip inflated raw (its header read by hand, the
// trailer's length checked, anything but one plain member sent back to
// zlib's gunzip) and the zstd decoders.
import { describe, expect, it } from 'vitest';
import { GzipFallback, gunzipRaw, gzipHeaderLength, zstdChunks } from '../../src/images/decompress.js';
import { compress, gzipFullHeader, gzipMember, hasZstd, rawTar } from './fixtures.js';

/** Everything gunzipRaw makes of `blob`, fed in pieces of `piece` bytes. */
async function inflate(blob: Buffer, piece = 1000): Promise<Buffer> {
  const out: Buffer[] = [];
  for await (const b of gunzipRaw(
    (async function* () {
      for (let i = 0; i < blob.length; i += piece) yield blob.subarray(i, i + piece);
    })(),
  ))
    out.push(b);
  return Buffer.concat(out);
}

describe('gzip inflated raw', () => {
  const tar = rawTar([{ name: 'a', data: 'a'.repeat(3000) }]);

  it('a header with every optional field (extra, name, comment, header CRC) is read past', async () => {
    expect((await inflate(gzipMember(tar, { header: gzipFullHeader() }))).equals(tar)).toBe(true);
  });

  it('a header that comes a byte at a time is gathered until it is whole', async () => {
    expect((await inflate(gzipMember(tar, { header: gzipFullHeader() }), 1)).equals(tar)).toBe(true);
  });

  it("a second member, or zeros after the first: GzipFallback, for zlib's gunzip to read", async () => {
    await expect(inflate(Buffer.concat([gzipMember(tar), gzipMember(tar)]))).rejects.toBeInstanceOf(GzipFallback);
    await expect(inflate(Buffer.concat([gzipMember(tar), Buffer.alloc(100)]))).rejects.toBeInstanceOf(GzipFallback);
  });

  it('a trailer whose length is wrong fails as zlib says it', async () => {
    await expect(inflate(gzipMember(tar, { isize: tar.length + 1 }))).rejects.toThrow(/^incorrect length check$/);
  });

  it('a trailer cut short fails as a truncated gzip', async () => {
    await expect(inflate(gzipMember(tar).subarray(0, -4))).rejects.toThrow(/^unexpected end of file$/);
  });

  it('gzipHeaderLength: the plain header, every optional field, more needed, and what it does not read', () => {
    expect(gzipHeaderLength(Buffer.from([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3, 0xaa]))).toBe(10);
    expect(gzipHeaderLength(gzipFullHeader())).toBe(gzipFullHeader().length);
    expect(gzipHeaderLength(gzipFullHeader().subarray(0, 20))).toBeUndefined();
    expect(gzipHeaderLength(Buffer.from([0x1f, 0x8b, 7, 0, 0, 0, 0, 0, 0, 3]))).toBeNull();
    expect(gzipHeaderLength(Buffer.from([0x1f, 0x8b, 8, 0x20, 0, 0, 0, 0, 0, 3]))).toBeNull();
  });
});

describe('zstd decoders', () => {
  it.runIf(hasZstd)('the system libzstd (loaded at run time) and the pure-JS fallback give the same bytes [needs the zstd command for fixtures]', async () => {
    const { native } = await import('../../src/core/native.cjs');
    const plain = Buffer.concat(Array.from({ length: 64 }, (_, i) => Buffer.alloc(32 * 1024, i)));
    const packed = compress(plain, 'zstd');
    const decode = async (use: 'libzstd' | 'js') => {
      const pieces = Array.from({ length: Math.ceil(packed.length / 1000) }, (_, i) => packed.subarray(i * 1000, i * 1000 + 1000));
      const out: Buffer[] = [];
      for await (const b of zstdChunks(
        (async function* () {
          yield* pieces;
        })(),
        use,
      ))
        out.push(b);
      return Buffer.concat(out);
    };
    expect(native.zstdOpen()).not.toBeNull();
    expect((await decode('libzstd')).equals(plain)).toBe(true);
    expect((await decode('js')).equals(plain)).toBe(true);
  });

  it.runIf(hasZstd)(
    'frames one after another with skippable frames between (as zstd:chunked layers are): every frame decoded, the skippable ones skipped, by both [needs the zstd command for fixtures]',
    async () => {
      const plain = Buffer.concat(Array.from({ length: 8 }, (_, i) => Buffer.alloc(20_000, i)));
      const skippable = Buffer.concat([Buffer.from([0x50, 0x2a, 0x4d, 0x18, 16, 0, 0, 0]), Buffer.from('a table of parts')]);
      const packed = Buffer.concat([compress(plain.subarray(0, 70_000), 'zstd'), skippable, compress(plain.subarray(70_000), 'zstd'), skippable]);
      for (const use of ['libzstd', 'js'] as const) {
        const out: Buffer[] = [];
        for await (const b of zstdChunks(
          (async function* () {
            for (let i = 0; i < packed.length; i += 777) yield packed.subarray(i, i + 777);
          })(),
          use,
        ))
          out.push(b);
        expect(Buffer.concat(out).equals(plain), use).toBe(true);
      }
    },
  );
});

describe('the pure-JS zstd decoder', () => {
  const frame = (windowDescriptor: number) =>
    // A frame whose one raw block holds "hi": magic, FHD (no content size), window descriptor, block header (last, raw, 2).
    Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0x00, windowDescriptor, (2 << 3) | 1, 0, 0, 0x68, 0x69]);
  const decode = async (data: Buffer) => {
    const out: Buffer[] = [];
    for await (const b of zstdChunks(
      (async function* () {
        for (let i = 0; i < data.length; i += 3) yield data.subarray(i, i + 3);
      })(),
      'js',
    ))
      out.push(b);
    return Buffer.concat(out).toString();
  };

  it('refuses a frame that asks for a window over 2^27 bytes, as libzstd does, before allocating it', async () => {
    // Exponent 20: a window of 2^30 bytes (fzstd allocated it: a 4 KB layer took 1.16 GB).
    await expect(decode(Buffer.concat([frame(17 << 3), frame(20 << 3)]))).rejects.toThrow(
      /^a zstd frame asks for a window of 1073741824 bytes, more than 134217728 \(libzstd's limit\)$/,
    );
  });

  it('decodes frames within the limit, a skippable frame between them', async () => {
    const skippable = Buffer.from([0x50, 0x2a, 0x4d, 0x18, 3, 0, 0, 0, 1, 2, 3]);
    expect(await decode(Buffer.concat([frame(17 << 3), skippable, frame(0)]))).toBe('hihi');
  });
});
