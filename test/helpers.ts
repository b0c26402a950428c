// Fixture builders and filesystem inspection for the tests: real trees in
// temp directories (tmpfs when available: the root filesystem of these
// machines is slow at creating files), real lstat/xattr/readlink results.
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { afterAll } from 'vitest';
import { native } from '../dist/src/native.js';

export { native };

const base = fs.existsSync('/dev/shm') && fs.statSync('/dev/shm').isDirectory() ? '/dev/shm' : os.tmpdir();
const made: string[] = [];
afterAll(() => {
  for (const dir of made) fs.rmSync(dir, { recursive: true, force: true });
});

/** A fresh scratch directory, removed after the test file. */
export function scratch(): string {
  const dir = fs.mkdtempSync(path.join(base, 'layercopy-test-'));
  made.push(dir);
  return dir;
}

export type Time = [sec: number, nsec: number];

export interface NodeSpec {
  file?: string | Buffer;
  dir?: true;
  symlink?: string;
  /** Hardlink to another rel of the same layer (created after it). */
  link?: string;
  fifo?: true;
  sock?: true;
  chr?: [number, number];
  blk?: [number, number];
  /** Sparse file: total size and data written at offsets. */
  sparse?: { size: number; data: [number, string][] };
  mode?: number;
  uid?: number;
  gid?: number;
  xattrs?: Record<string, string | Buffer>;
  atime?: Time;
  mtime?: Time;
}

export type LayerSpec = Record<string, string | NodeSpec>;

let stamp = 0;
/**
 * Distinct nanosecond times. atime is set a little in the future: relatime
 * updates atime on read when it is older than mtime or ctime (and ctime is
 * "now" for a fresh fixture), which would make every snapshot disagree.
 */
function defaultTimes(): { atime: Time; mtime: Time } {
  stamp++;
  const now = Math.floor(Date.now() / 1000);
  return { atime: [now + 3600 + stamp, 987654321 - stamp], mtime: [1600000000 + stamp * 7, 123456789 + stamp] };
}

/** Builds a layer directory from a spec; parents are created as 0755 directories. */
export function buildLayer(dir: string, spec: LayerSpec, rootMeta: NodeSpec = {}): string {
  fs.mkdirSync(dir, { recursive: true });
  const entries = Object.entries(spec).map(([rel, s]) => [rel, typeof s === 'string' ? { file: s } : s] as const);
  const timed: [string, NodeSpec][] = [];
  const ensureParent = (rel: string) => {
    const parent = path.dirname(rel);
    if (parent === '.') return;
    if (!fs.existsSync(path.join(dir, parent))) {
      ensureParent(parent);
      fs.mkdirSync(path.join(dir, parent));
      timed.push([parent, { dir: true }]);
    }
  };
  for (const [rel, s] of entries) {
    const p = path.join(dir, rel);
    ensureParent(rel);
    if (s.dir) {
      if (!fs.existsSync(p)) fs.mkdirSync(p);
    } else if (s.symlink !== undefined) fs.symlinkSync(s.symlink, p);
    else if (s.link !== undefined) fs.linkSync(path.join(dir, s.link), p);
    else if (s.fifo) native.mknod(p, fs.constants.S_IFIFO | 0o644, 0, 0);
    else if (s.chr) native.mknod(p, fs.constants.S_IFCHR | 0o644, ...s.chr);
    else if (s.blk) native.mknod(p, fs.constants.S_IFBLK | 0o644, ...s.blk);
    else if (s.sock) execFileSync('python3', ['-c', 'import socket,sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])', p]);
    else if (s.sparse) {
      const fd = fs.openSync(p, 'w');
      for (const [offset, data] of s.sparse.data) fs.writeSync(fd, data, offset);
      fs.ftruncateSync(fd, s.sparse.size);
      fs.closeSync(fd);
    } else fs.writeFileSync(p, s.file ?? '');
    if (s.link === undefined) timed.push([rel, s]);
  }
  for (const [rel, s] of timed) {
    const p = path.join(dir, rel);
    if (s.uid !== undefined || s.gid !== undefined) fs.lchownSync(p, s.uid ?? 0, s.gid ?? 0);
    if (s.mode !== undefined && s.symlink === undefined) fs.chmodSync(p, s.mode);
    for (const [name, value] of Object.entries(s.xattrs ?? {})) native.lsetxattr(p, name, Buffer.from(value));
  }
  // Times last, deepest first, so creating children does not bump them.
  const all: [string, NodeSpec][] = [...timed, ['', rootMeta]];
  if (rootMeta.mode !== undefined) fs.chmodSync(dir, rootMeta.mode);
  all.sort((a, b) => b[0].split('/').length - a[0].split('/').length || (b[0] < a[0] ? -1 : 1));
  for (const [rel, s] of all) {
    const t = defaultTimes();
    const at = s.atime ?? t.atime;
    const mt = s.mtime ?? t.mtime;
    native.lutimens(rel === '' ? dir : path.join(dir, rel), at[0], at[1], mt[0], mt[1]);
  }
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
      xattrs: Object.keys(xattrs).sort().map((k) => `${k}=${xattrs[k].toString('hex')}`).join(','),
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
