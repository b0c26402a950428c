import fs from 'node:fs';
import path from 'node:path';
import { rehash } from './blobs.js';
import { referenced } from './gc.js';
import { blobPath, layerModes, layerPath, type OwnerMode, type Store } from './layout.js';
import { compareListing, LISTING, parseListing, ROOTFS, walk } from './listing.js';
import { readRefs } from './refs.js';

// verify: every blob hashed again, every extracted layer walked and
// compared with the listing written when it was extracted, every reference
// checked to hold what it names. What a power loss can leave (a renamed
// entry whose files never reached the disk, a blob cut short) shows here.
// verify --repair removes what it finds damaged (src/store/repair.ts).

export interface Damage {
  kind: 'blob' | 'layer' | 'ref';
  /** The blob's or layer's digest (sha256:…), or the reference. */
  id: string;
  path: string;
  /** What is wrong, a few lines at most. */
  problems: string[];
  /** A layer's owner mode (its directory of layers/). */
  mode?: OwnerMode;
}

export interface VerifyResult {
  blobs: number;
  layers: number;
  refs: number;
  damaged: Damage[];
  /** With repair: the entries removed (the next pull of an image that needs them fetches or extracts them again). */
  removed?: { kind: Damage['kind']; id: string; path: string }[];
  /** With repair: damaged entries a running provision or pull holds, left in place (verify --repair again once it ends). */
  inUse?: Damage[];
}

/** A blob's damage, or undefined where it is whole (or gone meanwhile: a prune). */
export async function checkBlob(file: string, hex: string): Promise<string[] | undefined> {
  const got = await rehash(file);
  if (got === undefined && !fs.existsSync(file)) return undefined;
  return got === `sha256:${hex}` ? undefined : [got ? `its content hashes to ${got}` : 'unreadable'];
}

/** A layer's damage: what differs from its listing; undefined where it matches (or is gone). */
export function checkLayer(dir: string): string[] | undefined {
  let problems: string[];
  try {
    const listed = parseListing(fs.readFileSync(path.join(dir, LISTING), 'utf8'));
    problems = compareListing(listed, walk(path.join(dir, ROOTFS)));
  } catch (error) {
    if (!fs.existsSync(dir)) return undefined;
    problems = [`its listing cannot be read (${(error as Error).message})`];
  }
  return problems.length > 0 ? problems : undefined;
}

/** What each reference lacks: its manifest, config, layer blobs, or an extracted layer. */
export function checkRefs(store: Store): Damage[] {
  const modes = layerModes(store);
  const damaged: Damage[] = [];
  for (const r of readRefs(store)) {
    const { blobs: want, layers: wantLayers } = referenced(store, [r]);
    const problems = [
      ...[...want].filter((d) => !fs.existsSync(blobPath(store, d))).map((d) => `blob ${d} is missing`),
      ...[...wantLayers].filter((d) => !modes.some((mode) => fs.existsSync(layerPath(store, d, mode)))).map((d) => `layer ${d} is not extracted`),
    ];
    if (problems.length > 0) damaged.push({ kind: 'ref', id: r.ref, path: path.join(store.root, 'refs.json'), problems });
  }
  return damaged;
}

export async function verifyStore(store: Store): Promise<VerifyResult> {
  const damaged: Damage[] = [];
  const blobDir = path.join(store.root, 'blobs', 'sha256');
  const blobs = fs.readdirSync(blobDir).filter((n) => /^[0-9a-f]{64}$/.test(n));
  for (const hex of blobs) {
    const file = path.join(blobDir, hex);
    const problems = await checkBlob(file, hex);
    if (problems) damaged.push({ kind: 'blob', id: `sha256:${hex}`, path: file, problems });
  }
  const layers = layerModes(store).flatMap((mode) =>
    fs
      .readdirSync(path.join(store.root, 'layers', mode))
      .filter((n) => /^[0-9a-f]{64}$/.test(n))
      .map((hex) => ({ mode, hex })),
  );
  for (const { mode, hex } of layers) {
    const dir = path.join(store.root, 'layers', mode, hex);
    const problems = checkLayer(dir);
    if (problems) damaged.push({ kind: 'layer', id: `sha256:${hex}`, path: dir, problems, mode });
  }
  const refs = checkRefs(store);
  damaged.push(...refs);
  return { blobs: blobs.length, layers: layers.length, refs: readRefs(store).length, damaged };
}
