// Fixture builders and filesystem inspection for the tests: real trees in
// temp directories (tmpfs when available: the root filesystem of these
// machines is slow at creating files), real lstat/xattr/readlink results.
import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll } from 'vitest';
import type { LayerSpec } from '../bench/layers.js';
import { fixtures as native } from '../bench/native-fixtures.cjs';
import type { LayercopyError } from '../src/core/errors.js';
import { provision } from '../src/index.js';

export { buildLayer, type LayerSpec, type NodeSpec, type Time } from '../bench/layers.js';

export { native };

/** Root can set any owner, make device nodes and set trusted.* xattrs; fixtures that need it say so. */
export const isRoot = process.getuid?.() === 0;

/**
 * Whether `nobody` can run this checkout's CLI (root only): not when the
 * clone lies under a 0700 directory such as root's home. Tests that run
 * layercopy as nobody skip otherwise, saying so.
 */
export const nobodyCanRun: boolean = (() => {
  if (!isRoot) return false;
  const cli = new URL('../dist/src/index.js', import.meta.url).pathname;
  try {
    execFileSync(
      'setpriv',
      ['--reuid=nobody', '--regid=nogroup', '--clear-groups', process.execPath, '-e', `require('fs').accessSync(${JSON.stringify(cli)}, require('fs').constants.R_OK)`],
      { stdio: 'ignore' },
    );
    return true;
  } catch {
    return false;
  }
})();

/**
 * Provisions one layer an entry per batch on one worker and calls change()
 * once, after the first batch: a source that changes between planning and
 * copying. Resolves to the summary, or to the error.
 */
export function provisionWhileChanging(layer: string, rootfs: string, change: () => void) {
  let first = true;
  return provision([layer], rootfs, {
    concurrency: 1,
    batchSize: 1,
    onProgress: () => {
      if (!first) return;
      first = false;
      change();
    },
  }).catch((e) => e);
}

/** A POSIX ACL xattr value (version 2; tag, perm, id per entry; id defaults to ACL_UNDEFINED_ID). */
export function acl(entries: [tag: number, perm: number, id?: number][]): Buffer {
  return Buffer.concat([
    Buffer.from([2, 0, 0, 0]),
    ...entries.map(([tag, perm, id = 0xffffffff]) => {
      const b = Buffer.alloc(8);
      b.writeUInt16LE(tag, 0);
      b.writeUInt16LE(perm, 2);
      b.writeUInt32LE(id, 4);
      return b;
    }),
  ]);
}

/** Owner fields for a fixture: as given when root, none otherwise (a non-root user cannot chown). */
export function owner(uid: number, gid: number): { uid?: number; gid?: number } {
  return isRoot ? { uid, gid } : {};
}

const base = fs.existsSync('/dev/shm') && fs.statSync('/dev/shm').isDirectory() ? '/dev/shm' : os.tmpdir();
const made: string[] = [];
afterAll(() => {
  // rm -rf, not fs.rmSync: fixtures may hold paths past PATH_MAX, which Node's fs cannot reach.
  if (made.length === 0) return;
  // As another user than root, rm cannot empty a 0555 or 0000 directory (rootfs trees hold them, as images do).
  const left = made.filter((d) => fs.existsSync(d));
  if (!isRoot && left.length > 0) execFileSync('chmod', ['-R', 'u+rwX', '--', ...left]);
  execFileSync('rm', ['-rf', '--', ...made]);
});

/** A fresh scratch directory, removed after the test file. */
export function scratch(): string {
  const dir = fs.mkdtempSync(path.join(base, 'layercopy-test-'));
  made.push(dir);
  return dir;
}

export interface EntryInfo {
  type: string;
  mode: number;
  uid: number;
  gid: number;
  size?: number;
  sha256?: string;
  target?: string;
  rdev?: number;
  blocks?: number;
  xattrs: string;
  atimeNs: bigint;
  mtimeNs: bigint;
  /** Sorted names sharing this inode, for regular files with links. */
  links?: string;
}

