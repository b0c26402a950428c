// Benchmark workloads, generated (never committed): see docs/benchmarks.md.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';

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
  return { name: 'debian', title: `Debian minbase + packages layer (${whiteouts} whiteouts, ${docs.length} opaque dirs) + app layer (node_modules, 2 × 64 MB)`, layers: [l1, l2, l3], cpBaseline: false };
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
