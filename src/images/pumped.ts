// A gzip layer extracted with no JavaScript in the loop: the native
// helper's pump (native/pump.h) reads, hashes and inflates it into the tar
// reader's queue, and this thread only awaits it.
import fs from 'node:fs';
import { abortError, errnoCode, errnoError, LayercopyError } from '../core/errors.js';
import { native } from '../core/native.cjs';
import { checkBlob, layerMismatch, nativeBlobCount } from './blob.js';
import { chosenInflater, GzipFallback, readHead, sniffCompression } from './decompress.js';
import { extractTarWith, readingFailure, type TarExtracted, type TarOptions, tarPiped } from './extract.js';
import { followed } from './follow.js';
import { openRegular } from './regular.js';

/** What the pump reads of a layer (src/images/layer.ts, TarLayer). */
interface PumpedLayer {
  file: string;
  start?: number;
  size?: number;
  label: string;
  digest?: string;
  diffId?: string;
  /** A download still being written: read as it grows (its first 512 bytes there before pumps asks). */
  follow?: BigInt64Array;
}

/** What the pump takes of an extraction's options (src/images/layer.ts, ExtractOptions). */
type PumpOptions = Omit<TarOptions, 'hash' | 'piped' | 'plain'> & {
  onRead?: (bytes: number) => void;
  progress?: { read: BigInt64Array; slot: number };
  gunzip?: 'checked';
};

/**
 * Whether a layer is pumped by the native helper (extractPumped): a gzip
 * blob in a file of its own, an archive's or a download's (its first bytes
 * written: the caller waits for them), with a diff_id to check, read raw (not after a GzipFallback),
 * ISA-L the inflater and the reader and both hashes on threads of their
 * own. LAYERCOPY_PUMP=0 reads every layer through JavaScript (comparisons).
 */
export function pumps(layer: PumpedLayer, opts: PumpOptions = {}): boolean {
  if (layer.diffId === undefined || opts.gunzip === 'checked' || !pumpsHere()) return false;
  return sniffCompression(readHead(layer.file, layer.start)) === 'gzip';
}

/** Whether this process pumps gzip layers at all: ISA-L loads, the reader and both hashes have threads, and no variable says otherwise. */
export function pumpsHere(): boolean {
  if (process.env.LAYERCOPY_PUMP === '0' || chosenInflater() !== 'isal' || !tarPiped() || process.env.LAYERCOPY_BLOB_HASH === '0') return false;
  return native.tarHashes() && isalLoads();
}

let isal: boolean | undefined;
/** Whether ISA-L loads here (asked once a thread). */
function isalLoads(): boolean {
  isal ??= native.isalOpen() !== null;
  return isal;
}

/** A pump that found no ISA-L: nothing was read, the layer goes the JavaScript way. */
class PumpUnavailable extends Error {}

/**
 * What the native helper itself threw as a pump started (N-API: no
 * memory, no thread to start): it says nothing of the blob or its gzip,
 * and is a failure of reading the blob, with its errno's code (readingFailure
 * passes it on as it is, with no blob check).
 */
export function helperFailure(layer: { label: string }, error: unknown): LayercopyError {
  const e = error as NodeJS.ErrnoException;
  return new LayercopyError(`${layer.label}: reading the blob: ${e?.message ?? String(error)}`, {
    code: errnoCode(e?.code),
    layer: layer.label,
    syscall: e?.syscall,
    errno: e?.errno,
    cause: error,
  });
}

/**
 * A gzip layer read, hashed, inflated and written without JavaScript in
 * the loop (native/pump.h): the thread that would read and inflate it in
 * a worker or on the main thread (its V8 work, a copy of every inflated
 * MiB into the reader's queue, a hop through libuv's pool per read) is one
 * thread of the helper's, and this one only waits. The same reading as
 * openLayer's and gunzipRaw's — the same checks, failures and fallbacks;
 * undefined where ISA-L cannot be loaded after all.
 */
export async function extractPumped(layer: PumpedLayer, root: number, opts: PumpOptions): Promise<(TarExtracted & { compressedBytes: number }) | undefined> {
  const hash = native.hashOpen();
  if (!hash) return undefined;
  let read = 0;
  const count = nativeBlobCount(hash, () => read);
  let fd: number;
  try {
    fd = openRegular(layer.file);
  } catch (error) {
    count.close();
    throw error;
  }
  try {
    const tarOpts: TarOptions = {
      hash: true,
      piped: true,
      cancel: opts.cancel,
      claims: opts.claims,
      policy: opts.policy,
      direct: opts.direct,
      source: opts.source,
      markerMeta: opts.markerMeta,
    };
    let result: TarExtracted;
    try {
      result = await extractTarWith(root, layer.label, tarOpts, async (reader, fail) => {
        const length = layer.start === undefined ? -1 : (layer.size ?? 0);
        let r: Awaited<ReturnType<typeof native.tarPump>>;
        try {
          r = await native.tarPump(reader, fd, layer.start ?? 0, length, hash, opts.cancel, opts.progress?.read, opts.progress?.slot, layer.follow);
        } catch (error) {
          throw helperFailure(layer, error);
        }
        read = r.read;
        opts.onRead?.(read);
        if (r.status === 0) return;
        if (r.status === -1) throw new PumpUnavailable();
        if (r.status === 1) throw new GzipFallback(r.message);
        // As isalFeed throws ISA-L's errors (code ERR_ISAL), gunzipRaw its own (none).
        if (r.status === 2) throw Object.assign(new Error(r.message), r.code === undefined ? {} : { code: r.code });
        if (r.status === 3 && r.failure) fail(r.failure);
        if (r.status === 5) throw abortError();
        const f = r.failure ?? { errno: 0, syscall: 'read', side: 'layer' as const };
        throw errnoError(
          // A download's spool file is no path of the user's: the label names the blob.
          { errno: f.errno, syscall: f.syscall, path: layer.follow ? undefined : layer.file },
          (name, description) => `${layer.label}: reading the blob: ${f.syscall} failed: ${name} (${description})`,
          {
            layer: layer.label,
          },
        );
      });
    } catch (error) {
      // Nothing was fed to the reader, so nothing was written.
      if (error instanceof PumpUnavailable) return undefined;
      const { failure, checkBlob: blobFirst } = readingFailure(layer, 'gzip', error);
      if (!blobFirst) throw failure;
      // The rest of a blob still downloading is checked once it is all there.
      if (layer.follow) await followed(layer.follow, Number.MAX_SAFE_INTEGER, opts.cancel);
      throw await checkBlob(layer, failure, count, opts.cancel);
    }
    const failed = layerMismatch(layer, count, () => result.digest ?? '');
    if (failed) throw failed;
    return { ...result, compressedBytes: read };
  } finally {
    count.close();
    fs.closeSync(fd);
  }
}
