// Builds layer directories from a compact spec: the sample image, the
// benchmark workloads and the test fixtures all use it. Node has no xattr,
// mknod or nanosecond-time API, so those go through the native helper.

import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fixtures as native } from './native-fixtures.cjs';

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

export type LayerSpec = Record<string, string | Buffer | NodeSpec>;

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
  const entries = Object.entries(spec).map(([rel, s]) => [rel, typeof s === 'string' || Buffer.isBuffer(s) ? { file: s } : s] as const);
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
