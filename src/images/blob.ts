// A layer blob's own check: its size and sha256 against its descriptor's,
// counted as its bytes stream past (src/images/layer.ts), and finished from
// its file where the reading stopped early.
import fs from 'node:fs';
import { cryptoModule } from '../core/builtins.js';
import { abortError, LayercopyError } from '../core/errors.js';
import { type CancelFlag, type NativeHash, native } from '../core/native.cjs';

/** What these read of a layer (a TarLayer, src/images/layer.ts): its blob's place and descriptor. */
interface LayerBlob {
  file: string;
  /** Set while the blob is downloaded into `file` (src/images/follow.ts). */
  follow?: unknown;
  start?: number;
  label: string;
  digest?: string;
  size?: number;
}

/** Bytes counted (onBytes: the count so far, after each chunk) and, where `hashed`, hashed into a sha256 as they are fed. */
export interface BlobCount {
  feed(chunk: Buffer): void;
  bytes(): number;
  /** The sha256 of every byte fed ('' where nothing is hashed); the hash ends at the first call. */
  digest(): string;
  /** The blob is given up before its digest: the hash's thread ends now rather than when collected. */
  close(): void;
}

export function blobCount(hashed: boolean, onBytes?: (bytes: number) => void): BlobCount {
  const threaded = hashed ? blobHasher() : null;
  const hash = hashed && !threaded ? cryptoModule().createHash('sha256') : undefined;
  let n = 0;
  let digest: string | undefined;
  return {
    feed(chunk) {
      if (threaded) native.hashFeed(threaded, chunk);
      else hash?.update(chunk);
      n += chunk.length;
      onBytes?.(n);
    },
    bytes: () => n,
    digest: () => (digest ??= threaded ? native.hashDigest(threaded) : hash ? `sha256:${hash.digest('hex')}` : ''),
    close: () => {
      if (threaded && digest === undefined) native.hashClose(threaded);
    },
  };
}

/**
 * A BlobCount over a hash the native helper feeds itself (tarPump,
 * src/images/layer.ts): `fed` says how many bytes it fed; `feed` adds the
 * rest of the blob where the reading stopped early (checkBlob).
 */
export function nativeBlobCount(hash: NativeHash, fed: () => number): BlobCount {
  let more = 0;
  let digest: string | undefined;
  return {
    feed(chunk) {
      native.hashFeed(hash, chunk);
      more += chunk.length;
    },
    bytes: () => fed() + more,
    digest: () => (digest ??= native.hashDigest(hash)),
    close: () => {
      if (digest === undefined) native.hashClose(hash);
    },
  };
}

/**
 * The blob hashed on a thread of the native helper's (native/hashpipe.h)
 * rather than the one reading and inflating it: on a one-layer image that
 * thread is the critical path, and hashing was ~85 of its ~310 ms. null
 * where the helper has no sha256 (JS hashes), or with
 * LAYERCOPY_BLOB_HASH=0 (comparisons).
 */
function blobHasher(): NativeHash | null {
  return process.env.LAYERCOPY_BLOB_HASH === '0' ? null : native.hashOpen();
}

/** A digest or size of the layer's that does not match; `failure`: what reading its data failed with too (the cause, told briefly). */
export function mismatch(layer: LayerBlob, what: string, want: string, got: string, failure?: LayercopyError): LayercopyError {
  const also = failure ? ` (the data also failed to read as a tar: ${failure.message.replace(`${layer.label}: `, '')})` : '';
  return new LayercopyError(`${layer.label}: ${what} does not match: expected ${want}, got ${got}${also}`, {
    code: 'ERR_DIGEST_MISMATCH',
    layer: layer.label,
    // A download's spool file (/proc/self/fd/N/I.blob) is no path of the user's: the layer's label names it.
    ...(layer.follow ? {} : { path: layer.file }),
    cause: failure,
  });
}

/** The blob's size (`length` bytes) or sha256 not its descriptor's, as an error; undefined where both match or there is none. */
export function blobMismatch(layer: LayerBlob, count: BlobCount, length = count.bytes(), failure?: LayercopyError): LayercopyError | undefined {
  if (layer.size !== undefined && length !== layer.size) return mismatch(layer, 'blob size', `${layer.size} bytes`, `${length} bytes`, failure);
  if (layer.digest !== undefined && count.digest() !== layer.digest) return mismatch(layer, 'blob digest', layer.digest, count.digest(), failure);
  return undefined;
}

/**
 * The blob's size and digest, then the tar's sha256 (`diffId()`, asked
 * only where the blob matches) against the layer's diff_id: the first that
 * does not match, as an error; undefined where all do (or there is none).
 */
export function layerMismatch(layer: LayerBlob & { diffId?: string }, count: BlobCount, diffId: () => string): LayercopyError | undefined {
  const blobFailed = blobMismatch(layer, count);
  if (blobFailed || layer.diffId === undefined) return blobFailed;
  const got = diffId();
  return got === layer.diffId ? undefined : mismatch(layer, 'uncompressed digest (diff_id)', layer.diffId, got);
}

/**
 * Where the tar reader or the decompressor failed (`failure`) before the
 * blob's last byte, or where its first bytes were not a layer's: the blob
 * checked all the same, `count` (its first bytes, hashed) fed the rest from
 * the file. A blob that is not its descriptor's is corrupt, whatever the
 * reader made of it: ERR_DIGEST_MISMATCH, `failure` its cause. Else, or
 * where the file cannot be read again or the blob has no digest,
 * `failure` itself. An abort (the cancel flag) stops the reading: ABORT_ERR.
 */
export async function checkBlob(layer: LayerBlob, failure: LayercopyError, count: BlobCount, cancel?: CancelFlag): Promise<LayercopyError> {
  if (layer.digest === undefined) return failure;
  let length: number | undefined;
  try {
    length = await readRest(layer, count, cancel);
  } catch (error) {
    if (error instanceof LayercopyError && error.code === 'ABORT_ERR') throw error;
    // The file cannot be read (EIO, gone): the reader's error is all there is to say.
    return failure;
  }
  return blobMismatch(layer, count, length ?? count.bytes(), failure) ?? failure;
}

/**
 * Feeds `count` the blob's bytes after those it has, read from its file,
 * never past its size from its start: a file far bigger than the blob (or
 * endless, a device) cannot hold the error back. Returns the file's length
 * where the file is the blob and a regular one: a longer file is a size
 * mismatch, whatever its first `size` bytes hash to.
 */
async function readRest(layer: LayerBlob, count: BlobCount, cancel?: CancelFlag): Promise<number | undefined> {
  const handle = await fs.promises.open(layer.file, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW | fs.constants.O_NONBLOCK);
  try {
    const whole = layer.start === undefined ? await handle.stat() : undefined;
    const size = layer.size ?? whole?.size ?? 0;
    const from = layer.start ?? 0;
    const buffer = Buffer.allocUnsafe(1 << 20);
    for (let at = count.bytes(); at < size; ) {
      if (cancel && Atomics.load(cancel, 0) !== 0) throw abortError();
      const { bytesRead } = await handle.read(buffer, 0, Math.min(buffer.length, size - at), from + at);
      if (bytesRead === 0) break;
      count.feed(buffer.subarray(0, bytesRead));
      at += bytesRead;
    }
    return whole?.isFile() ? whole.size : undefined;
  } finally {
    await handle.close();
  }
}
