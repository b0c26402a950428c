import { createRequire } from 'node:module';
import path from 'node:path';
import type { Readable } from 'node:stream';

// tar-stream (a maintained streaming parser; ustar, GNU long names and
// links, PAX) parses the layer; src/images/extract.ts writes what it yields.
// Names cross as "binary" strings, one char per byte, like every path of
// layercopy (src/core/paths.ts): ustar fields are decoded as latin1, and so
// are PAX records, whose values may be raw bytes (a security.capability
// xattr, a non-UTF-8 path): tar-stream decodes them as UTF-8, which turns
// such bytes into U+FFFD, so its decodePax is replaced by a byte-exact one
// (tar-stream is pinned; test/images/extract.test.ts checks a binary xattr).

let tarStream: typeof import('tar-stream') | undefined;

/** tar-stream, loaded on first use (a provision of directories never needs it) with its decodePax made byte-exact. */
function load(): typeof import('tar-stream') {
  if (tarStream) return tarStream;
  const require = createRequire(import.meta.url);
  // By its file: the package's exports map does not list headers.js.
  const headers = require(path.join(path.dirname(require.resolve('tar-stream')), 'headers.js')) as { decodePax: (buf: Buffer) => Record<string, string> };
  headers.decodePax = decodePax;
  tarStream = require('tar-stream') as typeof import('tar-stream');
  return tarStream;
}

function decodePax(buf: Buffer): Record<string, string> {
  const result: Record<string, string> = {};
  while (buf.length > 0) {
    let i = 0;
    while (i < buf.length && buf[i] !== 32) i++;
    const len = Number.parseInt(buf.subarray(0, i).toString('latin1'), 10);
    if (!len || len > buf.length) return result;
    const record = buf.subarray(i + 1, len - 1).toString('latin1');
    const eq = record.indexOf('=');
    if (eq === -1) return result;
    result[record.slice(0, eq)] = record.slice(eq + 1);
    buf = buf.subarray(len);
  }
  return result;
}

export interface TarHeader {
  /** Names as binary strings (latin1: one char per byte). */
  name: string;
  size?: number;
  mode?: number;
  mtime?: Date;
  /** null: a type flag tar-stream does not know (GNU sparse, volume headers, ...). */
  type: 'file' | 'link' | 'symlink' | 'directory' | 'block-device' | 'character-device' | 'fifo' | 'contiguous-file' | null;
  linkname?: string | null;
  uid?: number;
  gid?: number;
  devmajor?: number;
  devminor?: number;
  pax?: Record<string, string> | null;
}

/** An entry: its header, and its data as an async iterable (streamx); consumed or resumed before the next. */
export interface TarEntry extends AsyncIterable<Buffer> {
  header: TarHeader;
  resume(): void;
}

/** An async iterable of a tar stream's entries; each must be consumed (or resumed) before the next. */
export function parseTar(input: Readable): AsyncIterable<TarEntry> {
  // Options tar-stream reads but its types leave out.
  const extract = load().extract({ filenameEncoding: 'latin1', allowUnknownFormat: false } as object);
  input.on('error', (error) => extract.destroy(error));
  input.pipe(extract as unknown as NodeJS.WritableStream);
  return extract as unknown as AsyncIterable<TarEntry>;
}

/** Seconds and nanoseconds of a PAX time ("1700000000.123456789") or of the header's. */
export function paxTime(value: string | undefined, fallback: Date | undefined): [number, number] {
  if (value !== undefined && /^-?\d+(\.\d+)?$/.test(value)) {
    const [sec, frac = ''] = value.split('.');
    return [Number(sec), Number(frac.padEnd(9, '0').slice(0, 9))];
  }
  const ms = fallback?.getTime() ?? 0;
  return [Math.floor(ms / 1000), 0];
}

/**
 * Extended attributes of an entry: PAX SCHILY.xattr.NAME (GNU tar, bsdtar)
 * and LIBARCHIVE.xattr.NAME (base64). trusted.overlay.* are left out, as
 * umoci leaves them: overlayfs's own (opaque, redirect, origin), they would
 * change what an overlay mount built on the rootfs shows.
 */
export function paxXattrs(pax: Record<string, string> | null | undefined): (string | Buffer)[] | undefined {
  if (!pax) return undefined;
  const out: (string | Buffer)[] = [];
  const add = (name: string, value: Buffer) => {
    if (!name.startsWith('trusted.overlay.')) out.push(name, value);
  };
  for (const [key, value] of Object.entries(pax)) {
    if (key.startsWith('SCHILY.xattr.')) add(key.slice('SCHILY.xattr.'.length), Buffer.from(value, 'latin1'));
    else if (key.startsWith('LIBARCHIVE.xattr.')) {
      const name = decodeURIComponent(key.slice('LIBARCHIVE.xattr.'.length));
      if (!pax[`SCHILY.xattr.${name}`]) add(name, Buffer.from(value, 'base64'));
    }
  }
  return out.length > 0 ? out : undefined;
}
