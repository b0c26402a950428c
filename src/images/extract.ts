import { abortError, errnoError, fromNodeError, LayercopyError, type LayerSource, layerError } from '../core/errors.js';
import { type CancelFlag, type NativeChanges, type NativeFailure, type NativePolicy, native, type TarReader, type TarTree } from '../core/native.cjs';
import { displayPath } from '../core/paths.js';
import { turns } from '../core/turns.js';
import { GzipFallback } from './decompress.js';

/**
 * Writes a layer's tar stream as an extracted layer directory beneath
 * `root` (an fd): what `tar -xp --xattrs --numeric-owner` gives, minus its
 * dangers. The tar is parsed and written by the native helper as the
 * chunks arrive (native/tar.c, where the format's rules and the meanings
 * kept for what tars hold are listed); every write goes beneath root with
 * openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS), so no name, link or
 * symlink of the tar reaches outside it. Whiteout markers stay files: the
 * planners apply them, as for directory layers. `onChunk` sees every byte
 * (the diff_id hash), the padding after the end-of-archive blocks too.
 * With `claims` (the provision's set and this layer's index), a file a
 * higher layer already hides gets its size without data; RestartLayer: a hardlink that
 * stays needs one, so the layer must be read again without claims.
 * Entries get their metadata by `policy` (native/meta.h). `direct`: root
 * is the rootfs of a one-layer image (TAR_DIRECT, native/tar.h: markers
 * checked, not written; the root left 0700; RestartLayer where a directory
 * of the layer is replaced). `source`: the argument it came from, by which
 * its entries are named as the plan names them (an image layer's `/etc/x`
 * after its label, a tarball's `FILE:/etc/x`; a marker's refusal as
 * src/strategies/whiteouts.ts words it). `claims.record: false`: no lower layer reads
 * the set. `plain`: the tar is not inflated (TAR_PLAIN). Resolves with the counts, the directories no header described
 * (packed names, src/core/entries.ts unpack), what the policy changed, the
 * tree as written and the mode the root takes. `hash` (where
 * native.tarHashes()): every byte is hashed on the thread that writes the
 * tar rather than this one, and comes back as `digest`. `piped`: the
 * reader runs on a thread of its own (TAR_PIPE, native/tarpipe.h).
 */
export async function extractTar(input: AsyncIterable<Buffer>, root: number, label: string, opts: TarOptions & { onChunk?: (chunk: Buffer) => void } = {}): Promise<TarExtracted> {
  return extractTarWith(root, label, opts, async (reader, fail) => {
    // Read on the main thread (one zstd layer), a decompressor's chunks come as resolved promises that keep
    // every signal handler waiting: a 1 MB zstd layer of 30 GiB of zeros held Ctrl-C off for 15 s and committed.
    const turn = turns();
    for await (const chunk of input) {
      opts.onChunk?.(chunk);
      const failed = native.tarFeed(reader, chunk, opts.cancel);
      if (failed) fail(failed);
      const due = turn();
      if (due) await due;
    }
  });
}

/** How extractTar reads a tar (see there). */
export interface TarOptions {
  hash?: boolean;
  piped?: boolean;
  cancel?: CancelFlag;
  claims?: TarClaims;
  policy?: NativePolicy;
  direct?: boolean;
  plain?: boolean;
  source?: LayerSource;
  /** Whiteout markers written with their metadata (native/tar.h, TAR_MARKER_META): the layer read again for a hardlink to one. */
  markerMeta?: boolean;
}

/**
 * extractTar with the reader fed by `feed`: chunks given with tarFeed, or
 * a blob pumped by the native helper (tarPump, src/images/layer.ts).
 * `fail` throws a failure the reader told (the error naming the layer and
 * the entry); anything else `feed` throws is the input's, after which a
 * failure the reader's thread still holds is told first.
 */
export async function extractTarWith(
  root: number,
  label: string,
  opts: TarOptions,
  feed: (reader: TarReader, fail: (failure: NativeFailure) => never) => Promise<void>,
): Promise<TarExtracted> {
  let reader: TarReader;
  try {
    const flags = (opts.direct ? 1 : 0) | (opts.claims?.record === false ? 2 : 0) | (opts.plain ? 4 : 0) | (opts.hash ? 8 : 0) | (opts.piped ? 16 : 0) | (opts.markerMeta ? 32 : 0);
    reader = native.tarOpen(root, opts.claims?.id, opts.claims?.layer, opts.policy, flags);
  } catch (error) {
    if (typeof (error as { errno?: unknown }).errno !== 'number') throw error;
    const f = fromNodeError(error, 'fremovexattr', '/');
    throw errnoError(f, (name, description) => `${label}: the layer's scratch directory: ${f.syscall} failed: ${name} (${description})`, { layer: label, cause: error });
  }
  try {
    let told = false;
    try {
      await feed(reader, (failed) => {
        told = true;
        throw tarError(failed, label, opts.source);
      });
    } catch (error) {
      // The input failed (the decompressor, GzipFallback at its end): where
      // the reader's thread still holds a failure of bytes fed before, that
      // one is told, as the reader fed at once would have told it first.
      const failed = opts.piped && !told ? native.tarSettle(reader) : null;
      if (failed) throw tarError(failed, label, opts.source);
      throw error;
    }
    const done = native.tarFinish(reader);
    if ('failure' in done) throw tarError(done.failure, label, opts.source);
    return { entries: done.entries, bytes: done.bytes, implied: done.implied, changes: done.changes, tree: done.tree, rootMode: done.rootMode, digest: done.digest };
  } finally {
    native.tarClose(reader);
  }
}

