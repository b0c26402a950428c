import fs from 'node:fs';
import type { Readable } from 'node:stream';
import { cryptoModule, streamModule, zlibModule } from '../core/builtins.js';
import { errnoError, fromNodeError, LayercopyError, type LayerSource } from '../core/errors.js';
import { type CancelFlag, type NativeFailure, type NativePolicy, native } from '../core/native.cjs';
import { displayPath } from '../core/paths.js';
import { blobCount, checkBlob, layerMismatch } from './blob.js';
import { type Compression, chosenInflater, GzipFallback, gunzipRaw, type Inflater, readHead, sniffCompression, zstdChunks } from './decompress.js';
import { extractTar, invalidTar, RestartLayer, readingFailure, type TarClaims, type TarExtracted, tarPiped } from './extract.js';
import { followed, followStream } from './follow.js';
import { extractPumped, pumps } from './pumped.js';
import { openRegular } from './regular.js';

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
  /** A blob still being downloaded into `file`: read as it grows (src/images/follow.ts). */
  follow?: BigInt64Array;
  /** Its descriptor's media type, where a registry gave one: what it says until its first bytes are there (src/images/run.ts). */
  mediaType?: string;
}

export interface ExtractOptions {
  cancel?: CancelFlag;
  /** The bytes of the layer file read so far, after each chunk. */
  onRead?: (bytes: number) => void;
  /** Where a blob pumped by the native helper stores the bytes read so far (read[slot]); onRead is then told once, at its end. */
  progress?: { read: BigInt64Array; slot: number };
  /** The provision's claims set and this layer's index among all layers (src/images/extract.ts). */
  claims?: TarClaims;
  /** root is the rootfs of a one-layer image (src/images/extract.ts, extractTar). */
  direct?: boolean;
  /** With direct: the argument the layer came from, naming a bad marker as the plan names it (extractTar). */
  source?: LayerSource;
  /** The metadata policy entries are written by (native/meta.h). */
  policy?: NativePolicy;
  /** 'checked': gzip through zlib's gunzip, its CRC-32 checked (after a GzipFallback); default: openLayer's choice. */
  gunzip?: 'checked';
  /** Whiteout markers written with their metadata (set when the layer is read again for a hardlink to one). */
  markerMeta?: boolean;
}

export interface ExtractedLayer extends TarExtracted {
  compressedBytes: number;
}

/**
 * extractLayerFile, read again where the first reading could not finish
 * it: without claims, markers with their metadata, where a file made
 * without data or a marker made without metadata turned out to be needed
 * (a hardlink to it stays); through zlib's gunzip where the gzip is not
 * one plain member (GzipFallback).
 */
export async function extractLayer(layer: TarLayer, root: number, opts: ExtractOptions = {}): Promise<ExtractedLayer> {
  let attempt = opts;
  for (;;) {
    try {
      return await extractLayerFile(layer, root, attempt);
    } catch (error) {
      if (error instanceof RestartLayer && error.hidden && (attempt.claims || !attempt.markerMeta)) attempt = { ...attempt, claims: undefined, markerMeta: true };
      else if (error instanceof GzipFallback && attempt.gunzip !== 'checked') attempt = { ...attempt, gunzip: 'checked' };
      else throw error;
    }
    emptyDirectory(root, layer.label);
  }
}

/** Removes everything in the directory fd root (a layer's scratch directory, or the staging directory it was extracted into). */
export function emptyDirectory(root: number, label: string): void {
  const fail = (f: NativeFailure) =>
    errnoError(
      { errno: f.errno, syscall: f.syscall, path: displayPath('/', f.rel ?? '') },
      (name, description) => `${label}: emptying the directory the layer was extracted into, to read it again: ${f.syscall} failed: ${name} (${description})`,
      { layer: label },
    );
  const listing = native.listDir(root, '');
  if (listing.failure) throw fail(listing.failure);
  for (const name of listing.names) {
    const failed = native.removeEntry(root, name, true);
    if (failed) throw fail(failed);
  }
}

