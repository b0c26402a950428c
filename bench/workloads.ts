// Benchmark workloads, generated (never committed): see docs/benchmarks.md.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { fixtures } from './native-fixtures.cjs';

export interface Workload {
  name: string;
  title: string;
  layers: string[];
  /** Single-layer workloads are also compared with plain cp -a. */
  cpBaseline: boolean;
}

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/** Seeded PRNG: the same tree every time. */
function rng(seed: number) {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

const pool = crypto.randomBytes(1 << 20);

function writeSized(p: string, size: number, offset = 0): void {
  fs.writeFileSync(p, pool.subarray(offset % (pool.length - 4096), (offset % (pool.length - 4096)) + size));
}

/** Debian bookworm minbase via debootstrap, cached (it takes ~20 s and the network). */
export async function debianTree(cache: string): Promise<string> {
  const dir = path.join(cache, 'debian');
  if (fs.existsSync(path.join(dir, '.complete'))) return dir;
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(cache, { recursive: true });
  await execa('debootstrap', ['--variant=minbase', 'bookworm', dir], { stdout: 'ignore', stderr: 'inherit' });
  // Pseudo-filesystem mount points are empty directories; nothing to drop.
  fs.writeFileSync(path.join(dir, '.complete'), '');
  return dir;
}

function walkFiles(root: string, rel: string, out: string[], limit: number): void {
  for (const d of fs.readdirSync(path.join(root, rel), { withFileTypes: true })) {
    if (out.length >= limit) return;
    const r = rel ? `${rel}/${d.name}` : d.name;
    if (d.isDirectory()) walkFiles(root, r, out, limit);
    else if (d.isFile()) out.push(r);
  }
}

/** Workload 1: a real Debian base, a packages layer with whiteouts and opaque dirs, an app layer. */
export async function multiLayerImage(work: string, cache: string): Promise<Workload> {
  const debian = await debianTree(cache);
  const l1 = path.join(work, 'l1-debian');
  const l2 = path.join(work, 'l2-packages');
  const l3 = path.join(work, 'l3-app');
  await execa('cp', ['-a', debian, l1]);
  fs.rmSync(path.join(l1, '.complete'));
  // Layer 2: adds a package tree, deletes docs/locales/man pages with
  // hundreds of whiteouts, makes some doc directories opaque, replaces files.
  fs.mkdirSync(l2);
  await execa('cp', ['-a', path.join(debian, 'usr/lib/x86_64-linux-gnu/perl-base'), path.join(l2, 'perl-new')]);
  fs.mkdirSync(path.join(l2, 'usr/lib/x86_64-linux-gnu'), { recursive: true });
  fs.renameSync(path.join(l2, 'perl-new'), path.join(l2, 'usr/lib/x86_64-linux-gnu/perl5-new'));
  const victims: string[] = [];
  for (const sub of ['usr/share/locale', 'usr/share/man', 'usr/share/doc', 'usr/share/zoneinfo']) {
    const files: string[] = [];
    walkFiles(debian, sub, files, 100000);
    victims.push(...files.filter((_, i) => i % 7 === 0));
  }
  let whiteouts = 0;
  for (const v of victims.slice(0, 600)) {
    const marker = path.join(l2, path.dirname(v), `.wh.${path.basename(v)}`);
    fs.mkdirSync(path.dirname(marker), { recursive: true });
    fs.writeFileSync(marker, '');
    whiteouts++;
  }
  const docs = fs.readdirSync(path.join(debian, 'usr/share/doc')).slice(0, 25);
  for (const d of docs) {
    fs.mkdirSync(path.join(l2, 'usr/share/doc', d), { recursive: true });
    fs.writeFileSync(path.join(l2, 'usr/share/doc', d, '.wh..wh..opq'), '');
    fs.writeFileSync(path.join(l2, 'usr/share/doc', d, 'copyright'), 'replaced\n');
  }
  fs.mkdirSync(path.join(l2, 'etc'), { recursive: true });
  fs.writeFileSync(path.join(l2, 'etc/os-release'), 'PRETTY_NAME="bench"\n');
  fs.writeFileSync(path.join(l2, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/bash\napp:x:1000:1000::/app:/bin/sh\n');
  // Layer 3: an application: a real node_modules tree and two 64 MB files.
  fs.mkdirSync(path.join(l3, 'app/data'), { recursive: true });
  await execa('cp', ['-a', path.join(repo, 'node_modules'), path.join(l3, 'app/node_modules')]);
  for (let i = 0; i < 2; i++) {
    const fd = fs.openSync(path.join(l3, `app/data/model-${i}.bin`), 'w');
    for (let mb = 0; mb < 64; mb++) fs.writeSync(fd, pool);
    fs.closeSync(fd);
  }
  fs.writeFileSync(path.join(l3, 'app/server.js'), 'console.log("hi")\n');
  return {
    name: 'debian',
    title: `Debian minbase + packages layer (${whiteouts} whiteouts, ${docs.length} opaque dirs) + app layer (node_modules, 2 × 64 MB)`,
    layers: [l1, l2, l3],
    cpBaseline: false,
  };
}

/**
 * Runs `script` in a chroot of the layers merged by overlayfs and returns
 * the upper directory converted to an OCI layer directory: overlayfs
 * whiteouts (0:0 character devices) become `.wh.NAME` files, opaque
 * directories (`trusted.overlay.opaque`) get a `.wh..wh..opq` marker.
 */
async function overlayLayer(lowers: string[], upper: string, script: string): Promise<void> {
  const scratch = `${upper}.overlay`;
  const merged = path.join(scratch, 'merged');
  fs.mkdirSync(upper, { recursive: true });
  fs.mkdirSync(path.join(scratch, 'work'), { recursive: true });
  fs.mkdirSync(merged, { recursive: true });
  await execa('mount', ['-t', 'overlay', 'overlay', '-o', `lowerdir=${[...lowers].reverse().join(':')},upperdir=${upper},workdir=${path.join(scratch, 'work')}`, merged]);
  try {
    await execa('mount', ['-t', 'proc', 'proc', path.join(merged, 'proc')]);
    try {
      fs.copyFileSync('/etc/resolv.conf', path.join(merged, 'etc/resolv.conf'));
      await execa('chroot', [merged, 'sh', '-c', script], {
        env: { DEBIAN_FRONTEND: 'noninteractive', PATH: '/usr/sbin:/usr/bin:/sbin:/bin' },
        stdout: 'ignore',
        stderr: 'inherit',
      });
    } finally {
      await execa('umount', [path.join(merged, 'proc')]);
    }
  } finally {
    await execa('umount', [merged]);
  }
  fs.rmSync(scratch, { recursive: true, force: true });
  const convert = (dir: string) => {
    const opaque = execaSyncXattr(dir);
    if (opaque) fs.writeFileSync(path.join(dir, '.wh..wh..opq'), '');
    for (const d of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, d.name);
      if (d.isCharacterDevice() && fs.lstatSync(p).rdev === 0) {
        fs.rmSync(p);
        fs.writeFileSync(path.join(dir, `.wh.${d.name}`), '');
      } else if (d.isDirectory()) convert(p);
    }
  };
  convert(upper);
}

/** Reads and drops overlayfs's opaque xattr of a directory (getfattr-free: through the fixture addon). */
function execaSyncXattr(dir: string): boolean {
  const attrs = fixtures.lgetxattrs(dir);
  const opaque = attrs['trusted.overlay.opaque']?.toString() === 'y';
  for (const k of Object.keys(attrs)) if (k.startsWith('trusted.overlay.')) fixtures.lremovexattr(dir, k);
  return opaque;
}

/**
 * Workload: a real image whose layers overlap, built with apt in chroots
 * over overlayfs (cached): Debian minbase; a packages layer (python3, perl,
 * git, curl); a layer that reinstalls those packages and upgrades the base
 * (rewriting thousands of files); a layer that purges git, cleans apt's
 * cache and lists and deletes docs and man pages (whiteouts).
 */
export async function overlappingImage(cache: string): Promise<Workload> {
  const debian = await debianTree(cache);
  const dir = path.join(cache, 'overlapping');
  const layers = [debian, path.join(dir, 'l1-packages'), path.join(dir, 'l2-reinstall'), path.join(dir, 'l3-cleanup')];
  if (!fs.existsSync(path.join(dir, '.complete'))) {
    fs.rmSync(dir, { recursive: true, force: true });
    await overlayLayer(layers.slice(0, 1), layers[1], 'apt-get update && apt-get install -y --no-install-recommends python3 perl git curl ca-certificates');
    await overlayLayer(
      layers.slice(0, 2),
      layers[2],
      'apt-get install -y --reinstall python3 python3.11 libpython3.11-stdlib libpython3.11-minimal perl perl-modules-5.36 libperl5.36 git git-man curl coreutils libc6 libc-bin bash dpkg apt',
    );
    await overlayLayer(
      layers.slice(0, 3),
      layers[3],
      'apt-get purge -y git git-man && apt-get autoremove -y && apt-get clean && rm -rf /var/lib/apt/lists/* /usr/share/doc/* /usr/share/man/* /usr/share/locale/*',
    );
    fs.writeFileSync(path.join(dir, '.complete'), '');
  }
  return {
    name: 'overlapping',
    title: 'Debian minbase + python3/perl/git/curl + reinstall/upgrade of those + purge git, apt clean, no docs (real apt layers)',
    layers,
    cpBaseline: false,
  };
}

/** Workload 2 (and the 1M-file layer): many small files of 0–4 KB in a node_modules-like shape. */
export function smallFiles(work: string, count: number, maxSize = 4096, name = 'small'): Workload {
  const r = rng(count);
  const layer = path.join(work, `${name}-layer`);
  const perPackage = 100;
  let made = 0;
  for (let p = 0; made < count; p++) {
    const pkg = path.join(layer, 'node_modules', `@scope${p % 50}`, `pkg-${p}`);
    const dirs = ['', 'lib', 'lib/internal', 'dist', 'dist/esm', 'test'];
    for (const d of dirs) fs.mkdirSync(path.join(pkg, d), { recursive: true });
    for (let i = 0; i < perPackage && made < count; i++, made++) {
      const d = dirs[i % dirs.length];
      writeSized(path.join(pkg, d, `file-${i}.js`), Math.floor(r() * (maxSize + 1)), made * 97);
    }
  }
  return { name, title: `${count.toLocaleString('en-US')} files of 0–${maxSize / 1024} KB, node_modules-like`, layers: [layer], cpBaseline: true };
}

/** Workload 3: a few large files. */
export function largeFiles(work: string, count = 4, sizeMb = 512): Workload {
  const layer = path.join(work, 'large-layer');
  fs.mkdirSync(path.join(layer, 'data'), { recursive: true });
  for (let i = 0; i < count; i++) {
    const fd = fs.openSync(path.join(layer, 'data', `blob-${i}.bin`), 'w');
    for (let mb = 0; mb < sizeMb; mb++) fs.writeSync(fd, pool);
    fs.closeSync(fd);
  }
  return { name: 'large', title: `${count} × ${sizeMb} MB files`, layers: [layer], cpBaseline: true };
}

/** Workload 4: a 200-level deep tree and one directory of 50k entries. */
export function deepAndWide(work: string, depth = 200, wide = 50000): Workload {
  const layer = path.join(work, 'deepwide-layer');
  let dir = path.join(layer, 'deep');
  for (let i = 0; i < depth; i++) {
    dir = path.join(dir, `d${i % 10}`);
    fs.mkdirSync(dir, { recursive: true });
    for (let j = 0; j < 3; j++) writeSized(path.join(dir, `f${j}`), 100 * j, i);
  }
  const w = path.join(layer, 'wide');
  fs.mkdirSync(w, { recursive: true });
  for (let i = 0; i < wide; i++) writeSized(path.join(w, `entry-${i.toString(36)}`), i % 200, i);
  return { name: 'deepwide', title: `a ${depth}-level deep tree and a directory of ${wide.toLocaleString('en-US')} entries`, layers: [layer], cpBaseline: true };
}
