// Decompressing layer tarballs: what a file is by its magic bytes, zstd
// through the best decoder the runtime has, and gzip inflated raw (ISA-L or
// zlib) where a diff_id covers the tar (src/images/layer.ts picks which).
import fs from 'node:fs';
import { createRequire } from 'node:module';
import type { Transform } from 'node:stream';
import { streamModule, zlibModule } from '../core/builtins.js';
import { type IsalFed, type IsalStream, native } from '../core/native.cjs';
import { openRegular } from './regular.js';
import { ZstdFrameGuard } from './zstd-frames.js';

export type Compression = 'gzip' | 'zstd' | 'none';

/** What a layer file is, by its first bytes (never by its name). */
export function sniffCompression(head: Buffer): Compression | 'xz' | 'bzip2' | 'unknown' {
  if (head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b) return 'gzip';
  if (head.length >= 4 && head.readUInt32LE(0) === 0xfd2fb528) return 'zstd';
  if (head.subarray(0, 6).equals(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]))) return 'xz';
  if (head.subarray(0, 3).toString('latin1') === 'BZh') return 'bzip2';
  if (head.length >= 262 && head.subarray(257, 262).toString('latin1') === 'ustar') return 'none';
  return 'unknown';
}

/**
 * zstd: Node's own decompressor where the runtime has one (Node 22.15+,
 * 23.8+); else the system's libzstd, loaded at run time by the native
 * helper (no compiler, headers or download); else fzstd, a maintained
 * pure-JS decoder, much slower (docs/benchmarks.md, "Images"). Each step
 * yields a bounded piece (1 MiB from libzstd, what 512 input bytes make
 * from fzstd): a decompression bomb never makes more at once than the
 * consumer asked for (the whole input chunk's output made 2 GiB in one
 * buffer before).
 */
export async function* zstdChunks(input: AsyncIterable<Buffer>, use: 'best' | 'libzstd' | 'js' = 'best'): AsyncGenerator<Buffer> {
  const own = (zlibModule() as unknown as { createZstdDecompress?: () => Transform }).createZstdDecompress;
  if (own && use === 'best') {
    const t = own();
    const source = streamModule().Readable.from(input);
    source.on('error', (error) => t.destroy(error));
    yield* source.pipe(t) as AsyncIterable<Buffer>;
    return;
  }
  const stream = use === 'js' ? null : native.zstdOpen();
  if (stream) {
    let frameDone = true;
    for await (const chunk of input) {
      for (let pos = 0, full = true; pos < chunk.length || full; ) {
        const r = native.zstdFeed(stream, chunk, pos);
        pos = r.pos;
        frameDone = r.frameDone;
        // Full, and the frame not known complete: more may be waiting inside.
        full = r.length === r.data.length && !r.frameDone;
        if (r.length > 0) yield r.data.subarray(0, r.length);
      }
    }
    if (!frameDone) throw new Error('unexpected end of the compressed stream (truncated zstd frame)');
    return;
  }
  const { Decompress } = createRequire(import.meta.url)('fzstd') as typeof import('fzstd');
  const made: Buffer[] = [];
  const d = new Decompress((out) => made.push(Buffer.from(out.buffer, out.byteOffset, out.byteLength)));
  // fzstd allocates any window a frame asks for: the frames' headers are read first (src/images/zstd-frames.ts).
  const guard = new ZstdFrameGuard();
  for await (const chunk of input) {
    guard.feed(chunk);
    for (let i = 0; i < chunk.length; i += 512) {
      d.push(chunk.subarray(i, i + 512));
      yield* made.splice(0);
    }
  }
  d.push(new Uint8Array(0), true);
  yield* made.splice(0);
}

/** The first 512 bytes of a file, or from `start` in it (a tar header's worth, and the magic bytes sniffCompression reads). */
export function readHead(file: string, start = 0): Buffer {
  const fd = openRegular(file);
  try {
    const head = Buffer.alloc(512);
    return head.subarray(0, fs.readSync(fd, head, 0, 512, start));
  } finally {
    fs.closeSync(fd);
  }
}

/** Not a failure: the gzip layer must be read again through zlib's own gunzip (gunzipRaw). */
export class GzipFallback extends Error {}

/**
 * The length of the gzip member header at the start of `head` (RFC 1952):
 * undefined while more bytes are needed, null for a header this does not
 * read (not deflate, reserved flags, past 64 KiB).
 */
export function gzipHeaderLength(head: Buffer): number | null | undefined {
  if (head.length < 10) return undefined;
  if (head[0] !== 0x1f || head[1] !== 0x8b || head[2] !== 8 || (head[3] & 0xe0) !== 0) return null;
  const flags = head[3];
  let at = 10;
  if (flags & 4) {
    if (head.length < at + 2) return undefined;
    at += 2 + head.readUInt16LE(at);
  }
  for (const bit of [8, 16]) {
    if (!(flags & bit)) continue;
    const end = head.indexOf(0, at);
    if (end < 0) return head.length > 1 << 16 ? null : undefined;
    at = end + 1;
  }
  if (flags & 2) at += 2;
  if (at > 1 << 16) return null;
  return head.length < at ? undefined : at;
}

/**
 * What inflates gzip layers: ISA-L's igzip through the native helper where
 * the system has libisal.so.2 (it passes a self-check at load), on libuv's
 * pool ('isal', overlapping the tar writer as zlib does) or on the calling
 * thread ('isal-sync'); else zlib. LAYERCOPY_INFLATE=zlib forces zlib
 * (docs/design.md, "Inflating gzip").
 */
