import fs from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';

// The Mesos copy backend's method (../shared/reference/mesos-copy-backend.cpp.txt),
// reproduced for the differential test and the benchmarks: per layer, walk it
// physically, remove whiteout targets and conflicting rootfs entries, run
// `cp -aT LAYER ROOTFS`, then delete the whiteout markers cp copied.

export interface SeedOptions {
  /**
   * Deleting the copied markers bumps their directories' mtimes: a seed bug.
   * With this set, those directories get the layer's times back (touch -r),
   * so the result is what cp -aT semantics intend; the differential test
   * compares against that.
   */
  restoreDirTimes?: boolean;
}

function lstatOrNull(p: string): fs.Stats | null {
  try {
    return fs.lstatSync(p);
  } catch {
    return null;
  }
}

function isDirFollowing(p: string): boolean {
  try {
    return fs.statSync(p).isDirectory();
  } catch {
    return false;
  }
}

function remove(p: string): void {
  fs.rmSync(p, { recursive: true, force: true });
}

export async function seedLayer(layer: string, rootfs: string, options: SeedOptions = {}): Promise<void> {
  const whiteouts: string[] = [];
  const markerDirs = new Set<string>();
  const walk = (rel: string) => {
    for (const d of fs.readdirSync(path.join(layer, rel), { withFileTypes: true })) {
      const entryRel = rel === '' ? d.name : `${rel}/${d.name}`;
      const rootfsPath = path.join(rootfs, entryRel);
      let removePath: string | null = null;
      if (d.isFile() && d.name.startsWith('.wh.')) {
        whiteouts.push(rootfsPath);
        markerDirs.add(rel);
        if (d.name === '.wh..wh..opq') {
          if (rel === '') {
            for (const name of fs.readdirSync(rootfs)) remove(path.join(rootfs, name));
          } else {
            removePath = path.join(rootfs, rel);
          }
        } else {
          removePath = path.join(rootfs, rel, d.name.slice(4));
        }
      } else if (lstatOrNull(rootfsPath)) {
        if (isDirFollowing(rootfsPath) !== d.isDirectory()) removePath = rootfsPath;
        else if (lstatOrNull(rootfsPath)!.isSymbolicLink()) removePath = rootfsPath;
      }
      if (removePath && lstatOrNull(removePath)) remove(removePath);
      if (d.isDirectory()) walk(entryRel);
    }
  };
  walk('');
  await execa('cp', ['-aT', layer, rootfs]);
  for (const w of whiteouts) fs.rmSync(w, { force: true });
  if (options.restoreDirTimes) {
    for (const rel of markerDirs) {
      await execa('touch', ['-h', '-r', path.join(layer, rel), path.join(rootfs, rel)]);
    }
  }
}

export async function seedProvision(layers: readonly string[], rootfs: string, options: SeedOptions = {}): Promise<void> {
  if (layers.length === 0) throw new Error('No filesystem layers provided');
  if (fs.existsSync(rootfs)) throw new Error('Rootfs is already provisioned');
  fs.mkdirSync(rootfs);
  for (const layer of layers) await seedLayer(layer, rootfs, options);
}
