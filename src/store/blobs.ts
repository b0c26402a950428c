import crypto from 'node:crypto';
import fs from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { sha256 } from '../core/digest.js';
import { LayercopyError } from '../core/errors.js';
import { FOLLOW_DONE, FOLLOW_FAILED, followProgress } from '../images/follow.js';
import { blobPath, lockPath, type Store, tmpName } from './layout.js';
import { StoreLock } from './lock.js';

// The store's blobs (blobs/sha256/HEX): written to tmp/ and renamed into
// place only once their bytes are known to hash to their name.

export { sha256 };

export function hasBlob(store: Store, digest: string): boolean {
  return fs.existsSync(blobPath(store, digest));
}

/** A small blob (manifest, config) read whole and checked against its name; undefined where it is missing or does not match. */
export function readSmallBlob(store: Store, digest: string): Buffer | undefined {
  let data: Buffer;
  try {
    data = fs.readFileSync(blobPath(store, digest));
  } catch {
    return undefined;
  }
  return sha256(data) === digest ? data : undefined;
}

/**
 * Pins a blob (a shared lock: prune passes it over) and, where the store
 * lacks it, writes it (a manifest or config, checked first). Returns the pin.
 */
export async function pinSmallBlob(store: Store, digest: string, data: Buffer | undefined, signal?: AbortSignal): Promise<StoreLock> {
  const pin = (await StoreLock.acquire(lockPath(store, 'blob', digest), 'sh', { wait: true, signal }))!;
  try {
    if (data !== undefined && !hasBlob(store, digest)) {
      if (sha256(data) !== digest) throw new LayercopyError(`store: blob ${digest} does not match its digest`, { code: 'ERR_DIGEST_MISMATCH', digest });
      const tmp = path.join(store.root, 'tmp', tmpName('blob'));
      fs.writeFileSync(tmp, data, { mode: 0o644 });
      // Concurrent writers of one digest write the same bytes: the last rename wins, harmlessly.
      fs.renameSync(tmp, blobPath(store, digest));
    }
    return pin;
  } catch (error) {
    pin.release();
    throw error;
  }
}

/**
 * A local image's blob as a download (the interface of a docker:// layer's):
 * its bytes copied from the image file (from `start`, `size` bytes) into
 * the spool file the extraction follows, which is then the store's blob.
 */
export function copyFrom(file: string, start: number, size: number) {
  return async (out: FileHandle, progress: BigInt64Array, onBytes?: (bytes: number) => void): Promise<void> => {
    const input = await fs.promises.open(file, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
    let written = 0;
    try {
      const buffer = Buffer.allocUnsafe(1 << 20);
      while (written < size) {
        const { bytesRead } = await input.read(buffer, 0, Math.min(buffer.length, size - written), start + written);
        if (bytesRead === 0) break;
        await out.write(buffer, 0, bytesRead, written);
        written += bytesRead;
        Atomics.store(progress, 0, BigInt(written));
        onBytes?.(bytesRead);
      }
    } finally {
      await input.close();
      // A short file: the extraction's size check names it.
      Atomics.store(progress, 1, BigInt(written === size ? FOLLOW_DONE : FOLLOW_FAILED));
    }
  };
}

/** The sha256 of `size` bytes of `file` from `start` (a docker-archive layer stored under a name that is no digest). */
export async function hashRange(file: string, start: number, size: number): Promise<string> {
  if (size === 0) return sha256(Buffer.alloc(0));
  const hash = crypto.createHash('sha256');
  const stream = fs.createReadStream(file, { start, end: start + size - 1, highWaterMark: 1 << 20 });
  for await (const chunk of stream) hash.update(chunk as Buffer);
  return `sha256:${hash.digest('hex')}`;
}

/**
 * Writes a layer's blob the store lacks though its layer is extracted (an
 * image of the same tar compressed otherwise, a blob verify --repair
 * removed): fetched into tmp/, checked against its digest and size, renamed
 * into place. The caller holds a pin on it.
 */
export async function fetchBlob(
  store: Store,
  layer: { digest: string; size: number; label: string; fetch: (out: FileHandle, progress: BigInt64Array) => Promise<void> },
): Promise<void> {
  const file = path.join(store.root, 'tmp', tmpName('blob'));
  try {
    const out = await fs.promises.open(file, 'wx', 0o600);
    try {
      await layer.fetch(out, followProgress());
    } finally {
      await out.close();
    }
    const size = fs.statSync(file).size;
    const got = await hashRange(file, 0, size);
    if (got !== layer.digest || size !== layer.size) {
      throw new LayercopyError(`${layer.label}: its blob hashes to ${got} (${size} bytes), not ${layer.digest} (${layer.size} bytes)`, {
        code: 'ERR_DIGEST_MISMATCH',
        digest: layer.digest,
      });
    }
    fs.renameSync(file, blobPath(store, layer.digest));
  } finally {
    fs.rmSync(file, { force: true });
  }
}

/** Hashes a stored blob again (verify): its digest, or undefined where it cannot be read. */
export async function rehash(file: string): Promise<string | undefined> {
  try {
    const st = fs.statSync(file);
    return await hashRange(file, 0, st.size);
  } catch {
    return undefined;
  }
}