/** A layer file opened for reading (openLayer). */
export interface OpenedLayer {
  compression: Compression;
  /** Its bytes as stored: 1 MiB reads, from its offset in an archive, or as a download writes them. */
  input: Readable;
  /** The tar: decompressed as its magic bytes say. Throws GzipFallback at its end where gzip read raw must be read again checked. */
  tar: AsyncIterable<Buffer>;
  /** What every byte of `tar` must be fed to (a compressed layer's diff_id); undefined where nothing is hashed there. */
  onTar?: (chunk: Buffer) => void;
  /** Whether reading `tar` costs more than reading the file: inflating, or hashing the blob. */
  busy: boolean;
  /** Gives the blob's hash up (idempotent; nothing after its digest): a hash on a thread of its own ends it now, not when collected. */
  release(): void;
  /** Bytes of the file read so far. */
  blobBytes(): number;
  /**
   * After the last byte (digests on): throws ERR_DIGEST_MISMATCH for a size
   * or digest that does not match. `tarDigest`: the diff_id as the tar
   * reader hashed it (where onTar was not fed).
   */
  verify(tarDigest?: string): Promise<void>;
  /** After the tar reader or the decompressor failed, `input` destroyed: the blob checked all the same (checkBlob; digests on). */
  checkAfter(failure: LayercopyError, cancel?: CancelFlag): Promise<LayercopyError>;
}

/**
 * Opens a layer tarball (tar, gzip or zstd, told by its magic bytes, never
 * its name) for streaming, with the digests checked on it: the blob's
 * sha256 and size, and the uncompressed sha256 (diff_id) — each only where
 * there is one to check (a tarball given as a file has none). The
 * extraction and the bench's verified floor read layers through this one
 * path. `digests: false` hashes nothing (the bench's decompression floor).
 */
export function openLayer(
  layer: TarLayer,
  opts: { digests?: boolean; onRead?: (bytes: number) => void; gunzip?: 'checked'; inflater?: Inflater; cancel?: CancelFlag } = {},
): OpenedLayer {
  const compression = sniffCompression(readHead(layer.file, layer.start));
  if (compression === 'xz' || compression === 'bzip2') throw invalidTar(layer, `${compression}-compressed layers are not supported (tar, gzip and zstd are)`);
  if (compression === 'unknown') throw invalidTar(layer, 'not a tar layer (no tar, gzip or zstd magic bytes)');
  const range = layer.start === undefined ? {} : { start: layer.start, end: layer.start + (layer.size ?? 0) - 1 };
  // A blob of no bytes in an archive has no range a read stream takes (its end before its start).
  const empty = !layer.follow && layer.start !== undefined && (layer.size ?? 0) === 0;
  const input: Readable = layer.follow
    ? followStream(layer.file, layer.follow, opts.cancel)
    : empty
      ? streamModule().Readable.from([])
      : fs.createReadStream('', { fd: openRegular(layer.file), highWaterMark: 1 << 20, ...range });
  const digests = opts.digests !== false;
  const uncompressed = compression === 'none';
  const hashed = digests && (layer.digest !== undefined || (uncompressed && layer.diffId !== undefined));
  const blob = blobCount(hashed, opts.onRead);
  // No encoding is set: every chunk is a Buffer.
  input.on('data', (chunk) => {
    try {
      blob.feed(chunk as Buffer);
    } catch (error) {
      // The hash's thread could not take a copy (ENOMEM): a read error of the layer's.
      const f = fromNodeError(error, 'sha256', layer.follow ? undefined : layer.file);
      input.destroy(errnoError(f, (name, description) => `${layer.label}: hashing the blob: ${name} (${description})`, { layer: layer.label, cause: error }));
    }
  });
  let tar: AsyncIterable<Buffer> = input;
  if (compression === 'gzip' && opts.gunzip !== 'checked' && (!digests || layer.diffId !== undefined)) {
    // extractTar and the bench's floor are done with a chunk when they ask for the next.
    tar = gunzipRaw(input, opts.inflater, { reuse: true });
  } else if (compression === 'gzip') {
    const gunzip = zlibModule().createGunzip({ chunkSize: 1 << 20 });
    input.on('error', (error) => gunzip.destroy(error));
    tar = input.pipe(gunzip);
  } else if (compression === 'zstd') {
    tar = zstdChunks(input);
  }
  // An uncompressed layer is its own tar: one hash serves both digests (hashing it twice cost 0.45 CPU-s on a 731 MB docker-archive).
  const plain = !digests || uncompressed || layer.diffId === undefined ? undefined : cryptoModule().createHash('sha256');
  return {
    compression,
    input,
    tar,
    onTar: plain && ((chunk) => plain.update(chunk)),
    busy: compression !== 'none' || hashed,
    blobBytes: blob.bytes,
    release: () => blob.close(),
    async verify(tarDigest) {
      // zlib's gunzip ends with its member and leaves what follows unread
      // (zeros some tools pad with): the blob is all of its bytes.
      if (layer.size !== undefined || hashed)
        await new Promise<void>((resolve) => {
          if (input.readableEnded || input.destroyed) return resolve();
          input
            .once('end', resolve)
            .once('close', resolve)
            .once('error', () => resolve());
          input.unpipe();
          input.resume();
        });
      const failed = layerMismatch(layer, blob, () => tarDigest ?? (plain ? `sha256:${plain.digest('hex')}` : blob.digest()));
      if (failed) throw failed;
    },
    async checkAfter(failure, cancel) {
      if (!digests) return failure;
      // 'close' follows the last 'data': from then on `blob` holds exactly the bytes it counted.
      if (!input.closed) await new Promise<void>((resolve) => input.once('close', () => resolve()));
      // The rest of a blob still downloading is checked once it is all there.
      if (layer.follow) await followed(layer.follow, Number.MAX_SAFE_INTEGER, cancel);
      return checkBlob(layer, failure, blob, cancel);
    },
  };
}

