// One tar layer straight into the rootfs: past the first 256 empty files
// and symlinks (and, uncompressed, files of up to 16 KiB), lanes make them, a directory's to one lane in the tar's
// order (native/tar.c, "Lanes"); every other step waits for what they hold
// where it acts. The tree is the one the reader alone makes.
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { provision } from '../../src/index.js';
import { isRoot, lstat, scratch } from '../helpers.js';
import { provisionRawTar, type RawEntry, rawTar } from './fixtures.js';

const T = 1_600_000_000;
const dir = (name: string, mtime: number, mode = 0o755): RawEntry => ({ name, type: '5', mode, mtime });
const empty = (name: string, mtime = T, mode = 0o644): RawEntry => ({ name, data: '', mtime, mode });
const symlink = (name: string, linkname: string, mtime = T): RawEntry => ({ name, type: '2', linkname, mtime, mode: 0o777 });

/** 300 empty files and symlinks in three directories: enough for the lanes to start. */
function many(): RawEntry[] {
  const out: RawEntry[] = [];
  for (const d of ['a', 'b', 'c']) {
    out.push(dir(`${d}/`, T + 10));
    for (let i = 0; i < 100; i++) out.push(i % 4 === 3 ? symlink(`${d}/l${i}`, `../x/${i}`, T + i) : empty(`${d}/f${i}`, T + i, 0o600 + (i % 8)));
  }
  return out;
}

const extract = (entries: RawEntry[]) => provisionRawTar(entries, T);

const seconds = (p: string) => Number(lstat(p).mtimeNs / 1_000_000_000n);

