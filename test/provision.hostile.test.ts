// Hostile layers (docs/reliability.md). As root the scenarios run in a
// private mount namespace where / is read-only and the scratch area is a
// fresh tmpfs, so symlinks may point at the real /etc and /usr: a bug shows
// up as a failed provision (EROFS) or a changed canary, never as damage.
// Without root they run directly, with the "host" paths in a decoy tree.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { beforeAll, describe, expect, it } from 'vitest';
import { scratch } from './helpers.js';

const harness = fileURLToPath(new URL('./fixtures/hostile.mjs', import.meta.url));
type Facts = {
  outcome: string;
  message?: string;
  tree?: Record<string, string>;
  rootIsDir?: boolean;
  rootfsExists?: boolean;
  sameAsLayer?: boolean;
  inodesDiffer?: boolean;
  besideRootfs: string;
  layersUnchanged: boolean;
  canariesIntact: boolean;
  layeredSame?: boolean | string;
};
type Measured = { outcome: string; maxRssKiB: number; size: number };
let results: Record<string, Facts> & {
  host: { unchanged: boolean; inNamespace: boolean };
  enospc?: Record<string, unknown>;
  enospcTar?: Record<string, unknown>;
  bomb?: Record<string, unknown> & { roomy: Measured; roomyZstd?: Measured };
};

async function canUseNamespace(): Promise<boolean> {
  if (process.getuid?.() !== 0) return false;
  const r = await execa('unshare', ['-m', 'sh', '-c', 'mount -o remount,bind,ro / && ! touch /.layercopy-ns-probe 2>/dev/null'], { reject: false });
  return r.exitCode === 0;
}

beforeAll(async () => {
  if (await canUseNamespace()) {
    const mountPoint = fs.mkdtempSync(path.join(os.tmpdir(), 'layercopy-ns-'));
    try {
      const r = await execa('unshare', [
        '-m',
        'sh',
        '-c',
        'mount -o remount,bind,ro / && mount -t tmpfs -o size=512m tmpfs "$1" && LAYERCOPY_NS=1 exec node "$2" "$1"',
        'sh',
        mountPoint,
        harness,
      ]);
      results = JSON.parse(r.stdout);
    } finally {
      fs.rmdirSync(mountPoint);
    }
  } else {
    const r = await execa('node', [harness, scratch()]);
    results = JSON.parse(r.stdout);
  }
}, 120_000);

const escapes: [string, (tree: Record<string, string>) => void][] = [
  [
    'absolute symlink to a host dir, then a directory and a file under it',
    (t) => expect(t).toMatchObject({ usr: 'dir', 'usr/bin/python3': 'file:evil', 'usr/lib/new/x': 'file:evil' }),
  ],
  ['symlink to a host file, then a file at its path', (t) => expect(t).toEqual({ bad: 'file:evil' })],
  ['relative symlink climbing out, then a directory under it', (t) => expect(t).toEqual({ a: 'dir', 'a/passwd': 'file:evil' })],
  ['whiteout under a symlink to a host dir', (t) => expect(t).toEqual({ usr: 'dir' })],
  ['opaque marker under a symlink to a host dir', (t) => expect(t).toEqual({ etc: 'dir' })],
  ['whiteout of a symlink pointing at a host file', (t) => expect(t).toEqual({})],
  ['symlink chain out of the rootfs', (t) => expect(t).toMatchObject({ a: 'dir', 'a/passwd': 'file:evil', b: 'dir', 'b/shadow': 'file:evil' })],
  ['symlink loop', (t) => expect(t).toEqual({ l1: 'dir', 'l1/f': 'file:x', l2: 'symlink:l1' })],
  [
    '.. and / targets',
    (t) => expect(t).toEqual({ up: 'dir', 'up/escape': 'file:evil', root: 'dir', 'root/etc': 'dir', 'root/etc/passwd': 'file:evil', self: 'dir', 'self/inside': 'file:ok' }),
  ],
  ['dangling symlink, then a directory under it', (t) => expect(t).toEqual({ d: 'dir', 'd/x': 'file:x' })],
  ['hardlinked file whose other name a later layer replaces', (t) => expect(t).toEqual({ a: 'file:original', b: 'file:replaced' })],
  ['rootfs root stays a directory', (t) => expect(t).toEqual({ y: 'file:y' })],
];