export type Inflater = 'isal' | 'isal-sync' | 'zlib';

export function chosenInflater(): Inflater {
  const asked = process.env.LAYERCOPY_INFLATE;
  return asked === 'zlib' || asked === 'isal-sync' ? asked : 'isal';
}

/**
 * gzip without zlib's CRC-32, where the layer's diff_id is checked (its
 * sha256 covers every inflated byte, so the CRC proves nothing more) or
 * nothing is (the bench's floor). perf put crc32_z at 5.9% of a provision's
 * CPU on a 385 MB umoci image, and the decompression floor of its three big
 * layers went from 1.94 to 1.80 s (medians of 5). The member header is read
 * here, the deflate data inflated raw (by `use`, zlib where ISA-L is
 * missing) and the trailer's length checked. Any other shape throws
 * GzipFallback — a header this does not read at once, concatenated members
 * or trailing bytes after the input's last byte — so the layer is read
 * again through createGunzip, which knows every case.
 */
export async function* gunzipRaw(input: AsyncIterable<Buffer>, use: Inflater = chosenInflater(), opts: { reuse?: boolean } = {}): AsyncGenerator<Buffer> {
  let header = -1;
  let total = 0;
  let tail = Buffer.alloc(0);
  async function* body(): AsyncGenerator<Buffer> {
    let head = Buffer.alloc(0);
    for await (const chunk of input) {
      total += chunk.length;
      tail = Buffer.from(chunk.length >= 8 ? chunk.subarray(chunk.length - 8) : Buffer.concat([tail, chunk]).subarray(-8));
      if (header >= 0) {
        yield chunk;
        continue;
      }
      head = Buffer.concat([head, chunk]);
      const length = gzipHeaderLength(head);
      if (length === null) throw new GzipFallback('a gzip header this reader does not read');
      if (length === undefined) continue;
      header = length;
      if (head.length > length) yield head.subarray(length);
      head = Buffer.alloc(0);
    }
    if (header < 0) throw new Error('unexpected end of file');
  }
  const stream = use === 'zlib' ? null : native.isalOpen();
  const inflated = { bytes: 0, deflate: -1 };
  yield* stream ? isalInflate(body(), stream, use === 'isal-sync', inflated, opts.reuse === true) : zlibInflate(body(), inflated);
  const rest = total - header - inflated.deflate;
  if (inflated.deflate < 0 || rest < 8) throw new Error('unexpected end of file');
  if (rest > 8) throw new GzipFallback('more after the first gzip member');
  if (tail.readUInt32LE(4) !== inflated.bytes % 2 ** 32) throw new Error('incorrect length check');
}

/** Counts what an inflater made, and the length of the deflate data once it ended (else -1). */
type Inflated = { bytes: number; deflate: number };

async function* zlibInflate(deflate: AsyncIterable<Buffer>, inflated: Inflated): AsyncGenerator<Buffer> {
  const raw = zlibModule().createInflateRaw({ chunkSize: 1 << 20 });
  const source = streamModule().Readable.from(deflate);
  source.on('error', (error) => raw.destroy(error));
  for await (const chunk of source.pipe(raw) as AsyncIterable<Buffer>) {
    inflated.bytes += chunk.length;
    yield chunk;
  }
  inflated.deflate = raw.bytesWritten;
}

/**
 * Raw deflate through ISA-L, 1 MiB of output a step. Asynchronous: the
 * next step starts on libuv's pool before this one's output is handed on,
 * so inflating overlaps the consumer (the tar writer on this thread). The
 * input after the deflate data's end is read and counted, not inflated.
 * `reuse`: the output goes into two buffers in turn, one being inflated
 * into while the consumer reads the other, so a chunk is good only until
 * the next is asked for (extractTar feeds each to the tar reader and is
 * done with it). A new buffer a step was fresh memory that the inflating
 * thread faulted in: 256 page faults and 1 MiB zeroed by the kernel per
 * MiB of tar (docs/benchmarks.md, "Output buffers of the inflate").
 */
async function* isalInflate(deflate: AsyncIterable<Buffer>, stream: IsalStream, sync: boolean, inflated: Inflated, reuse: boolean): AsyncGenerator<Buffer> {
  const buffers = reuse ? [Buffer.allocUnsafeSlow(1 << 20), Buffer.allocUnsafeSlow(1 << 20)] : [];
  let turn = 0;
  const feed = (chunk: Buffer, pos: number): Promise<IsalFed> => {
    const out = reuse ? buffers[turn++ & 1] : undefined;
    const step = sync ? Promise.resolve().then(() => native.isalFeed(stream, chunk, pos, out)) : native.isalFeedAsync(stream, chunk, pos, out);
    // Awaited later, or never where the consumer stops early: never an unhandled rejection.
    step.catch(() => {});
    return step;
  };
  let used = 0;
  for await (const chunk of deflate) {
    if (inflated.deflate >= 0) continue;
    let pos = 0;
    let step: Promise<IsalFed> | undefined = feed(chunk, 0);
    while (step) {
      const r: IsalFed = await step;
      used += r.pos - pos;
      pos = r.pos;
      if (r.done) inflated.deflate = used - r.held;
      // Full, and the stream not done: more may be waiting inside igzip.
      step = !r.done && (pos < chunk.length || r.length === r.data.length) ? feed(chunk, pos) : undefined;
      inflated.bytes += r.length;
      if (r.length > 0) yield r.data.subarray(0, r.length);
    }
  }
}