/**
 * ISA-L inflates on the worker's own thread where the tar reader has a
 * thread of its own: a hop to libuv's pool per chunk then only delayed
 * the next one (a one-layer image 0.96x the wall time of the pool's
 * inflate; both, 0.90x the wall time of neither on the one-layer and the
 * 4-layer image: docs/benchmarks.md). The bench's floors keep the pool:
 * nothing else runs beside them.
 */
function extractInflater(): Inflater {
  const chosen = chosenInflater();
  return chosen === 'isal' && tarPiped() ? 'isal-sync' : chosen;
}

/**
 * Streams a layer tarball into an extracted layer directory beneath `root`,
 * checking its digests on the way (openLayer). Nothing is held whole in
 * memory. A mismatch fails after the layer is written, before the
 * provision commits anything. Where the data fails to read (no magic
 * bytes, the decompressor, the tar reader), the blob is checked before the
 * error is chosen: one that is not its descriptor's is ERR_DIGEST_MISMATCH
 * (checkBlob), as a corrupt blob is whichever byte was flipped.
 */
export async function extractLayerFile(layer: TarLayer, root: number, opts: ExtractOptions = {}): Promise<ExtractedLayer> {
  // A download's first bytes must be there before its magic bytes are read.
  if (layer.follow) await followed(layer.follow, Math.min(512, layer.size ?? 512), opts.cancel);
  if (pumps(layer, opts)) {
    const pumped = await extractPumped(layer, root, opts);
    if (pumped) return pumped;
  }
  let opened: OpenedLayer;
  try {
    opened = openLayer(layer, { onRead: opts.onRead, gunzip: opts.gunzip, inflater: extractInflater(), cancel: opts.cancel });
  } catch (error) {
    if (error instanceof LayercopyError && error.code === 'ERR_INVALID_TAR') {
      if (layer.follow) await followed(layer.follow, Number.MAX_SAFE_INTEGER, opts.cancel);
      throw await checkBlob(layer, error, blobCount(true), opts.cancel);
    }
    throw error;
  }
  try {
    return await extractOpened(layer, root, opened, opts);
  } finally {
    // A restart, a fallback or a failure asks no digest of the blob.
    opened.release();
  }
}

async function extractOpened(layer: TarLayer, root: number, opened: OpenedLayer, opts: ExtractOptions): Promise<ExtractedLayer> {
  let result: TarExtracted;
  try {
    // Every byte is fed, the padding after the end-of-archive blocks too, so
    // that the diff_id covers the whole tar. The reader's thread hashes it
    // where it can: this one inflates and hashes the blob meanwhile.
    const hash = opened.onTar !== undefined && native.tarHashes();
    result = await extractTar(opened.tar, root, layer.label, {
      onChunk: hash ? undefined : opened.onTar,
      hash,
      // A tar read as it is, unhashed, leaves this thread nothing to do
      // meanwhile: handing its chunks over only cost a copy (1M empty files
      // 1.03x the wall time).
      piped: tarPiped() && opened.busy,
      cancel: opts.cancel,
      claims: opts.claims,
      policy: opts.policy,
      direct: opts.direct,
      plain: opened.compression === 'none',
      source: opts.source,
      markerMeta: opts.markerMeta,
    });
  } catch (error) {
    opened.input.destroy();
    const { failure, checkBlob } = readingFailure(layer, opened.compression === 'none' ? 'tar' : opened.compression, error);
    throw checkBlob ? await opened.checkAfter(failure, opts.cancel) : failure;
  }
  await opened.verify(result.digest);
  return { ...result, compressedBytes: opened.blobBytes() };
}
