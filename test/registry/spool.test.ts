// The downloads of a provision (src/registry/spool.ts): a start that
// fails (its spool files cannot be made) closes what it opened, and no
// download left running rejects with no one waiting on it; which of two
// failures is told.
import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { abortError } from '../../src/core/errors.js';
import { alongside, startDownloads } from '../../src/registry/spool.js';
import { scratch } from '../helpers.js';

describe('startDownloads', () => {
  it('spool files that cannot be made: ready rejects, and close() leaves no unhandled rejection', async () => {
    const dir = scratch();
    const fd = fs.openSync(dir, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
    fs.closeSync(fd);
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => unhandled.push(reason);
    process.on('unhandledRejection', onUnhandled);
    try {
      // A closed fd: /proc/self/fd/N/0.blob cannot be opened.
      const layers = [{ tar: { file: '', label: 'l', size: 10 }, download: async () => {} }];
      const downloads = startDownloads(layers, fd, 2);
      await expect(downloads.ready).rejects.toThrow();
      await downloads.close();
      await new Promise((resolve) => setTimeout(resolve, 50));
      expect(unhandled).toEqual([]);
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
  });

  it('one at a time: small layers first, then the largest (as their extractions are handed out)', async () => {
    const dir = scratch();
    const fd = fs.openSync(dir, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
    const started: string[] = [];
    const layer = (label: string, size: number) => ({ tar: { file: '', label, size }, download: async () => void started.push(label) });
    const downloads = startDownloads([layer('base', 90 << 20), layer('app', 30 << 20), layer('cleanup', 534), layer('big', 400 << 20)], fd, 1);
    await downloads.ready;
    await downloads.done;
    fs.closeSync(fd);
    expect(started).toEqual(['cleanup', 'big', 'base', 'app']);
  });
});

describe('startDownloads: fds', () => {
  it('each spool file is open only while its download runs: 300 layers, 2 at a time, hold a few fds, not 300 (EMFILE under a limit)', async () => {
    const dir = scratch();
    const fd = fs.openSync(dir, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
    const open = () => fs.readdirSync('/proc/self/fd').length;
    const before = open();
    let most = 0;
    const layer = (i: number) => ({
      tar: { file: '', label: `l${i}`, size: 10 },
      download: async (out: fs.promises.FileHandle) => {
        most = Math.max(most, open());
        await out.write(Buffer.from(`layer ${i}`));
      },
    });
    const downloads = startDownloads(
      Array.from({ length: 300 }, (_, i) => layer(i)),
      fd,
      2,
    );
    await downloads.ready;
    await downloads.done;
    // Every spool file there from the start, each with what its download wrote.
    expect(fs.readdirSync(dir)).toHaveLength(300);
    expect(fs.readFileSync(`${dir}/299.blob`, 'utf8')).toBe('layer 299');
    fs.closeSync(fd);
    expect(most - before).toBeLessThan(12);
  });
});

describe('alongside', () => {
  const stop = () => ({ cancel: new Int32Array(new SharedArrayBuffer(4)), abortPull: () => undefined });
  const later = <T>(ms: number, f: () => T) =>
    new Promise<T>((resolve, reject) =>
      setTimeout(() => {
        try {
          resolve(f());
        } catch (e) {
          reject(e);
        }
      }, ms),
    );

  it("a download's failure is the one told, though the abort it caused in the extraction came out first", async () => {
    const failed = Object.assign(new Error('the connection failed'), { code: 'ERR_REGISTRY' });
    const downloads = later(30, () => {
      throw failed;
    });
    const extraction = later(5, () => {
      throw abortError();
    });
    await expect(alongside(downloads, extraction, stop())).rejects.toBe(failed);
  });

  it("an extraction's own failure stays the one told; the downloads it stopped are not", async () => {
    const own = Object.assign(new Error('digest mismatch'), { code: 'ERR_DIGEST_MISMATCH' });
    const downloads = later(30, () => {
      throw abortError();
    });
    const extraction = later(5, () => {
      throw own;
    });
    await expect(alongside(downloads, extraction, stop())).rejects.toBe(own);
  });
});
