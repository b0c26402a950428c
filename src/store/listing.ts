import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { native } from '../core/native.cjs';

// A layer's listing, written as it is extracted into the store and read
// back by verify: every entry's path (bytes, as latin1), type letter, mode,
// size and modification time. Nothing in the store is ever written after
// extraction, so any difference is damage: a file changed in place (its
// mtime, or its size), removed, added, or its mode changed.

const EACCES = os.constants.errno.EACCES;

export interface ListedEntry {
  type: string;
  mode: number;
  size: number;
  mtimeMs: number;
  /**
   * A directory this process may not list (EACCES: a 0000 directory of a
   * layer extracted rootless, walked without CAP_DAC_READ_SEARCH): what is
   * beneath it is not walked, and not compared (another reader — root, root
   * of `unshare -U -r` — sees it, and must not take it for damage).
   */
  unlisted?: boolean;
}

/** Walks the tree at `root`: path ('' for the root) to what lstat says of it. */
export function walk(root: string): Map<string, ListedEntry> {
  const out = new Map<string, ListedEntry>();
  const rootBytes = Buffer.from(root);
  const stat = (rel: string, type: string) => {
    const full = rel === '' ? rootBytes : Buffer.concat([rootBytes, Buffer.from(`/${rel}`, 'latin1')]);
    try {
      const st = fs.lstatSync(full);
      out.set(rel, { type, mode: st.mode & 0o7777, size: type === 'd' ? 0 : st.size, mtimeMs: st.mtimeMs });
    } catch {
      out.set(rel, { type: '?', mode: 0, size: 0, mtimeMs: 0 });
    }
  };
  stat('', 'd');
  const fd = fs.openSync(root, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY | fs.constants.O_NOFOLLOW);
  try {
    const dirs = [''];
    while (dirs.length > 0) {
      const dir = dirs.pop()!;
      const listing = native.listDir(fd, dir);
      if (listing.failure) {
        const seen = out.get(dir);
        out.set(dir, listing.failure.errno === EACCES && seen ? { ...seen, unlisted: true } : { type: '?', mode: 0, size: 0, mtimeMs: 0 });
        continue;
      }
      listing.names.forEach((name, i) => {
        const rel = dir === '' ? name : `${dir}/${name}`;
        const type = listing.types[i];
        stat(rel, type);
        if (type === 'd') dirs.push(rel);
      });
    }
  } finally {
    fs.closeSync(fd);
  }
  return out;
}

/** The listing file's text: one JSON array per line, [path, type, mode, size, mtimeMs]. */
export function formatListing(entries: Map<string, ListedEntry>): string {
  const lines: string[] = [];
  for (const [rel, e] of entries) lines.push(JSON.stringify([rel, e.type, e.mode, e.size, e.mtimeMs, ...(e.unlisted ? [1] : [])]));
  return `${lines.join('\n')}\n`;
}

export function parseListing(text: string): Map<string, ListedEntry> {
  const out = new Map<string, ListedEntry>();
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const [rel, type, mode, size, mtimeMs, unlisted] = JSON.parse(line) as [string, string, number, number, number, number?];
    out.set(rel, { type, mode, size, mtimeMs, ...(unlisted ? { unlisted: true } : {}) });
  }
  return out;
}

/** Bytes the listing's regular files take: what removing the layer frees, about. */
export function listedBytes(entries: Map<string, ListedEntry>): number {
  let n = 0;
  for (const e of entries.values()) if (e.type === 'f') n += e.size;
  return n;
}

/** What differs between a listing and the tree now: at most `limit` lines, e.g. "usr/bin/sh: size 125560, listed 125400". */
export function compareListing(listed: Map<string, ListedEntry>, now: Map<string, ListedEntry>, limit = 5): string[] {
  const out: string[] = [];
  const show = (rel: string) => (rel === '' ? '/' : Buffer.from(rel, 'latin1').toString());
  // Beneath a directory either walk could not list: not compared.
  const hidden = [...listed, ...now].filter(([, e]) => e.unlisted).map(([rel]) => (rel === '' ? '' : `${rel}/`));
  const beneath = (rel: string) => hidden.some((h) => rel !== h.slice(0, -1) && rel.startsWith(h));
  for (const [rel, want] of listed) {
    if (out.length >= limit) return out;
    if (beneath(rel)) continue;
    const got = now.get(rel);
    if (!got) out.push(`${show(rel)}: missing`);
    else if (got.type !== want.type) out.push(`${show(rel)}: type ${got.type}, listed ${want.type}`);
    else if (got.size !== want.size) out.push(`${show(rel)}: size ${got.size}, listed ${want.size}`);
    else if (got.mode !== want.mode) out.push(`${show(rel)}: mode ${got.mode.toString(8)}, listed ${want.mode.toString(8)}`);
    else if (got.mtimeMs !== want.mtimeMs) out.push(`${show(rel)}: modified (mtime ${new Date(got.mtimeMs).toISOString()})`);
  }
  for (const rel of now.keys()) {
    if (out.length >= limit) return out;
    if (!listed.has(rel) && !beneath(rel)) out.push(`${show(rel)}: not in the listing`);
  }
  return out;
}

/**
 * Whether a tree has an entry its owner may not read (a file without u+r, a
 * directory without u+rx, one walk could not list): a reader without
 * CAP_DAC_OVERRIDE copies it with a chmod and back (native/unlock.h).
 */
export function hasUnreadable(entries: Map<string, ListedEntry>): boolean {
  for (const e of entries.values()) {
    if (e.type === '?' || e.unlisted || (e.type === 'f' && !(e.mode & 0o400)) || (e.type === 'd' && (e.mode & 0o500) !== 0o500)) return true;
  }
  return false;
}

export const LISTING = 'listing';
export const UNREADABLE = 'unreadable';
export const IMPLIED = 'implied';
export const ROOTFS = 'rootfs';

/** The implied set as stored: names NUL-terminated (bytes as latin1), as the tar reader packs them. */
export function writeImplied(dir: string, implied: ReadonlySet<string>): void {
  fs.writeFileSync(path.join(dir, IMPLIED), Buffer.from([...implied].map((n) => `${n}\0`).join(''), 'latin1'));
}

export function readImplied(dir: string): Set<string> {
  const packed = fs.readFileSync(path.join(dir, IMPLIED)).toString('latin1');
  return new Set(packed === '' ? [] : packed.slice(0, -1).split('\0'));
}
