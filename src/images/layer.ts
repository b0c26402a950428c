import crypto from 'node:crypto';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import { Readable, type Transform } from 'node:stream';
import zlib from 'node:zlib';
import { errnoError, LayercopyError } from '../core/errors.js';
import { type CancelFlag, type NativeFailure, native } from '../core/native.cjs';
import { displayPath } from '../core/paths.js';
import { extractTar, RestartLayer } from './extract.js';

/** A layer tarball: a file of its own, or an image's blob with what it must hash to. */
export interface TarLayer {
  file: string;
  /** Where the layer starts in `file` (a docker-archive member), and `size` bytes from there; default the whole file. */
  start?: number;
  /** Names the layer in messages: the path given, or "oci:PATH:REF layer 2/5 (sha256:…)". */
  label: string;
  /** The blob's digest and size (an image's descriptor), checked as it streams. */
  digest?: string;
  size?: number;
  /** The sha256 of the uncompressed tar (the config's diff_ids entry). */
  diffId?: string;
}

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

/** The first 512 bytes of a file, or from `start` in it (a tar header's worth). */
export function readHead(file: string, start = 0): Buffer {
  const fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
  try {
    const head = Buffer.alloc(512);
    return head.subarray(0, fs.readSync(fd, head, 0, 512, start));
  } finally {
    fs.closeSync(fd);
  }
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
  const own = (zlib as unknown as { createZstdDecompress?: () => Transform }).createZstdDecompress;
  if (own && use === 'best') {
    const t = own();
    const source = Readable.from(input);
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
  for await (const chunk of input) {
    for (let i = 0; i < chunk.length; i += 512) {
      d.push(chunk.subarray(i, i + 512));
      yield* made.splice(0);
    }
  }
  d.push(new Uint8Array(0), true);
  yield* made.splice(0);
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
 * gzip without zlib's CRC-32, where the layer's diff_id is checked (its
 * sha256 covers every inflated byte, so the CRC proves nothing more) or
 * nothing is (the bench's floor). perf put crc32_z at 5.9% of a provision's
 * CPU on a 385 MB umoci image, and the decompression floor of its three big
 * layers went from 1.94 to 1.80 s (medians of 5). The member header is read
 * here, the deflate data inflated raw and the trailer's length checked. Any
 * other shape (concatenated members, trailing bytes, a header this does not
 * read) throws GzipFallback after the input's last byte, so the layer is
 * read again through createGunzip, which knows every case.
 */
async function* gunzipRaw(input: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
  const raw = zlib.createInflateRaw({ chunkSize: 1 << 20 });
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
      yield head.subarray(length);
      head = Buffer.alloc(0);
    }
    if (header < 0) throw new Error('unexpected end of file');
  }
  const source = Readable.from(body());
  source.on('error', (error) => raw.destroy(error));
  let out = 0;
  for await (const chunk of source.pipe(raw) as AsyncIterable<Buffer>) {
    out += chunk.length;
    yield chunk;
  }
  const rest = total - header - raw.bytesWritten;
  if (rest < 8) throw new Error('unexpected end of file');
  if (rest > 8) throw new GzipFallback('more after the first gzip member');
  if (tail.readUInt32LE(4) !== out % 2 ** 32) throw new Error('incorrect length check');
}

/** A stream's bytes counted (onBytes: the count so far, after each chunk), and when `hashed` into a sha256. */
function tap(stream: Readable, hashed: boolean, onBytes?: (bytes: number) => void): { digest: () => string; bytes: () => number } {
  const hash = hashed ? crypto.createHash('sha256') : undefined;
  let n = 0;
  stream.on('data', (chunk: Buffer) => {
    hash?.update(chunk);
    n += chunk.length;
    onBytes?.(n);
  });
  let digest: string | undefined;
  return { digest: () => (digest ??= hash ? `sha256:${hash.digest('hex')}` : ''), bytes: () => n };
}

export interface ExtractOptions {
  cancel?: CancelFlag;
  /** The bytes of the layer file read so far, after each chunk. */
  onRead?: (bytes: number) => void;
  /** The provision's claims set and this layer's index among all layers (src/images/extract.ts). */
  claims?: { id: number; layer: number };
  /** 'checked': gzip through zlib's gunzip, its CRC-32 checked (after a GzipFallback); default: openLayer's choice. */
  gunzip?: 'checked';
}

export interface ExtractedLayer {
  entries: number;
  bytes: number;
  compressedBytes: number;
  /** The directories no header described, packed (src/images/extract.ts). */
  implied: string;
}

/**
 * extractLayerFile, read again where the first reading could not finish
 * it: without claims where a hidden file turned out to be needed (a
 * hardlink to it stays); through zlib's gunzip where the gzip is not one
 * plain member (GzipFallback).
 */
export async function extractLayer(layer: TarLayer, root: number, opts: ExtractOptions = {}): Promise<ExtractedLayer> {
  let attempt = opts;
  for (;;) {
    try {
      return await extractLayerFile(layer, root, attempt);
    } catch (error) {
      if (error instanceof RestartLayer && attempt.claims) attempt = { ...attempt, claims: undefined };
      else if (error instanceof GzipFallback && attempt.gunzip !== 'checked') attempt = { ...attempt, gunzip: 'checked' };
      else throw error;
    }
    emptyDirectory(root, layer.label);
  }
}

/** Removes everything in the directory fd root (a layer's scratch directory). */
function emptyDirectory(root: number, label: string): void {
  const fail = (f: NativeFailure) =>
    errnoError(
      { errno: f.errno, syscall: f.syscall, path: displayPath('/', f.rel ?? '') },
      (name, description) => `${label}: emptying the layer's scratch directory to read it again: ${f.syscall} failed: ${name} (${description})`,
      { layer: label },
    );
  const listing = native.listDir(root, '');
  if (listing.failure) throw fail(listing.failure);
  for (const name of listing.names) {
    const failed = native.removeEntry(root, name, true);
    if (failed) throw fail(failed);
  }
}

const invalidTar = (layer: TarLayer, message: string, cause?: unknown) =>
  new LayercopyError(`${layer.label}: ${message}`, { code: 'ERR_INVALID_TAR', layer: layer.label, path: layer.file, cause });

/** A layer file opened for reading (openLayer). */
export interface OpenedLayer {
  compression: Compression;
  /** Its bytes as stored: 1 MiB reads, from its offset in an archive. */
  input: fs.ReadStream;
  /** The tar: decompressed as its magic bytes say. Throws GzipFallback at its end where gzip read raw must be read again checked. */
  tar: AsyncIterable<Buffer>;
  /** What every byte of `tar` must be fed to (a compressed layer's diff_id); undefined where nothing is hashed there. */
  onTar?: (chunk: Buffer) => void;
  /** Bytes of the file read so far. */
  blobBytes(): number;
  /** After the last byte (digests on): throws ERR_DIGEST_MISMATCH for a size or digest that does not match. */
  verify(): void;
}

/**
 * Opens a layer tarball (tar, gzip or zstd, told by its magic bytes, never
 * its name) for streaming, with the digests checked on it: the blob's
 * sha256 and size, and the uncompressed sha256 (diff_id) — each only where
 * there is one to check (a tarball given as a file has none). The
 * extraction and the bench's verified floor read layers through this one
 * path. `digests: false` hashes nothing (the bench's decompression floor).
 */
export function openLayer(layer: TarLayer, opts: { digests?: boolean; onRead?: (bytes: number) => void; gunzip?: 'raw' | 'checked' } = {}): OpenedLayer {
  const compression = sniffCompression(readHead(layer.file, layer.start));
  if (compression === 'xz' || compression === 'bzip2') throw invalidTar(layer, `${compression}-compressed layers are not supported (tar, gzip and zstd are)`);
  if (compression === 'unknown') throw invalidTar(layer, 'not a tar layer (no tar, gzip or zstd magic bytes)');
  const range = layer.start === undefined ? {} : { start: layer.start, end: layer.start + (layer.size ?? 0) - 1 };
  const input = fs.createReadStream('', { fd: fs.openSync(layer.file, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW), highWaterMark: 1 << 20, ...range });
  const digests = opts.digests !== false;
  const uncompressed = compression === 'none';
  const blob = tap(input, digests && (layer.digest !== undefined || (uncompressed && layer.diffId !== undefined)), opts.onRead);
  let tar: AsyncIterable<Buffer> = input;
  if (compression === 'gzip' && opts.gunzip !== 'checked' && (!digests || layer.diffId !== undefined)) {
    tar = gunzipRaw(input);
  } else if (compression === 'gzip') {
    const gunzip = zlib.createGunzip({ chunkSize: 1 << 20 });
    input.on('error', (error) => gunzip.destroy(error));
    tar = input.pipe(gunzip);
  } else if (compression === 'zstd') {
    tar = zstdChunks(input);
  }
  // An uncompressed layer is its own tar: one hash serves both digests (hashing it twice cost 0.45 CPU-s on a 731 MB docker-archive).
  const plain = !digests || uncompressed || layer.diffId === undefined ? undefined : crypto.createHash('sha256');
  return {
    compression,
    input,
    tar,
    onTar: plain && ((chunk) => plain.update(chunk)),
    blobBytes: blob.bytes,
    verify() {
      const mismatch = (what: string, want: string, got: string) =>
        new LayercopyError(`${layer.label}: ${what} does not match: expected ${want}, got ${got}`, { code: 'ERR_DIGEST_MISMATCH', layer: layer.label, path: layer.file });
      if (layer.size !== undefined && blob.bytes() !== layer.size) throw mismatch('blob size', `${layer.size} bytes`, `${blob.bytes()} bytes`);
      if (layer.digest !== undefined && blob.digest() !== layer.digest) throw mismatch('blob digest', layer.digest, blob.digest());
      const diffId = plain ? `sha256:${plain.digest('hex')}` : blob.digest();
      if (layer.diffId !== undefined && diffId !== layer.diffId) throw mismatch('uncompressed digest (diff_id)', layer.diffId, diffId);
    },
  };
}

/**
 * Streams a layer tarball into an extracted layer directory beneath `root`,
 * checking its digests on the way (openLayer). Nothing is held whole in
 * memory. A mismatch fails after the layer is written, before the
 * provision commits anything.
 */
export async function extractLayerFile(layer: TarLayer, root: number, opts: ExtractOptions = {}): Promise<ExtractedLayer> {
  const opened = openLayer(layer, { onRead: opts.onRead, gunzip: opts.gunzip });
  let result: { entries: number; bytes: number; implied: string };
  try {
    // Every byte is fed, the padding after the end-of-archive blocks too, so that the diff_id covers the whole tar.
    result = await extractTar(opened.tar, root, layer.label, { onChunk: opened.onTar, cancel: opts.cancel, claims: opts.claims });
  } catch (error) {
    opened.input.destroy();
    if (error instanceof LayercopyError || error instanceof RestartLayer || error instanceof GzipFallback) throw error;
    const message = (error as Error).message;
    throw invalidTar(layer, `${opened.compression === 'none' ? 'tar' : opened.compression}: ${message}`, error);
  }
  opened.verify();
  return { ...result, compressedBytes: opened.blobBytes() };
}
