// Fixture builders and filesystem inspection for the tests: real trees in
// temp directories (tmpfs when available: the root filesystem of these
// machines is slow at creating files), real lstat/xattr/readlink results.
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll } from 'vitest';
import { native } from '../dist/src/native.cjs';
export { buildLayer, type LayerSpec, type NodeSpec, type Time } from '../dist/bench/layers.js';

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
