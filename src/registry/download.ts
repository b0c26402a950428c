import { readlinkSync } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { errnoWords } from '../core/errno-words.js';
import { abortError, errnoCode, errnoError, fromNodeError, LayercopyError } from '../core/errors.js';
import { FOLLOW_DONE, FOLLOW_FAILED } from '../images/follow.js';
import type { TarLayer } from '../images/layer.js';
import type { RegistryClient } from './client.js';
import { type HttpResponse, isTransient, networkReason } from './http.js';
import { receiveBody } from './receive.js';

// A resumed download starts from the bytes already written, never from zero
// where the registry answers Range with 206. A connection that keeps failing
// without progress ends the pull; one that makes progress may be resumed
// this many times in all (a flaky link over a big blob).
const MAX_RESUMES = 20;
const MAX_STALLS = 5;
// What a download may hold in memory while its spool file is written: more waits for the write.
const MAX_QUEUED = 4 << 20;

/**
 * A failure to write the blob where it goes (ENOSPC, EIO, a file size
 * limit): the filesystem's, not the connection's, and no retry cures it.
 * Taken for a network failure, it was retried 5 times, each time writing
 * up to the same byte, then told as "the connection failed: ENOSPC".
 */
function writeFailure(error: unknown, out: FileHandle, where: { label: string; what: string; fields: { layer: string; layerIndex: number } }): LayercopyError {
  const e = error as NodeJS.ErrnoException;
  let file: string | undefined;
  try {
    file = readlinkSync(`/proc/self/fd/${out.fd}`);
  } catch {
    file = undefined;
  }
  const told = (why: string) => `${where.label}: ${where.what}: cannot be written${file ? ` to ${file}` : ''}: ${why}`;
  // A write that wrote nothing and said no errno (SpoolWriter's own error): told as it says.
  if (typeof e.errno !== 'number')
    return new LayercopyError(told(e.message ?? String(error)), { code: errnoCode(e.code), ...where.fields, ...(file ? { path: file } : {}), syscall: e.syscall, cause: error });
  return errnoError(fromNodeError(error, 'write', file), (name, description) => told(errnoWords(name, description)), { ...where.fields, cause: error });
}

/**
 * A download's spool file, written in order: what arrives while a write is
 * under way goes into the next one, all of it in one writev. One write per
 * chunk (up to 64 KiB from a socket) was a round trip through libuv's thread pool
 * each, and on a machine busy extracting, the download waited on them. At
 * most MAX_QUEUED bytes wait in memory; `flushed` bytes are on file and
 * published in progress[0].
 */
export class SpoolWriter {
  flushed = 0;
  #queue: Buffer[] = [];
  #queued = 0;
  #writing: Promise<void> | undefined;
  #error: unknown;

  constructor(
    private readonly out: { writev(buffers: Buffer[], position: number): Promise<{ bytesWritten: number }> },
    private readonly progress: BigInt64Array,
  ) {}

