// Image fixtures built in temp dirs: layer tarballs made by GNU tar (PAX,
// xattrs, numeric owners), raw tars written byte by byte for what GNU tar
// will not write (hostile names, bad checksums), and OCI image layouts.
import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { hostPlatform } from '../../src/images/oci.js';
import { provision } from '../../src/index.js';
import { buildLayer, isRoot, scratch } from '../helpers.js';

/** Whether a command runs (`CMD --version`). */
function runs(command: string): boolean {
  try {
    execFileSync(command, ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

export const hasZstd = runs('zstd');
export const hasUmoci = runs('umoci');

export type Compression = 'none' | 'gzip' | 'zstd';

export function compress(data: Buffer, how: Compression): Buffer {
  if (how === 'gzip') return zlib.gzipSync(data);
  if (how === 'zstd') return execFileSync('zstd', ['-q', '-c'], { input: data, maxBuffer: 1 << 30 });
  return data;
}

/**
 * GNU tar's owner options for a fixture: none as root; as another user every fixture is the
 * caller's own, which stands for root when a directory layer is read (docs/design.md, "Directory
 * layers as non-root"), so the tar says 0:0 for it and tar and directory give the same tree (an
 * owner of the caller's uid would be recorded in user.rootlesscontainers).
 */
export const tarOwners: string[] = isRoot ? [] : ['--owner=0', '--group=0'];

/** A tar of a directory's contents as umoci and skopeo write layers: PAX, xattrs, numeric owners, sorted (or GNU tar's own format: long names as 'L'/'K' records, big numbers in base-256). */
export function tarDir(dir: string, format: 'posix' | 'gnu' = 'posix'): Buffer {
  // --xattrs would make GNU tar write PAX records whatever the format.
  const xattrs = format === 'posix' ? ['--xattrs', '--xattrs-include=*'] : [];
  return execFileSync('tar', [`--format=${format}`, ...xattrs, ...tarOwners, '--numeric-owner', '--sort=name', '-C', dir, '-cf', '-', '.'], { maxBuffer: 1 << 30 });
}

export interface RawEntry {
  name: string;
  type?: '0' | '1' | '2' | '3' | '4' | '5' | '6' | 'x' | 'S' | 'V';
  data?: string | Buffer;
  linkname?: string;
  mode?: number;
  mtime?: number;
  /** The owner in the header; default: whoever runs the tests (as another user than root, an owner of 0 could not be kept). */
  uid?: number;
  gid?: number;
  /** PAX records for an 'x' header written before this entry. */
  pax?: Record<string, string>;
}

function header(name: string, type: string, size: number, e: { linkname?: string; mode?: number; mtime?: number; uid?: number; gid?: number }): Buffer {
  const h = Buffer.alloc(512);
  const put = (s: string | Buffer, at: number, len: number) => Buffer.from(s as string, 'latin1').copy(h, at, 0, len);
  const oct = (n: number, len: number) => n.toString(8).padStart(len - 1, '0');
  put(name, 0, 100);
  put(oct(e.mode ?? 0o644, 8), 100, 8);
  put(oct(e.uid ?? process.getuid?.() ?? 0, 8), 108, 8);
  put(oct(e.gid ?? process.getgid?.() ?? 0, 8), 116, 8);
  put(oct(size, 12), 124, 12);
  put(oct(e.mtime ?? 1_000_000_000, 12), 136, 12);
  put(' '.repeat(8), 148, 8);
  put(type, 156, 1);
  put(e.linkname ?? '', 157, 100);
  put('ustar\0', 257, 6);
  put('00', 263, 2);
  let sum = 0;
  for (const b of h) sum += b;
  put(`${oct(sum, 7)}\0`, 148, 8);
  return h;
}

const pad = (b: Buffer) => Buffer.concat([b, Buffer.alloc((512 - (b.length % 512)) % 512)]);

/** A tar written by hand: each entry a ustar header (and PAX header when asked), its data padded; two zero blocks. */
export function rawTar(entries: RawEntry[]): Buffer {
  const parts: Buffer[] = [];
  for (const e of entries) {
    if (e.pax) {
      const body = Buffer.concat(
        Object.entries(e.pax).map(([k, v]) => {
          const rec = ` ${k}=${v}\n`;
          let len = Buffer.byteLength(rec, 'latin1');
          len += String(len + String(len).length).length;
          return Buffer.from(`${len}${rec}`, 'latin1');
        }),
      );
      parts.push(header('PaxHeader', 'x', body.length, {}), pad(body));
    }
    const data = Buffer.from((e.data ?? '') as string, 'latin1');
    parts.push(header(e.name, e.type ?? '0', data.length, e), pad(data));
  }
  parts.push(Buffer.alloc(1024));
  return Buffer.concat(parts);
}

/** A digest as descriptors and diff_ids write it. */
export const sha = (b: Buffer) => `sha256:${crypto.createHash('sha256').update(b).digest('hex')}`;

/** Writes a blob into the layout; its digest and size. */
export function writeBlob(layout: string, data: Buffer): { digest: string; size: number } {
  const digest = sha(data);
  fs.mkdirSync(path.join(layout, 'blobs', 'sha256'), { recursive: true });
  fs.writeFileSync(path.join(layout, 'blobs', 'sha256', digest.slice(7)), data);
  return { digest, size: data.length };
}

export interface ImageSpec {
  /** Uncompressed layer tars, lowest first. */
  layers: Buffer[];
  compression?: Compression;
  ref?: string;
  /** The image's platform, in its config and its descriptor (for an index). */
  platform?: { os: string; architecture: string; variant?: string };
  /** The platform its config names where the descriptor names none (a lone image); default: platform, else the host's. */
  configPlatform?: { os: string; architecture: string; variant?: string };
}

const LAYER_TYPE: Record<Compression, string> = {
  none: 'application/vnd.oci.image.layer.v1.tar',
  gzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  zstd: 'application/vnd.oci.image.layer.v1.tar+zstd',
};

/** Writes one image (config, layers, manifest) into the layout; returns the manifest's descriptor. */
export function addImage(layout: string, spec: ImageSpec): { mediaType: string; digest: string; size: number; platform?: ImageSpec['platform'] } {
  const how = spec.compression ?? 'gzip';
  const layers = spec.layers.map((tar) => ({ mediaType: LAYER_TYPE[how], ...writeBlob(layout, compress(tar, how)) }));
  const platform = spec.configPlatform ?? spec.platform ?? hostPlatform();
  const config = Buffer.from(JSON.stringify({ architecture: platform.architecture, os: platform.os, rootfs: { type: 'layers', diff_ids: spec.layers.map(sha) } }));
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...writeBlob(layout, config) },
      layers,
    }),
  );
  return { mediaType: 'application/vnd.oci.image.manifest.v1+json', ...writeBlob(layout, manifest), ...(spec.platform ? { platform: spec.platform } : {}) };
}

