// A directory's metadata is set once the archive has left it (native/tar.c,
// leave_dirs), as GNU tar does; a tar out of order, that comes back to a
// directory it left or gives its header again, still gets each directory's
// times and mode from its last header: one layer straight into the rootfs
// and the same layer over another, through scratch.
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { lstat, nobodyCanRun } from '../helpers.js';
import { asNobody, openScratch } from '../rootless-fixtures.js';
import { provisionRawTar, type RawEntry, rawTar } from './fixtures.js';

const T = 1_600_000_000;
const dir = (name: string, mtime: number, mode = 0o755): RawEntry => ({ name, type: '5', mode, mtime });
const file = (name: string): RawEntry => ({ name, data: name, mtime: T });

const extract = (entries: RawEntry[], below: boolean) => provisionRawTar(entries, T, below);

const seconds = (p: string) => Number(lstat(p).mtimeNs / 1_000_000_000n);

describe.each([
  ['one layer, straight into the rootfs', false],
  ['over another layer, through scratch', true],
])('%s', (_how, below) => {
  it('an entry in a directory the archive left: its times and mode as its header gave them', async () => {
    const root = await extract([dir('a/', T + 1, 0o555), file('a/x'), dir('b/', T + 2), file('b/y'), file('a/later'), dir('a/sub/deep/', T + 3)], below);
    expect(fs.readdirSync(path.join(root, 'a')).sort()).toEqual(['later', 'sub', 'x']);
    expect(seconds(path.join(root, 'a'))).toBe(T + 1);
    expect(Number(lstat(path.join(root, 'a')).mode & 0o7777n)).toBe(0o555);
    expect(seconds(path.join(root, 'a/sub/deep'))).toBe(T + 3);
    expect(seconds(path.join(root, 'b'))).toBe(T + 2);
  });

  it("a directory's header given again after the archive left it: the later header's times and mode", async () => {
    const root = await extract([dir('a/', T + 1), dir('b/', T + 2), file('a/x'), dir('a/', T + 4, 0o750), dir('c/', T + 5), file('b/z')], below);
    expect(seconds(path.join(root, 'a'))).toBe(T + 4);
    expect(Number(lstat(path.join(root, 'a')).mode & 0o7777n)).toBe(0o750);
    expect(seconds(path.join(root, 'b'))).toBe(T + 2);
    expect(fs.readdirSync(path.join(root, 'b'))).toEqual(['z']);
  });

  it('a directory given again, then come back to: the later header still', async () => {
    const root = await extract([dir('a/', T + 1), dir('b/', T + 2), dir('a/', T + 6), dir('c/', T + 7), file('a/y')], below);
    expect(seconds(path.join(root, 'a'))).toBe(T + 6);
    expect(fs.readdirSync(path.join(root, 'a'))).toEqual(['y']);
  });

  it("a directory replaced by a file after the archive left it: the file, the parent its header's times", async () => {
    const root = await extract([dir('p/', T + 1), dir('p/a/', T + 2), file('p/a/x'), dir('q/', T + 3), { name: 'p/a', data: 'now a file', mtime: T }], below);
    expect(fs.readFileSync(path.join(root, 'p/a'), 'utf8')).toBe('now a file');
    expect(seconds(path.join(root, 'p'))).toBe(T + 1);
  });
});

describe.runIf(nobodyCanRun)('as nobody [needs root, and a checkout user nobody can read]', () => {
  it('a 0555 and a 0000 directory the archive comes back to: written below, then their modes and times as the headers gave them', async () => {
    const at = openScratch();
    const layer = path.join(at, 'layer.tar');
    const entries = [dir('./', T), dir('ro/', T + 1, 0o555), dir('none/', T + 2, 0o000), dir('b/', T + 3), file('ro/x'), dir('ro/sub/', T + 4), file('none/y')];
    fs.writeFileSync(layer, rawTar(entries));
    fs.chmodSync(layer, 0o644);
    for (const out of ['one', 'two']) {
      const base = path.join(at, 'base');
      fs.mkdirSync(base, { recursive: true, mode: 0o755 });
      const r = await asNobody(['provision', '--json', ...(out === 'two' ? [base] : []), layer, path.join(at, out)]);
      expect(r.exitCode, r.stderr).toBe(0);
      const root = path.join(at, out);
      expect([Number(lstat(path.join(root, 'ro')).mode & 0o7777n), seconds(path.join(root, 'ro'))]).toEqual([0o555, T + 1]);
      expect([Number(lstat(path.join(root, 'none')).mode & 0o7777n), seconds(path.join(root, 'none'))]).toEqual([0, T + 2]);
      expect(fs.readdirSync(path.join(root, 'ro')).sort()).toEqual(['sub', 'x']);
      fs.chmodSync(path.join(root, 'none'), 0o700);
      expect(fs.readdirSync(path.join(root, 'none'))).toEqual(['y']);
    }
  });
});