describe('lanes: a layer of many empty files and symlinks, straight into the rootfs', () => {
  it('each file and symlink with its own mode and times, each directory with its header’s times after them', async () => {
    const root = await extract(many());
    for (const d of ['a', 'b', 'c']) {
      expect(fs.readdirSync(path.join(root, d))).toHaveLength(100);
      for (let i = 0; i < 100; i++) {
        if (i % 4 === 3) {
          const p = path.join(root, d, `l${i}`);
          expect(lstat(p).isSymbolicLink()).toBe(true);
          expect(fs.readlinkSync(p)).toBe(`../x/${i}`);
          expect(seconds(p)).toBe(T + i);
        } else {
          const st = lstat(path.join(root, d, `f${i}`));
          expect([st.isFile(), Number(st.size), Number(st.mode & 0o7777n), Number(st.mtimeNs / 1_000_000_000n)]).toEqual([true, 0, 0o600 + (i % 8), T + i]);
        }
      }
      expect(seconds(path.join(root, d))).toBe(T + 10);
    }
  });

  it('a directory of a few files, which wait in their lane: its times after them', async () => {
    const few = [dir('d/', T + 20), ...[0, 1, 2, 3, 4].map((i) => empty(`d/f${i}`)), dir('e/', T + 21), empty('e/f')];
    const root = await extract([...many(), ...few]);
    expect(fs.readdirSync(path.join(root, 'd'))).toHaveLength(5);
    expect(seconds(path.join(root, 'd'))).toBe(T + 20);
    expect(seconds(path.join(root, 'e'))).toBe(T + 21);
  });

  it('more directories than lanes keep fds for (64), come back to in turn: every file, each directory its header’s times', async () => {
    const dirs = Array.from({ length: 80 }, (_, i) => dir(`m${i}/`, T + 100 + i));
    const rounds = [0, 1, 2].flatMap((r) => Array.from({ length: 80 }, (_, i) => empty(`m${i}/r${r}`, T + r)));
    const root = await extract([...many(), ...dirs, ...rounds]);
    for (let i = 0; i < 80; i++) {
      expect(fs.readdirSync(path.join(root, `m${i}`)).sort()).toEqual(['r0', 'r1', 'r2']);
      expect(seconds(path.join(root, `m${i}`))).toBe(T + 100 + i);
    }
    expect(seconds(path.join(root, 'm7/r2'))).toBe(T + 2);
  });

  it('files with data, up to 16 KiB on a lane (the tar is not compressed) and past it by the reader: each one’s bytes, mode and times; a hardlink to one', async () => {
    const sizes = [1, 511, 512, 513, 4096, 16384, 16385, 70000];
    const bytes = (n: number) => Buffer.from(Array.from({ length: n }, (_, i) => (i * 7 + n) & 0xff));
    const files = sizes.map((n, i): RawEntry => ({ name: `c/data${n}`, data: bytes(n), mtime: T + i, mode: 0o640 }));
    // 1.6 MB of them: the tar is read in chunks of 1 MiB, so one's data comes in two.
    const more = Array.from({ length: 100 }, (_, i): RawEntry => ({ name: `b/more${i}`, data: bytes(16000 + i), mtime: T }));
    const root = await extract([...many(), ...files, ...more, { name: 'c/hard', type: '1', linkname: 'c/data4096' }]);
    for (let i = 0; i < 100; i++) expect(fs.readFileSync(path.join(root, `b/more${i}`)).equals(bytes(16000 + i))).toBe(true);
    sizes.forEach((n, i) => {
      const p = path.join(root, `c/data${n}`);
      expect(fs.readFileSync(p).equals(bytes(n))).toBe(true);
      expect([Number(lstat(p).mode & 0o7777n), seconds(p)]).toEqual([0o640, T + i]);
    });
    expect(lstat(path.join(root, 'c/hard')).ino).toBe(lstat(path.join(root, 'c/data4096')).ino);
  });

  it.runIf(isRoot)('owners from PAX records are set [needs root: chown]', async () => {
    const entries = many();
    entries.push({ name: 'c/owned', data: '', mtime: T, pax: { uid: '1234', gid: '5678' } });
    const root = await extract(entries);
    const st = lstat(path.join(root, 'c/owned'));
    expect([Number(st.uid), Number(st.gid)]).toEqual([1234, 5678]);
  });

  it('a name given twice: the later entry (a file over a symlink, a symlink over a file, a directory over a file)', async () => {
    const root = await extract([...many(), symlink('a/f0', 'now-a-link', T + 1), empty('a/l3', T + 2, 0o640), dir('a/f1/', T + 3), empty('a/f1/inside', T + 4)]);
    expect(fs.readlinkSync(path.join(root, 'a/f0'))).toBe('now-a-link');
    const st = lstat(path.join(root, 'a/l3'));
    expect([st.isFile(), Number(st.mode & 0o7777n), Number(st.mtimeNs / 1_000_000_000n)]).toEqual([true, 0o640, T + 2]);
    expect(lstat(path.join(root, 'a/f1')).isDirectory()).toBe(true);
    expect(seconds(path.join(root, 'a/f1'))).toBe(T + 3);
    expect(fs.readdirSync(path.join(root, 'a/f1'))).toEqual(['inside']);
  });

  it('an empty file waiting in its lane, then the same name with data: the data', async () => {
    const root = await extract([...many(), dir('g/', T), empty('g/f0'), empty('g/f1'), { name: 'g/f1', data: 'later', mtime: T + 9 }]);
    expect(fs.readFileSync(path.join(root, 'g/f1'), 'utf8')).toBe('later');
    expect(seconds(path.join(root, 'g/f1'))).toBe(T + 9);
  });

  it('a file over a directory of the layer: read again beside the rootfs, the file', async () => {
    const root = await extract([...many(), dir('b/sub/', T), empty('b/sub/x'), empty('b/sub', T + 5)]);
    const st = lstat(path.join(root, 'b/sub'));
    expect([st.isFile(), Number(st.mtimeNs / 1_000_000_000n)]).toEqual([true, T + 5]);
  });

  it('a hardlink to a file a lane made: one inode', async () => {
    const root = await extract([...many(), { name: 'c/hard', type: '1', linkname: 'c/f98' }]);
    expect(lstat(path.join(root, 'c/hard')).ino).toBe(lstat(path.join(root, 'c/f98')).ino);
  });

  it('a directory the archive comes back to: entries added, its times as its header gave them', async () => {
    const root = await extract([...many(), empty('a/late', T + 7), symlink('b/late', 'x', T + 8)]);
    expect(fs.readdirSync(path.join(root, 'a'))).toHaveLength(101);
    expect(seconds(path.join(root, 'a'))).toBe(T + 10);
    expect(seconds(path.join(root, 'b'))).toBe(T + 10);
  });

  it('a tar cut in the middle of a small file’s data, on its way to a lane: ERR_INVALID_TAR, no rootfs', async () => {
    const at = scratch();
    const layer = path.join(at, 'layer.tar');
    const whole = rawTar([dir('./', T), ...many(), { name: 'a/cut', data: Buffer.alloc(4000, 1) }]);
    // The end-of-archive blocks and half the last file's data (its 4000 bytes end 1,024 + 96 padding bytes before the end) go.
    fs.writeFileSync(layer, whole.subarray(0, whole.length - 1024 - 96 - 2000));
    const root = path.join(at, 'root');
    const error = (await provision([layer], root).catch((e: unknown) => e)) as Error & { code?: string };
    expect(error?.code).toBe('ERR_INVALID_TAR');
    expect(error?.message).toContain('truncated');
    expect(fs.existsSync(root)).toBe(false);
  });

  it('a lane’s failure, then a later entry the reader refuses: the lane’s is told (the earlier entry)', async () => {
    const at = scratch();
    const layer = path.join(at, 'layer.tar');
    // A symlink to nothing: symlinkat fails with ENOENT on the lane; then a name climbing out, which the reader refuses.
    fs.writeFileSync(layer, rawTar([dir('./', T), ...many(), symlink('a/bad', ''), empty('../evil')]));
    const error = (await provision([layer], path.join(at, 'root')).catch((e: unknown) => e)) as Error & { code?: string };
    expect(error?.code).toBe('ENOENT');
    expect(error?.message).toContain('/a/bad');
  });

  it('a lane’s failure names the layer and the entry, and leaves no rootfs', async () => {
    const at = scratch();
    const layer = path.join(at, 'layer.tar');
    // A name of 300 bytes: mknod fails with ENAMETOOLONG on the lane.
    const long = `a/${'n'.repeat(300)}`;
    fs.writeFileSync(layer, rawTar([dir('./', T), ...many(), { name: 'a/x', data: '', pax: { path: long } }, ...many().slice(1, 50)]));
    const root = path.join(at, 'root');
    const error = (await provision([layer], root).catch((e: unknown) => e)) as Error & { code?: string };
    expect(error?.message).toContain('layer.tar');
    expect(error?.message).toContain('nnnnnnnn');
    expect(error?.code).toBe('ENAMETOOLONG');
    expect(fs.existsSync(root)).toBe(false);
  });
});