/** An OCI layout whose index.json lists `manifests` (from addImage or indexOf), each named by its ref. */
export function writeIndex(layout: string, manifests: ({ digest: string; size: number; mediaType: string; platform?: unknown } & { ref?: string })[]): void {
  fs.mkdirSync(layout, { recursive: true });
  fs.writeFileSync(path.join(layout, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  const list = manifests.map(({ ref, ...d }) => (ref ? { ...d, annotations: { 'org.opencontainers.image.ref.name': ref } } : d));
  fs.writeFileSync(path.join(layout, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests: list }));
}

/** A nested image index blob over manifests (for multi-platform images). */
export function indexOf(layout: string, manifests: { digest: string; size: number; mediaType: string; platform?: unknown }[]) {
  const data = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests }));
  return { mediaType: 'application/vnd.oci.image.index.v1+json', ...writeBlob(layout, data) };
}

/** A one-image layout at `layout` named `ref`. */
export function ociImage(layout: string, spec: ImageSpec): string {
  writeIndex(layout, [{ ...addImage(layout, spec), ref: spec.ref ?? 'latest' }]);
  return layout;
}

const u32 = (n: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n >>> 0);
  return b;
};

/** One gzip member of data, written field by field (RFC 1952); `header` replaces the plain 10-byte one, `crc`/`isize` the true trailer values. */
export function gzipMember(data: Buffer, opts: { header?: Buffer; crc?: number; isize?: number } = {}): Buffer {
  const header = opts.header ?? Buffer.from([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3]);
  return Buffer.concat([header, zlib.deflateRawSync(data), u32(opts.crc ?? zlib.crc32(data)), u32(opts.isize ?? data.length)]);
}

/** A gzip member header with every optional field: FEXTRA, FNAME, FCOMMENT and FHCRC. */
export function gzipFullHeader(): Buffer {
  const fixed = Buffer.from([0x1f, 0x8b, 8, 4 | 8 | 16 | 2, 0, 0, 0, 0, 0, 3]);
  const head = Buffer.concat([fixed, Buffer.from([4, 0]), Buffer.from('abcd'), Buffer.from('layer.tar\0'), Buffer.from('a comment\0')]);
  const crc16 = Buffer.alloc(2);
  crc16.writeUInt16LE(zlib.crc32(head) & 0xffff);
  return Buffer.concat([head, crc16]);
}

/** `length` hex digits from a fixed generator: the same on every run, and compressible, so that a flipped byte of its gzip or zstd breaks the decoding. */
export function hexText(length: number, seed = 1): Buffer {
  const out = Buffer.alloc(length);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    // xorshift32
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    out[i] = '0123456789abcdef'.charCodeAt((s >>> 0) & 15);
  }
  return out;
}

/** The rootfs provisioned from a raw tar of `./` (mtime `rootTime`, 0755) then `entries`: alone (straight into the rootfs), or over an empty directory layer (through scratch). */
export async function provisionRawTar(entries: RawEntry[], rootTime: number, below = false): Promise<string> {
  const at = scratch();
  const layer = path.join(at, 'layer.tar');
  fs.writeFileSync(layer, rawTar([{ name: './', type: '5', mode: 0o755, mtime: rootTime }, ...entries]));
  const layers = below ? [buildLayer(path.join(at, 'base'), {}), layer] : [layer];
  await provision(layers, path.join(at, 'root'));
  return path.join(at, 'root');
}