/** A layer whose data failed to read as a tar (or its compression), naming the layer and its file. */
export const invalidTar = (layer: { label: string; file: string; follow?: unknown }, message: string, cause?: unknown) =>
  new LayercopyError(`${layer.label}: ${message}`, { code: 'ERR_INVALID_TAR', layer: layer.label, ...(layer.follow ? {} : { path: layer.file }), cause });

/**
 * A layer's reading failed (the tar reader, the decompressor, the input):
 * the error to tell. A restart or a gzip fallback is thrown as it is (the
 * layer is read again); anything but a layercopy error is the data's
 * (`what: message`, what the data is: tar, gzip, zstd). `checkBlob`: what
 * the reader made of the bytes may come from a corrupt blob, so the blob
 * is checked before it is told. A write that failed (ENOSPC, EIO, EACCES
 * in the scratch directory) says nothing about the blob, the bytes read so
 * far having parsed, and is not held back while the rest of a big blob is
 * read; an abort is no failure of the layer. A bad marker is checked too:
 * the plan checks markers after the layer verified (one whose blob is
 * corrupt is ERR_DIGEST_MISMATCH there), the direct extraction as it reads
 * them.
 */
export function readingFailure(layer: { label: string; file: string; follow?: unknown }, what: string, error: unknown): { failure: LayercopyError; checkBlob: boolean } {
  if (error instanceof RestartLayer || error instanceof GzipFallback) throw error;
  const failure = error instanceof LayercopyError ? error : invalidTar(layer, `${what}: ${(error as Error).message}`, error);
  return { failure, checkBlob: failure.code === 'ERR_INVALID_TAR' || failure.code === 'ERR_UNSUPPORTED_ENTRY' || failure.code === 'ERR_INVALID_WHITEOUT' };
}

/**
 * Whether the tar reader is fed on a thread of its own (native/tarpipe.h);
 * LAYERCOPY_TAR_PIPE=0 feeds it on the caller's (tests, comparisons).
 */
export function tarPiped(): boolean {
  return process.env.LAYERCOPY_TAR_PIPE !== '0';
}

/** A provision's claims set and a layer's index among all layers; record: false where no lower tar layer asks the set. */
export interface TarClaims {
  id: number;
  layer: number;
  record?: boolean;
}

export interface TarExtracted {
  entries: number;
  bytes: number;
  implied: string;
  changes?: NativeChanges;
  tree: TarTree;
  rootMode: number;
  /** With `hash`: "sha256:<hex>" of every byte fed. */
  digest?: string;
}

/** Not a failure: the layer must be extracted again, writing every file, or into a scratch directory (see extractTar). */
export class RestartLayer extends Error {
  override name = 'RestartLayer';
  /** Read again without the claims set it is cured (a hardlink to a file made without data); else it must go to a scratch directory. */
  readonly hidden: boolean;
  constructor(message: string, hidden = false) {
    super(message);
    this.hidden = hidden;
  }
}

/**
 * An entry of a tar layer as errors name it: "FILE:/etc/x" for a tarball
 * given (the path as given, as the plan names its markers), "/etc/x" after
 * an image layer's label, and where no argument is known (a layer filled
 * into a store, a probe) "/etc/x".
 */
function entryPath(rel: string, source?: LayerSource): string {
  const tarball = source !== undefined && (source.digest ?? source.diffId) === undefined;
  return tarball ? `${source.arg}:${displayPath('/', rel)}` : displayPath('/', rel);
}

/** A native failure of a tar layer as an error naming the layer and the entry. */
function tarError(f: NativeFailure, label: string, source?: LayerSource): Error {
  const where = f.rel === undefined ? undefined : entryPath(f.rel, source);
  const at = where === undefined ? '' : `${where}: `;
  if (f.code === 'EINVALIDTAR' || f.code === 'EUNSUPPORTEDENTRY') {
    return new LayercopyError(`${label}: ${at}${f.detail}`, {
      code: f.code === 'EINVALIDTAR' ? 'ERR_INVALID_TAR' : 'ERR_UNSUPPORTED_ENTRY',
      layer: label,
      path: where,
    });
  }
  if (f.code === 'ECANCELED') return abortError();
  if (f.code === 'ERESTARTLAYER' || f.code === 'ERESTARTHIDDEN') return new RestartLayer(`${label}: ${at}${f.detail}`, f.code === 'ERESTARTHIDDEN');
  // Straight into the rootfs the reader checks the markers the plan would
  // check (src/strategies/whiteouts.ts): a bad one is named the plan's way,
  // "layer 2 (FILE): FILE:/etc/.wh.": one fault, one message, however many
  // layers the image has.
  if (f.code === 'EINVALIDWHITEOUT' && source) {
    return layerError({ layer: label, dir: `${label}:`, layerIndex: source.argIndex, rootfs: '', source }, f.rel ?? '', 'ERR_INVALID_WHITEOUT', f.detail ?? '');
  }
  if (f.code === 'EINVALIDWHITEOUT') return new LayercopyError(`${label}: ${at}${f.detail}`, { code: 'ERR_INVALID_WHITEOUT', layer: label, path: where });
  if (f.code === 'EUNMAPPEDUID' || f.code === 'EUNMAPPEDGID') {
    return new LayercopyError(`${label}: ${at}${f.detail}`, { code: 'ERR_UNMAPPED_ID', layer: label, path: where, syscall: f.syscall });
  }
  // ENOSPC, EDQUOT, EIO, EACCES: the system's word, naming the layer and the entry.
  const detail = f.detail ? `: ${f.detail}` : '';
  return errnoError({ errno: f.errno, syscall: f.syscall, path: where }, (name, description) => `${label}: ${at}${f.syscall} failed: ${name} (${description})${detail}`, {
    layer: label,
  });
}
