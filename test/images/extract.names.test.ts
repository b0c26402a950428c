// The tar reader's table lets go of the directories the archive has left
// (native/tar.c, evict): what it asks of one later, the filesystem answers.
// LAYERCOPY_TAR_NAMES=2 lets go after every second name, as a layer of
// millions of directories does after 128k.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { lstat } from '../helpers.js';
import { provisionRawTar, type RawEntry } from './fixtures.js';

const T = 1_600_000_000;
const dir = (name: string, mtime: number, mode = 0o755): RawEntry => ({ name, type: '5', mode, mtime });
const file = (name: string, data = name, mtime = T): RawEntry => ({ name, data, mtime });

beforeAll(() => {
  process.env.LAYERCOPY_TAR_NAMES = '2';
});
afterAll(() => {
  delete process.env.LAYERCOPY_TAR_NAMES;
});

const extract = (entries: RawEntry[], below: boolean) => provisionRawTar(entries, T, below);

const seconds = (p: string) => Number(lstat(p).mtimeNs / 1_000_000_000n);
const others = (n: number) => Array.from({ length: n }, (_, i) => dir(`o${i}/`, T));

describe.each([
  ['one layer, straight into the rootfs', false],
  ['over another layer, through scratch', true],
])('%s', (_how, below) => {
  it('an entry in a directory the table let go: its times and mode as its header gave them', async () => {
    const root = await extract([dir('a/', T + 1, 0o750), file('a/x'), dir('a/sub/', T + 2), ...others(8), file('a/later'), file('a/sub/later')], below);
    expect(fs.readdirSync(path.join(root, 'a')).sort()).toEqual(['later', 'sub', 'x']);
    expect([seconds(path.join(root, 'a')), Number(lstat(path.join(root, 'a')).mode & 0o7777n)]).toEqual([T + 1, 0o750]);
    expect(seconds(path.join(root, 'a/sub'))).toBe(T + 2);
  });

  it("a directory's header given again after the table let it go: the later header's metadata, its entries kept", async () => {
    const root = await extract([dir('a/', T + 1), file('a/x'), ...others(8), dir('a/', T + 4, 0o700), file('a/y')], below);
    expect(fs.readdirSync(path.join(root, 'a')).sort()).toEqual(['x', 'y']);
    expect([seconds(path.join(root, 'a')), Number(lstat(path.join(root, 'a')).mode & 0o7777n)]).toEqual([T + 4, 0o700]);
  });
});

describe('over another layer, through scratch', () => {
  it('a directory the table let go, replaced by a file: what stood below it is gone, and made again for a later entry', async () => {
    // p/a/i is implied (no header): through scratch the table keeps it for the plan, while p/a goes.
    const root = await extract([dir('p/', T), dir('p/a/', T + 1), file('p/a/i/x'), ...others(8), file('p/a', 'now a file'), file('p/a/i/y')], true);
    expect(lstat(path.join(root, 'p/a')).isDirectory()).toBe(true);
    expect(fs.readdirSync(path.join(root, 'p/a/i'))).toEqual(['y']);
  });
});
