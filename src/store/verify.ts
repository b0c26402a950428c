import fs from 'node:fs';
import path from 'node:path';
import { rehash } from './blobs.js';
import { referenced } from './gc.js';
import { blobPath, layerModes, layerPath, type Store } from './layout.js';
import { compareListing, LISTING, parseListing, ROOTFS, walk } from './listing.js';
import { readRefs } from './refs.js';

// verify: every blob hashed again, every extracted layer walked and
// compared with the listing written when it was extracted, every reference
// checked to hold what it names. What a power loss can leave (a renamed
// entry whose files never reached the disk, a blob cut short) shows here.

export interface Damage {
  kind: 'blob' | 'layer' | 'ref';
  /** The blob's or layer's digest (sha256:…), or the reference. */
  id: string;
  path: string;
  /** What is wrong, a few lines at most. */
  problems: string[];
}

export interface VerifyResult {
  blobs: number;
  layers: number;
  refs: number;
  damaged: Damage[];
}

export async function verifyStore(store: Store): Promise<VerifyResult> {
  const damaged: Damage[] = [];
  const blobDir = path.join(store.root, 'blobs', 'sha256');
  const blobs = fs.readdirSync(blobDir).filter((n) => /^[0-9a-f]{64}$/.test(n));
  for (const hex of blobs) {
    const file = path.join(blobDir, hex);
    const got = await rehash(file);
    // Gone meanwhile (a prune): not damage.
    if (got === undefined && !fs.existsSync(file)) continue;
    if (got !== `sha256:${hex}`) damaged.push({ kind: 'blob', id: `sha256:${hex}`, path: file, problems: [got ? `its content hashes to ${got}` : 'unreadable'] });
  }
  const modes = layerModes(store);
  const layers = modes.flatMap((mode) =>
    fs
      .readdirSync(path.join(store.root, 'layers', mode))
      .filter((n) => /^[0-9a-f]{64}$/.test(n))
      .map((hex) => ({ mode, hex })),
  );
  for (const { mode, hex } of layers) {
    const dir = path.join(store.root, 'layers', mode, hex);
    let problems: string[];
    try {
      const listed = parseListing(fs.readFileSync(path.join(dir, LISTING), 'utf8'));
      problems = compareListing(listed, walk(path.join(dir, ROOTFS)));
    } catch (error) {
      if (!fs.existsSync(dir)) continue;
      problems = [`its listing cannot be read (${(error as Error).message})`];
    }
    if (problems.length > 0) damaged.push({ kind: 'layer', id: `sha256:${hex}`, path: dir, problems });
  }
  const refs = readRefs(store);
  for (const r of refs) {
    const { blobs: want, layers: wantLayers } = referenced(store, [r]);
    const problems = [
      ...[...want].filter((d) => !fs.existsSync(blobPath(store, d))).map((d) => `blob ${d} is missing`),
      ...[...wantLayers].filter((d) => !modes.some((mode) => fs.existsSync(layerPath(store, d, mode)))).map((d) => `layer ${d} is not extracted`),
    ];
    if (problems.length > 0) damaged.push({ kind: 'ref', id: r.ref, path: path.join(store.root, 'refs.json'), problems });
  }
  return { blobs: blobs.length, layers: layers.length, refs: refs.length, damaged };
}
