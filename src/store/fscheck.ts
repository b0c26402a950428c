import fs from 'node:fs';
import path from 'node:path';
import { LayercopyError } from '../core/errors.js';
import { type NativePolicy, native } from '../core/native.cjs';
import { isIdentityMap, type ResolvedRootless, readIdMap } from '../core/rootless.js';
import { extractTar } from '../images/extract.js';
import { makeTmpDir, type OwnerMode, type Store, tmpName } from './layout.js';

// What a store's filesystem must do for an owners mode, checked the first
// time the store extracts layers in that mode (its layers/MODE/ is made
// only once the check passes): a probe layer extracted as the mode writes
// real ones, a lock taken, an entry renamed from tmp/ into layers/. Without
// it, the first image that needs a missing feature fails halfway through
// its extraction, and one that does not need it fills the store with
// entries a later image cannot join.

const CAP_NET_RAW = 13;

/** A v2 file capability (struct vfs_cap_data): cap_net_raw, effective. */
function capability(): Buffer {
  const b = Buffer.alloc(20);
  b.writeUInt32LE(0x02000001, 0);
  b.writeUInt32LE(1 << CAP_NET_RAW, 4);
  return b;
}

/** One ustar header (numeric owners, device numbers); a PAX header before it for xattrs. */
function entry(name: string, type: string, opts: { uid?: number; gid?: number; data?: string; dev?: [number, number]; xattrs?: Record<string, Buffer> } = {}): Buffer {
  const out: Buffer[] = [];
  const records = Object.entries(opts.xattrs ?? {}).map(([k, v]) => {
    const body = Buffer.concat([Buffer.from(` SCHILY.xattr.${k}=`, 'latin1'), v, Buffer.from('\n')]);
    // The record's length counts its own digits.
    let len = body.length + 1;
    while (String(len).length + body.length !== len) len = String(len).length + body.length;
    return Buffer.concat([Buffer.from(String(len)), body]);
  });
  if (records.length > 0) {
    const pax = Buffer.concat(records);
    out.push(header('PaxHeader', 'x', pax.length, {}), pad(pax));
  }
  const data = Buffer.from(opts.data ?? '');
  out.push(header(name, type, data.length, opts), pad(data));
  return Buffer.concat(out);
}

function header(name: string, type: string, size: number, opts: { uid?: number; gid?: number; dev?: [number, number] }): Buffer {
  const h = Buffer.alloc(512);
  const put = (s: string, at: number, len: number) => Buffer.from(s, 'latin1').copy(h, at, 0, len);
  const oct = (n: number, len: number) => `${n.toString(8).padStart(len - 1, '0')}\0`;
  put(name, 0, 100);
  put(oct(type === '5' ? 0o755 : 0o644, 8), 100, 8);
  put(oct(opts.uid ?? 0, 8), 108, 8);
  put(oct(opts.gid ?? 0, 8), 116, 8);
  put(oct(size, 12), 124, 12);
  put(oct(1_000_000_000, 12), 136, 12);
  put(' '.repeat(8), 148, 8);
  put(type, 156, 1);
  put('ustar\0', 257, 6);
  put('00', 263, 2);
  put(oct(opts.dev?.[0] ?? 0, 8), 329, 8);
  put(oct(opts.dev?.[1] ?? 0, 8), 337, 8);
  let sum = 0;
  for (const b of h) sum += b;
  put(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 8);
  return h;
}

const pad = (b: Buffer) => Buffer.concat([b, Buffer.alloc((512 - (b.length % 512)) % 512)]);

/**
 * The probe layer of a mode: a file owned by 1:1 with a user.* xattr (keep
 * chowns it; xattr records its owner in user.rootlesscontainers); for keep,
 * a file capability, and trusted.* as root of the initial user namespace
 * (nobody else can set it anywhere); a device node where devices are made.
 */
export function probeLayer(rootless: ResolvedRootless): Buffer {
  const xattrs: Record<string, Buffer> = { 'user.layercopy.probe': Buffer.from('1') };
  if (rootless.owners === 'keep') {
    xattrs['security.capability'] = capability();
    if (process.geteuid?.() === 0 && isIdentityMap(readIdMap('uid'))) xattrs['trusted.layercopy.probe'] = Buffer.from('1');
  }
  return Buffer.concat([
    entry('d/', '5', { uid: 1, gid: 1 }),
    entry('d/f', '0', { uid: 1, gid: 1, data: 'probe', xattrs }),
    ...(rootless.devices === 'error' ? [entry('d/null', '3', { dev: [1, 3] })] : []),
    Buffer.alloc(1024),
  ]);
}

const ADVICE: Record<ResolvedRootless['owners'], string> = { keep: ', or use --owners xattr', xattr: ', or use --owners drop', drop: '' };

/** Checks the store's filesystem for `mode` unless layers/MODE/ exists (checked before); makes layers/MODE/ once it passes. */
export async function checkStoreFilesystem(store: Store, mode: OwnerMode, rootless: ResolvedRootless, policy: NativePolicy): Promise<void> {
  const modeDir = path.join(store.root, 'layers', mode);
  if (fs.existsSync(modeDir)) return;
  // The native helper's own message may say what to do already (xattr on a filesystem without user.*).
  const fail = (what: string, cause?: unknown) =>
    new LayercopyError(`store ${store.root}: ${what}${/use --owners/.test(what) ? '' : `; name a store on a filesystem that can (--store DIR)${ADVICE[rootless.owners]}`}`, {
      code: 'ERR_STORE',
      path: store.root,
      cause,
    });
  const tmp = makeTmpDir(store, 'fscheck');
  try {
    const lock = native.flockTry(tmp.fd, 'ex');
    if (lock !== 0) throw fail(`its filesystem cannot lock files (flock: errno ${lock}), which keeps concurrent pulls apart`);
    const root = path.join(tmp.path, 'rootfs');
    fs.mkdirSync(root, { mode: 0o700 });
    const fd = fs.openSync(root, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
    try {
      const layer = probeLayer(rootless);
      await extractTar(
        (async function* () {
          yield layer;
        })(),
        fd,
        'a probe layer',
        { policy: { ...policy, strict: false } },
      );
    } catch (error) {
      // Owners refused to a user (EPERM, or an ID the namespace lacks) are no fault of the filesystem.
      const code = (error as LayercopyError).code;
      if (rootless.owners === 'keep' && (code === 'EPERM' || code === 'ERR_UNMAPPED_ID')) {
        throw fail(
          `--owners keep sets every owner, which this user may not (${(error as Error).message}); use --owners xattr, or run as root or in a user namespace that maps IDs 0-65535 (unshare --map-auto)`,
          error,
        );
      }
      throw fail(`its filesystem cannot hold what --owners ${rootless.owners} --devices ${rootless.devices} writes (${(error as Error).message})`, error);
    } finally {
      fs.closeSync(fd);
    }
    fs.mkdirSync(path.dirname(modeDir), { recursive: true, mode: 0o700 });
    const moved = path.join(path.dirname(modeDir), `.${tmpName('fscheck')}`);
    try {
      fs.renameSync(root, moved);
    } catch (error) {
      throw fail(`an entry cannot be renamed from tmp/ into layers/ (${(error as NodeJS.ErrnoException).code}): keep the whole store on one filesystem`, error);
    }
    fs.renameSync(moved, root);
    fs.mkdirSync(modeDir, { recursive: true, mode: 0o700 });
  } finally {
    await tmp.remove();
  }
}