describe('hostile layers', () => {
  it('ran in a read-only mount namespace when root (else in a decoy tree) and left the host unchanged', () => {
    expect(results.host.unchanged).toBe(true);
    if (process.getuid?.() === 0) expect(results.host.inNamespace).toBe(true);
  });

  it.each(escapes)('%s: contained in the rootfs', (name, check) => {
    const r = results[name];
    expect(r.outcome, r.message).toBe('ok');
    check(r.tree!);
    expect(r.layeredSame, 'the layered method gives the same tree').toBe(true);
    expect(r.rootIsDir).toBe(true);
    expect(r.besideRootfs).toBe('canary,l0,l1,rootfs');
    expect(r.canariesIntact).toBe(true);
    expect(r.layersUnchanged).toBe(true);
  });

  it('the replaced hardlink name gets a new inode', () => {
    expect(results['hardlinked file whose other name a later layer replaces'].inodesDiffer).toBe(true);
  });

  it.each([
    'symlink named .wh.something',
    'directory named .wh.x',
    '.wh. at the root',
    '.wh.. at the root',
    '.wh... at the root',
    '.wh. deep down',
    '.wh.. deep down',
    '.wh... deep down',
  ])('%s: rejected, naming layer and path; nothing created, nothing deleted', (name) => {
    const r = results[name];
    expect(r.outcome).toBe('ERR_INVALID_WHITEOUT');
    expect(r.message).toMatch(/^layer \d \(.*\): .*\/\.wh\.[^ ]*: invalid whiteout/);
    expect(r.rootfsExists).toBe(false);
    expect(r.besideRootfs).not.toMatch(/rootfs|layercopy/);
    expect(r.canariesIntact).toBe(true);
    expect(r.layersUnchanged).toBe(true);
  });

  it('names with newlines, spaces, non-UTF-8 bytes, 255 bytes and ~4000-byte paths are copied byte for byte', () => {
    const r = results['strange names: newlines, spaces, non-UTF-8, 255 bytes, ~4000-byte paths'];
    expect(r.outcome, r.message).toBe('ok');
    expect(r.sameAsLayer).toBe(true);
    expect(r.layeredSame).toBe(true);
    expect(Object.keys(r.tree!).length).toBeGreaterThan(25);
  });

  it('out of space: ENOSPC naming the file, CLI exit 1, no rootfs and no staging left [needs root: a private mount namespace with a tiny tmpfs]', (ctx) => {
    if (!results.enospc) ctx.skip();
    const r = results.enospc!;
    expect(r.outcome).toBe('ENOSPC');
    expect(r.message).toMatch(/copy .*rootfs\/big\/blob\.bin: \w+ failed: ENOSPC/);
    expect(r.left).toEqual([]);
    expect(r.cliStatus).toBe(1);
    expect(String(r.cliStderr).trim().split('\n')).toHaveLength(1);
    expect(r.leftAfterCli).toEqual([]);
  });

  it('out of space while extracting a tarball layer: ENOSPC naming the layer and file; no rootfs, staging or scratch left [needs root: a private mount namespace with a tiny tmpfs]', (ctx) => {
    if (!results.enospcTar) ctx.skip();
    const r = results.enospcTar!;
    expect(r.outcome).toBe('ENOSPC');
    expect(r.message).toMatch(/enospc-layer\.tar\.gz.*\/big\/blob\.bin: .*ENOSPC/);
    expect(r.left).toEqual([]);
  });

  it('a decompression bomb (512 MiB of zeros in half a megabyte of gzip): ENOSPC where it does not fit, nothing left; where it fits, written with a bounded peak RSS [needs root: a private mount namespace with tmpfs mounts]', (ctx) => {
    if (!results.bomb) ctx.skip();
    const b = results.bomb!;
    expect(b.compressed as number).toBeLessThan(1024 * 1024);
    expect(b.outcome).toBe('ENOSPC');
    expect(b.message).toMatch(/bomb\.tar\.gz.*\/zeros: .*ENOSPC/);
    expect(b.left).toEqual([]);
    // The layer is streamed: never held whole, whatever it inflates to (gzip; zstd where the zstd CLI could make one).
    for (const r of [b.roomy, ...(b.roomyZstd ? [b.roomyZstd] : [])]) {
      expect(r).toMatchObject({ outcome: 'ok', size: 512 * 1024 * 1024 });
      expect(r.maxRssKiB).toBeLessThan(300 * 1024);
    }
  });
});
