// Differential test: a generated multi-layer image provisioned by layercopy
// and by the seed's method (cp -aT per layer, its whiteout handling) must be
// identical entry by entry.
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { provision } from '../dist/src/index.js';
import { seedProvision } from '../dist/src/seed.js';
import { buildLayer, diffSnapshots, scratch, snapshot, type LayerSpec } from './helpers.js';

/** A small deterministic PRNG so the generated image is the same every run. */
function rng(seed: number) {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

export function generateImage(seed: number): LayerSpec[] {
  const r = rng(seed);
  const pick = <T>(xs: T[]) => xs[Math.floor(r() * xs.length)];
  const dirs = ['bin', 'etc', 'etc/ssl', 'usr/lib', 'usr/share/doc', 'var/lib/dpkg', 'opt/app', 'opt/app/node_modules/x'];
  const base: LayerSpec = {};
  for (let i = 0; i < 120; i++) {
    const d = pick(dirs);
    const rel = `${d}/f${i}`;
    const kind = r();
    if (kind < 0.7) base[rel] = { file: `content ${i} `.repeat(Math.floor(r() * 50)), mode: pick([0o644, 0o755, 0o600, 0o4755, 0o2750]), uid: pick([0, 0, 1, 100]), gid: pick([0, 0, 5, 100]) };
    else if (kind < 0.85) base[rel] = { symlink: pick(['f1', '../x', '/abs/path', 'dangling/target']) };
    else if (kind < 0.9) base[rel] = { file: 'x', xattrs: { 'user.k': `v${i}`, 'trusted.t': 't' } };
    else if (kind < 0.95) base[rel] = { fifo: true };
    else base[rel] = { chr: [1, Math.floor(r() * 9)] };
  }
  base['bin/hl1'] = 'hardlinked';
  base['bin/hl2'] = { link: 'bin/hl1' };
  base['etc/ssl/hl3'] = { link: 'bin/hl1' };
  base['etc/ssl'] = { dir: true, mode: 0o700, uid: 1, gid: 1 };
  base['var/tmp'] = { dir: true, mode: 0o1777 };
  base['lib'] = { symlink: 'usr/lib' };

  const l2: LayerSpec = {
    'etc/.wh.ssl': '',
    'usr/share/.wh..wh..opq': '',
    'usr/share/new/readme': 'new doc',
    'var/lib/dpkg/status': 'installed',
    'lib/x86_64/libz.so': 'replaces the lib symlink with a directory',
    'etc/ssl/recreated': 'same layer as the whiteout of its parent',
  };
  for (let i = 0; i < 120; i += 7) {
    const d = pick(dirs);
    if (d.startsWith('etc/ssl') || d.startsWith('usr/share')) continue;
    l2[`${d}/.wh.f${i}`] = '';
  }
  const l3: LayerSpec = {
    'opt/app/node_modules/x': 'a file replacing a directory',
    bin: { dir: true, mode: 0o711, mtime: [1111111111, 111] },
    'bin/new-tool': { file: 'tool', mode: 0o755 },
    'var/lib/dpkg/status': { file: 'upgraded', mode: 0o640 },
    'opt/app/index.js': { symlink: '../../usr/lib' },
  };
  return [base, l2, l3];
}

describe('differential: layercopy vs the seed (cp -aT per layer)', () => {
  it.each([1, 2, 3])('seed %i: identical entry by entry', async (seed) => {
    const dir = scratch();
    const layers = generateImage(seed).map((spec, i) => buildLayer(path.join(dir, `l${i}`), spec));
    const ours = path.join(dir, 'ours');
    const theirs = path.join(dir, 'seed');
    await provision(layers, ours, { batchSize: 7 });
    await seedProvision(layers, theirs, { restoreDirTimes: true });
    const a = snapshot(ours);
    const b = snapshot(theirs);
    expect(a.size).toBeGreaterThan(60);
    expect(diffSnapshots(a, b)).toEqual([]);
  });
});