function typeOf(st: fs.BigIntStats): string {
  if (st.isFile()) return 'file';
  if (st.isDirectory()) return 'dir';
  if (st.isSymbolicLink()) return 'symlink';
  if (st.isFIFO()) return 'fifo';
  if (st.isSocket()) return 'socket';
  if (st.isCharacterDevice()) return 'chr';
  if (st.isBlockDevice()) return 'blk';
  return 'unknown';
}

/** Every entry of a tree, by path relative to its root ('' is the root itself). */
export function snapshot(root: string, options: { atime?: boolean } = {}): Map<string, EntryInfo> {
  const out = new Map<string, EntryInfo>();
  const inodes = new Map<bigint, string[]>();
  const visit = (rel: string) => {
    const p = rel === '' ? root : path.join(root, rel);
    const st = fs.lstatSync(p, { bigint: true });
    const xattrs = native.lgetxattrs(p);
    const info: EntryInfo = {
      type: typeOf(st),
      mode: Number(st.mode & 0o7777n),
      uid: Number(st.uid),
      gid: Number(st.gid),
      xattrs: Object.keys(xattrs)
        .sort()
        .map((k) => `${k}=${xattrs[k].toString('hex')}`)
        .join(','),
      atimeNs: options.atime === false ? 0n : st.atimeNs,
      mtimeNs: st.mtimeNs,
    };
    if (info.type === 'file') {
      info.size = Number(st.size);
      info.sha256 = crypto.createHash('sha256').update(fs.readFileSync(p)).digest('hex');
      if (st.nlink > 1n) {
        const list = inodes.get(st.ino) ?? [];
        list.push(rel);
        inodes.set(st.ino, list);
      }
    }
    if (info.type === 'symlink') info.target = fs.readlinkSync(p);
    if (info.type === 'chr' || info.type === 'blk') info.rdev = Number(st.rdev);
    out.set(rel, info);
    if (info.type === 'dir') {
      for (const name of fs.readdirSync(p).sort()) visit(rel === '' ? name : `${rel}/${name}`);
    }
  };
  visit('');
  for (const names of inodes.values()) {
    const key = [...names].sort().join('|');
    for (const name of names) out.get(name)!.links = key;
  }
  return out;
}

/** Human-readable differences between two snapshots (empty when equal). */
export function diffSnapshots(a: Map<string, EntryInfo>, b: Map<string, EntryInfo>): string[] {
  const diffs: string[] = [];
  const fmt = (e: EntryInfo) => JSON.stringify(e, (_k, v) => (typeof v === 'bigint' ? v.toString() : v));
  for (const [rel, ea] of a) {
    const eb = b.get(rel);
    if (!eb) diffs.push(`only in first: ${rel}`);
    else if (fmt(ea) !== fmt(eb)) diffs.push(`differs: ${rel}\n  ${fmt(ea)}\n  ${fmt(eb)}`);
  }
  for (const rel of b.keys()) if (!a.has(rel)) diffs.push(`only in second: ${rel}`);
  return diffs;
}

/** Lists a tree's relative paths (sorted), for quick presence checks. */
export function listTree(root: string): string[] {
  return [...snapshot(root, { atime: false }).keys()].filter((k) => k !== '').sort();
}

export function lstat(p: string): fs.BigIntStats {
  return fs.lstatSync(p, { bigint: true });
}

export function exists(p: string): boolean {
  try {
    fs.lstatSync(p);
    return true;
  } catch {
    return false;
  }
}

