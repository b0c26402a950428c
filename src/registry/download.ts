import type { FileHandle } from 'node:fs/promises';
import { abortError, LayercopyError } from '../core/errors.js';
import { FOLLOW_DONE, FOLLOW_FAILED } from '../images/follow.js';
import type { TarLayer } from '../images/layer.js';
import type { RegistryClient } from './client.js';
import { isTransient, networkReason } from './http.js';

// A resumed download starts from the bytes already written, never from zero
// where the registry answers Range with 206. A connection that keeps failing
// without progress ends the pull; one that makes progress may be resumed
// this many times in all (a flaky link over a big blob).
const MAX_RESUMES = 20;
const MAX_STALLS = 5;

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
  run: { label: string; fields: { layer: string; layerIndex: number }; onBytes?: (bytes: number) => void },
): Promise<void> {
  const size = tar.size ?? Number.POSITIVE_INFINITY;
  const what = `blob ${tar.digest}`;
  let written = 0;
  let resumes = 0;
  let stalls = 0;
  try {
    while (written < size) {
      const before = written;
      try {
        const response = await client.get(`blobs/${tar.digest}`, { what, range: written > 0 ? written : undefined });
        if (response.status === 404) {
          await response.body?.cancel().catch(() => undefined);
          throw new LayercopyError(`${tar.label}: ${what}: not found in the registry`, { code: 'ERR_IMAGE_NOT_FOUND', ...run.fields });
        }
        // A 200 to a Range request is the whole blob again: what is already written is skipped.
        let skip = written > 0 && response.status !== 206 ? written : 0;
        if (response.status === 206 && !(response.headers.get('content-range') ?? '').startsWith(`bytes ${written}-`)) {
          await response.body?.cancel().catch(() => undefined);
          throw new LayercopyError(`${tar.label}: ${what}: the registry answered a range from byte ${written} with ${response.headers.get('content-range')}`, {
            code: 'ERR_REGISTRY',
            ...run.fields,
          });
        }
        for await (const part of response.body ?? []) {
          let chunk = Buffer.from(part.buffer, part.byteOffset, part.byteLength);
          if (skip > 0) {
            const n = Math.min(skip, chunk.length);
            skip -= n;
            chunk = chunk.subarray(n);
            if (chunk.length === 0) continue;
          }
          // More than the descriptor says: the size check fails it; nothing past it is kept.
          if (written + chunk.length > size) chunk = chunk.subarray(0, size - written + 1);
          await out.write(chunk, 0, chunk.length, written);
          written += chunk.length;
          Atomics.store(progress, 0, BigInt(written));
          run.onBytes?.(chunk.length);
          if (written > size) return;
        }
        // The body ended: the whole blob, or a cut the registry closed cleanly.
        if (written >= size || tar.size === undefined) return;
      } catch (error) {
        // An abort (Ctrl-C, or the provision failing elsewhere) is no failure of this download.
        if ((error as Error)?.name === 'AbortError') throw abortError();
        if (error instanceof LayercopyError || !isTransient(error)) throw error;
        if (written === before ? ++stalls >= MAX_STALLS : ++resumes > MAX_RESUMES) {
          throw new LayercopyError(`${tar.label}: ${what}: the connection failed at byte ${written} of ${tar.size}: ${networkReason(error)}`, {
            code: 'ERR_REGISTRY',
            ...run.fields,
            cause: error,
          });
        }
        if (written > before) stalls = 0;
      }
    }
  } finally {
    Atomics.store(progress, 1, BigInt(written >= size ? FOLLOW_DONE : FOLLOW_FAILED));
  }
}