  /** Queues a chunk (written after everything queued before it); resolves once there is room for more. */
  async push(chunk: Buffer): Promise<void> {
    if (this.#error !== undefined) throw this.#error;
    this.#queue.push(chunk);
    this.#queued += chunk.length;
    this.#next();
    while (this.#queued >= MAX_QUEUED && this.#writing) await this.#writing;
    if (this.#error !== undefined) throw this.#error;
  }

  /** `bytes` more written at `flushed` by another (the native receiver, which published them); nothing may be queued. */
  advance(bytes: number): void {
    this.flushed += bytes;
  }

  /** Waits until everything queued is on file; throws the write's error, if one failed. */
  async drain(): Promise<void> {
    while (this.#writing) await this.#writing;
    if (this.#error !== undefined) throw this.#error;
  }

  #next(): void {
    if (this.#writing || this.#queued === 0 || this.#error !== undefined) return;
    const buffers = this.#queue;
    const bytes = this.#queued;
    this.#queue = [];
    this.#queued = 0;
    this.#writing = this.#write(buffers, bytes).then(
      () => {
        this.flushed += bytes;
        Atomics.store(this.progress, 0, BigInt(this.flushed));
        this.#writing = undefined;
        this.#next();
      },
      (error) => {
        this.#error = error;
        this.#writing = undefined;
      },
    );
  }

  async #write(buffers: Buffer[], bytes: number): Promise<void> {
    let done = (await this.out.writev(buffers, this.flushed)).bytesWritten;
    // A short write (a full filesystem): the rest again, for the error it then gets.
    while (done < bytes) {
      const n = (await this.out.writev([Buffer.concat(buffers).subarray(done)], this.flushed + done)).bytesWritten;
      if (n === 0) throw new Error(`spool file: wrote ${done} of ${bytes} bytes`);
      done += n;
    }
  }
}

/**
 * Downloads a layer's blob into `out` (its spool file in the scratch
 * directory), publishing the bytes written in progress[0] for the
 * extraction that follows the file (src/images/follow.ts), and its end in
 * progress[1]. Nothing is verified here: the extraction hashes every byte
 * it reads and checks size and digest at the end, before anything is
 * committed.
 */
export async function downloadBlob(
  client: RegistryClient,
  tar: TarLayer,
  out: FileHandle,
  progress: BigInt64Array,
  run: { label: string; fields: { layer: string; layerIndex: number }; onBytes?: (bytes: number) => void; first?: Promise<HttpResponse> },
): Promise<void> {
  const size = tar.size ?? Number.POSITIVE_INFINITY;
  const what = `blob ${tar.digest}`;
  const spool = new SpoolWriter(out, progress);
  // Bytes received (queued or on file): where a resumed request starts.
  let written = 0;
  let resumes = 0;
  let stalls = 0;
  // The first attempt's answer, where its request went out early.
  let first = run.first;
  try {
    while (written < size) {
      const before = written;
      // The response whose body this turn reads: where a failure of it came from (client.leaveMirror).
      let answered: HttpResponse | undefined;
      try {
        const sent = first ?? blobRequest(client, tar, written > 0 ? written : undefined);
        first = undefined;
        const response = await sent;
        answered = response;
        if (response.status === 404) {
          await response.cancel();
          throw new LayercopyError(`${tar.label}: ${what}: not found in the registry`, { code: 'ERR_IMAGE_NOT_FOUND', ...run.fields });
        }
        // The length the registry says it serves: another blob than the manifest's (a truncated file in its storage) fails now, not after as many tries as a cut connection gets.
        const served = servedSize(response.status, response.headers);
        if (served !== undefined && tar.size !== undefined && served !== tar.size) {
          await response.cancel();
          throw new LayercopyError(`${tar.label}: ${what}: the registry serves ${served} bytes, the manifest says ${tar.size}`, {
            code: 'ERR_DIGEST_MISMATCH',
            ...run.fields,
          });
        }
        // A 200 to a Range request is the whole blob again: what is already written is skipped.
        let skip = written > 0 && response.status !== 206 ? written : 0;
        if (response.status === 206 && !(response.headers.get('content-range') ?? '').startsWith(`bytes ${written}-`)) {
          await response.cancel();
          throw new LayercopyError(`${tar.label}: ${what}: the registry answered a range from byte ${written} with ${response.headers.get('content-range')}`, {
            code: 'ERR_REGISTRY',
            ...run.fields,
          });
        }
        // Plain HTTP with a Content-Length, into a file (not the bench floor's hashing sink): the body goes straight to it on a native thread (src/registry/receive.ts).
        const direct =
          skip === 0 && tar.size !== undefined && out.fd >= 0
            ? await receiveBody(response, {
                fd: out.fd,
                position: written,
                length: size - written,
                progress,
                idleMs: client.idleMsOf(response),
                onBytes: run.onBytes,
              })
            : undefined;
        if (direct) {
          written += direct.received;
          spool.advance(direct.received);
          if (direct.error) throw direct.error;
        }
        for await (let chunk of direct ? [] : response.body) {
          if (skip > 0) {
            const n = Math.min(skip, chunk.length);
            skip -= n;
            chunk = chunk.subarray(n);
            if (chunk.length === 0) continue;
          }
          // More than the descriptor says: the size check fails it; nothing past it is kept.
          if (written + chunk.length > size) chunk = chunk.subarray(0, size - written + 1);
          await spool.push(chunk);
          written += chunk.length;
          run.onBytes?.(chunk.length);
          if (written > size) break;
        }
        // The body ended: the whole blob, or a cut the registry closed cleanly.
        if (written >= size || tar.size === undefined) {
          await spool.drain();
          return;
        }
        // Short, and closed cleanly: tried again as a cut is, and counted as one (a registry that ended it there every time was asked forever).
        throw Object.assign(new Error(`the response ended at byte ${written}`), { code: 'ERR_BODY_ENDED_EARLY' });
      } catch (error) {
        // What was received before the failure is written all the same (a resume starts after it).
        const unwritten = await spool.drain().then(
          () => undefined,
          (e: unknown) => e,
        );
        // The spool's own write failed (drain throws it again, whatever threw here), or the native receiver's ('pwrite').
        if (unwritten !== undefined || (error as { syscall?: string })?.syscall === 'pwrite')
          throw writeFailure(unwritten ?? error, out, { label: tar.label, what, fields: run.fields });
        // An abort (Ctrl-C, or the provision failing elsewhere) is no failure of this download.
        if ((error as Error)?.name === 'AbortError') throw abortError();
        if (error instanceof LayercopyError || !isTransient(error)) throw error;
        // A mirror's body that failed: the next source, from where it left off.
        if (client.leaveMirror(answered, error)) continue;
        if (written === before ? ++stalls >= MAX_STALLS : ++resumes > MAX_RESUMES) {
          const why = (error as { code?: string }).code === 'ERR_BODY_ENDED_EARLY' ? 'the registry ended the response there' : networkReason(error);
          throw new LayercopyError(`${tar.label}: ${what}: the connection failed at byte ${written} of ${tar.size}: ${why}`, {
            code: 'ERR_REGISTRY',
            ...run.fields,
            cause: error,
          });
        }
        if (written > before) stalls = 0;
      }
    }
  } finally {
    // No write outlives the download (the spool file is closed after it); a failed one fails it.
    await spool.drain().catch(() => {
      written = -1;
    });
    Atomics.store(progress, 1, BigInt(written >= size && spool.flushed === written ? FOLLOW_DONE : FOLLOW_FAILED));
  }
}

/** A layer blob's GET, from byte `range` on where given. */
export function blobRequest(client: RegistryClient, tar: TarLayer, range?: number): Promise<HttpResponse> {
  return client.get(`blobs/${tar.digest}`, { what: `blob ${tar.digest}`, range });
}

/** The whole blob's size as a response gives it: a 200's Content-Length, a 206's Content-Range total; undefined where it does not say. */
function servedSize(status: number, headers: { get(name: string): string | null }): number | undefined {
  const text = status === 206 ? /\/(\d+)\s*$/.exec(headers.get('content-range') ?? '')?.[1] : status === 200 ? headers.get('content-length') : undefined;
  const n = text === undefined || text === null || text.trim() === '' ? Number.NaN : Number(text);
  return Number.isSafeInteger(n) ? n : undefined;
}