/** A small deterministic PRNG so the generated image is the same every run. */
function rng(seed: number) {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

/** A generated three-layer image: every entry kind, whiteouts, opaque dirs, replacements. */
export function generateImage(seed: number): LayerSpec[] {
  const r = rng(seed);
  const pick = <T>(xs: T[]) => xs[Math.floor(r() * xs.length)];
  const dirs = ['bin', 'etc', 'etc/ssl', 'usr/lib', 'usr/share/doc', 'var/lib/dpkg', 'opt/app', 'opt/app/node_modules/x'];
  const base: LayerSpec = {};
  for (let i = 0; i < 120; i++) {
    const d = pick(dirs);
    const rel = `${d}/f${i}`;
    const kind = r();
    if (kind < 0.7)
      base[rel] = { file: `content ${i} `.repeat(Math.floor(r() * 50)), mode: pick([0o644, 0o755, 0o600, 0o4755, 0o2750]), uid: pick([0, 0, 1, 100]), gid: pick([0, 0, 5, 100]) };
    else if (kind < 0.85) base[rel] = { symlink: pick(['f1', '../x', '/abs/path', 'dangling/target']) };
    else if (kind < 0.9) base[rel] = { file: 'x', xattrs: { 'user.k': `v${i}`, 'trusted.t': 't' } };
    else if (kind < 0.95) base[rel] = { fifo: true };
    else base[rel] = { chr: [1, Math.floor(r() * 9)] };
  }
  base['bin/hl1'] = 'hardlinked';
  base['bin/hl2'] = { link: 'bin/hl1' };
  base['etc/ssl/hl3'] = { link: 'bin/hl1' };
  base['etc/ssl'] = { dir: true, mode: 0o700, uid: 1, gid: 1 };
  base['var/tmp'] = { dir: true, mode: 0o1777 };
  base.lib = { symlink: 'usr/lib' };

  const l2: LayerSpec = {
    'etc/.wh.ssl': '',
    'usr/share/.wh..wh..opq': '',
    'usr/share/new/readme': 'new doc',
    'var/lib/dpkg/status': 'installed',
    'lib/x86_64/libz.so': 'replaces the lib symlink with a directory',
    'etc/ssl/recreated': 'same layer as the whiteout of its parent',
  };
  for (let i = 0; i < 120; i += 7) {
    const d = pick(dirs);
    if (d.startsWith('etc/ssl') || d.startsWith('usr/share')) continue;
    l2[`${d}/.wh.f${i}`] = '';
  }
  const l3: LayerSpec = {
    'opt/app/node_modules/x': 'a file replacing a directory',
    bin: { dir: true, mode: 0o711, mtime: [1111111111, 111] },
    'bin/new-tool': { file: 'tool', mode: 0o755 },
    'var/lib/dpkg/status': { file: 'upgraded', mode: 0o640 },
    'opt/app/index.js': { symlink: '../../usr/lib' },
  };
  const image = [base, l2, l3];
  // Without root, keep what a user can build: no owners, device nodes or trusted.* xattrs.
  if (!isRoot) {
    for (const spec of image) {
      for (const [rel, v] of Object.entries(spec)) {
        if (typeof v !== 'object' || Buffer.isBuffer(v)) continue;
        if (v.chr || v.blk) delete spec[rel];
        delete v.uid;
        delete v.gid;
        if (v.xattrs) v.xattrs = Object.fromEntries(Object.entries(v.xattrs).filter(([k]) => !k.startsWith('trusted.')));
      }
    }
  }
  return image;
}

/** The error a synchronous call throws, for assertions on its fields; a call that does not throw fails the test. */
export function failure(f: () => unknown): LayercopyError {
  try {
    f();
  } catch (e) {
    return e as LayercopyError;
  }
  throw new Error('no error');
}

/** Resolves once process `pid` runs in a user namespace other than this one's (after its `unshare -U`), or after 2.5 s: its maps can be written then. */
export async function enteredUserNamespace(pid: number): Promise<void> {
  const mine = fs.readlinkSync('/proc/self/ns/user');
  for (let i = 0; i < 500; i++) {
    try {
      if (fs.readlinkSync(`/proc/${pid}/ns/user`) !== mine) return;
    } catch {
      // not started yet
    }
    await new Promise((r) => setTimeout(r, 5));
  }
}
