// A blob's sha256, hashed on a thread of the native helper's
// (native/hashpipe.h) or, where it has none, in JS: the same digest either
// way, whatever the chunks, and a wrong blob still fails its check.
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { native } from '../../src/core/native.cjs';
import { blobCount } from '../../src/images/blob.js';
import { provision } from '../../src/index.js';
import { scratch } from '../helpers.js';
import { ociImage, rawTar } from './fixtures.js';

afterEach(() => {
  delete process.env.LAYERCOPY_BLOB_HASH;
});

/** 5 MiB of random bytes in chunks of uneven sizes, an empty one among them. */
function chunks(): Buffer[] {
  const data = crypto.randomBytes(5 << 20);
  const out: Buffer[] = [];
  const sizes = [1, 0, 511, 1 << 20, 3 << 20, 7];
  let at = 0;
  for (let i = 0; at < data.length; i++) {
    const n = Math.min(sizes[i % sizes.length], data.length - at);
    out.push(data.subarray(at, at + n));
    at += n;
  }
  return out;
}

describe('a blob hashed as it streams past', () => {
  it.each(['native', 'js'] as const)('%s: the sha256 of every byte fed, and the count', (how) => {
    if (how === 'js') process.env.LAYERCOPY_BLOB_HASH = '0';
    const parts = chunks();
    const count = blobCount(true);
    // The caller reuses its buffers: what was fed is hashed as it was then.
    for (const part of parts) {
      const copy = Buffer.from(part);
      count.feed(copy);
      copy.fill(0);
    }
    expect(count.digest()).toBe(`sha256:${crypto.createHash('sha256').update(Buffer.concat(parts)).digest('hex')}`);
    expect(count.bytes()).toBe(5 << 20);
    // Asked again: the same answer.
    expect(count.digest()).toBe(count.digest());
  });

  it.runIf(native.tarHashes())('the native hash takes nothing after its digest', () => {
    const hash = native.hashOpen();
    expect(hash).not.toBeNull();
    if (!hash) return;
    native.hashFeed(hash, Buffer.from('abc'));
    expect(native.hashDigest(hash)).toBe('sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
    expect(() => native.hashFeed(hash, Buffer.from('more'))).toThrow(expect.objectContaining({ errno: os.constants.errno.EINVAL }));
  });

  it.runIf(native.tarHashes())('a native hash closed before its digest takes nothing more, and closes twice', () => {
    const hash = native.hashOpen();
    if (!hash) throw new Error('no native hash');
    native.hashFeed(hash, Buffer.alloc(3 << 20, 7));
    native.hashClose(hash);
    native.hashClose(hash);
    expect(() => native.hashFeed(hash, Buffer.from('more'))).toThrow(expect.objectContaining({ errno: os.constants.errno.EBADF }));
    expect(() => native.hashDigest(hash)).toThrow(expect.objectContaining({ errno: os.constants.errno.EBADF }));
  });

  it.each(['native', 'js'] as const)('%s: a blob with one byte flipped fails ERR_DIGEST_MISMATCH, and no rootfs is left', async (how) => {
    if (how === 'js') process.env.LAYERCOPY_BLOB_HASH = '0';
    const dir = scratch();
    const tar = rawTar([{ name: 'f', data: 'x'.repeat(4096) }]);
    const layout = ociImage(path.join(dir, 'img'), { layers: [tar], ref: 't' });
    const blobs = path.join(layout, 'blobs', 'sha256');
    const index = JSON.parse(fs.readFileSync(path.join(layout, 'index.json'), 'utf8'));
    const manifest = JSON.parse(fs.readFileSync(path.join(blobs, index.manifests[0].digest.slice(7)), 'utf8'));
    const blob = path.join(blobs, manifest.layers[0].digest.slice(7));
    const bytes = fs.readFileSync(blob);
    // A byte of the tar's padding: the tar still reads, only the digests differ.
    bytes[bytes.length - 10] ^= 1;
    fs.writeFileSync(blob, bytes);
    await expect(provision([`oci:${layout}:t`], path.join(dir, 'root'))).rejects.toMatchObject({ code: 'ERR_DIGEST_MISMATCH' });
    expect(fs.existsSync(path.join(dir, 'root'))).toBe(false);
  });
});
