// The three directory-layer images of the directory targets (docs/benchmarks.md, Targets), rebuilt from what
// any Debian host has: an 8.2k-entry image with big files, a 13.4k-entry
// image whose node_modules is written twice over, and a 40k-entry image of
// toolchains copied from this host's /usr. Seeded: the same tree each time.
//
//   node dist/bench/dir-images.js OUT    # OUT/{bigfiles,nodemodules,toolchain}/LAYER...
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { debianTree, overlappingImage, type Workload } from './workloads.js';

const MiB = 1 << 20;

function seeded(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

function write(p: string, bytes: number, fill: number): void {
  fs.mkdirSync(path.dirname(p), { recursive: true });
  fs.writeFileSync(p, Buffer.alloc(bytes, fill));
}

/** 5 layers, ~8.2k entries out: the overlapping Debian image, then an app with a hardlinked 64 MiB file, a 256 MiB sparse file and edits. */
export async function bigFilesImage(out: string, cache: string): Promise<Workload> {
  const base = await overlappingImage(cache);
  const app = path.join(out, 'bigfiles', 'l4-app');
  fs.rmSync(app, { recursive: true, force: true });
  const r = seeded(8200);
  for (let i = 0; i < 380; i++) write(path.join(app, 'app/src', `m${i % 19}`, `f${i}.js`), Math.floor(r() * 8192), i);
  write(path.join(app, 'app/data/model.bin'), 64 * MiB, 7);
  fs.linkSync(path.join(app, 'app/data/model.bin'), path.join(app, 'app/data/model-current.bin'));
  const fd = fs.openSync(path.join(app, 'app/data/disk.img'), 'w');
  for (let off = 0; off < 256 * MiB; off += 32 * MiB) fs.writeSync(fd, Buffer.alloc(MiB, 1), 0, MiB, off);
  fs.ftruncateSync(fd, 256 * MiB);
  fs.closeSync(fd);
  write(path.join(app, 'etc/os-release'), 64, 0x41);
  write(path.join(app, 'etc/hostname'), 8, 0x42);
  write(path.join(app, 'usr/bin/.wh.perl'), 0, 0);
  return { name: 'bigfiles', title: 'overlapping Debian image + app layer (64 MiB hardlinked, 256 MiB sparse, 380 files)', layers: [...base.layers, app], cpBaseline: false };
}

/** A node_modules tree of `packages` packages, 4 directories and 22 files each; `version` changes every file's content. */
function nodeModules(root: string, packages: number, version: number): void {
  const r = seeded(1300 + version);
  for (let p = 0; p < packages; p++) {
    const pkg = path.join(root, 'app/node_modules', `@s${p % 40}`, `pkg-${p}`);
    const dirs = ['', 'lib', 'lib/internal', 'dist'];
    for (let i = 0; i < 22; i++) write(path.join(pkg, dirs[i % 4], `file-${i}.js`), 64 + Math.floor(r() * 6000), version + i);
  }
}

/** 4 layers, ~13.4k entries out: Debian, node_modules v1, v2 rewriting every v1 file, a prune of a quarter of the packages. */
export async function nodeModulesImage(out: string, cache: string): Promise<Workload> {
  const debian = await debianTree(cache);
  const dir = path.join(out, 'nodemodules');
  fs.rmSync(dir, { recursive: true, force: true });
  const [v1, v2, prune] = ['l1-v1', 'l2-v2', 'l3-prune'].map((l) => path.join(dir, l));
  nodeModules(v1, 340, 1);
  nodeModules(v2, 340, 2);
  for (let p = 0; p < 340; p += 4) write(path.join(prune, 'app/node_modules', `@s${p % 40}`, `.wh.pkg-${p}`), 0, 0);
  return { name: 'nodemodules', title: 'Debian + node_modules v1, v2 rewriting every file, prune of a quarter (4 layers)', layers: [debian, v1, v2, prune], cpBaseline: false };
}

/** Copies this host's `from` (a /usr path) to `layer`/`to`. */
async function take(layer: string, from: string, to = from.slice(1)): Promise<void> {
  fs.mkdirSync(path.dirname(path.join(layer, to)), { recursive: true });
  await execa('cp', ['-a', from, path.join(layer, to)]);
}

/** 5 layers, ~40.5k entries and 1.9 GB out (2.7 GB in): Debian, a toolchain, Python and shared libraries, a JDK with icons, locales and docs, a clean-up. */
export async function toolchainImage(out: string, cache: string): Promise<Workload> {
  const debian = await debianTree(cache);
  const dir = path.join(out, 'toolchain');
  fs.rmSync(dir, { recursive: true, force: true });
  const [tools, python, jdk, clean] = ['l1-tools', 'l2-python', 'l3-jdk', 'l4-clean'].map((l) => path.join(dir, l));
  for (const d of ['/usr/lib/gcc', '/usr/lib/llvm-14', '/usr/include', '/usr/share/cmake-3.25']) await take(tools, d);
  for (const d of [
    '/usr/lib/python3',
    '/usr/lib/python3.11',
    '/usr/lib/x86_64-linux-gnu',
    '/usr/share/vim',
    '/usr/share/perl',
    '/usr/lib/node_modules',
    '/usr/lib/postgresql',
    '/usr/share/i18n',
    '/usr/share/alsa',
  ])
    await take(python, d);
  for (const d of ['/usr/lib/jvm', '/usr/share/icons', '/usr/share/locale', '/usr/share/doc', '/usr/share/mime', '/usr/share/zoneinfo']) await take(jdk, d);
  // The JDK layer reinstalls the toolchain's headers: the lower copy is hidden.
  await take(jdk, '/usr/include');
  write(path.join(clean, 'usr/lib/.wh.llvm-14'), 0, 0);
  write(path.join(clean, 'usr/share/.wh.locale'), 0, 0);
  write(path.join(clean, 'usr/share/doc/.wh..wh..opq'), 0, 0);
  write(path.join(clean, 'usr/share/doc/README'), 100, 0x43);
  return {
    name: 'toolchain',
    title: 'Debian + toolchain + Python/libs + JDK/icons/locales/docs + clean-up (5 layers)',
    layers: [debian, tools, python, jdk, clean],
    cpBaseline: false,
  };
}

if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  const out = process.argv[2] ?? '/dev/shm/layercopy-dir-images';
  const cache = process.env.LAYERCOPY_BENCH_CACHE ?? '/dev/shm/layercopy-bench-cache';
  for (const build of [bigFilesImage, nodeModulesImage, toolchainImage]) {
    const w = await build(out, cache);
    process.stdout.write(`${w.name}: ${w.layers.join(' ')}\n`);
  }
}
