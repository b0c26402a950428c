import fs from 'node:fs';
import path from 'node:path';
import { rehash } from './blobs.js';
import { referenced } from './gc.js';
import { blobPath, layerModes, layerPath, type OwnerMode, type Store } from './layout.js';
import { compareListing, LISTING, parseListing, ROOTFS, walk } from './listing.js';
import { type RefRecord, readRefs } from './refs.js';

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

/**
 * A reference whose manifest and config are whole but that lacks layer
 * blobs or extracted layers: nothing is wrong with what is there (a pull
 * killed part-way, or verify --repair removed a damaged entry), and its next
 * pull or provision fetches and extracts what is missing.
 */
export interface Incomplete {
  kind: 'ref';
  /** The reference, as refs.json records it. */
  id: string;
  path: string;
  /** What it lacks: `blob sha256:… is missing`, `layer sha256:… is not extracted`. */
  missing: string[];
}

export interface VerifyResult {
  blobs: number;
  layers: number;
  refs: number;
  damaged: Damage[];
  incomplete: Incomplete[];
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

/**
 * What each reference lacks. Without its manifest or config it is damaged
 * (nothing says which layers it needs; --repair drops it); lacking only
 * layer blobs or extracted layers it is incomplete, which its next pull
 * mends.
 */
export function checkRefs(store: Store, refs: RefRecord[] = readRefs(store)): { damaged: Damage[]; incomplete: Incomplete[] } {
  const modes = layerModes(store);
  const damaged: Damage[] = [];
  const incomplete: Incomplete[] = [];
  const file = path.join(store.root, 'refs.json');
  for (const r of refs) {
    const { blobs: want, layers: wantLayers, configs } = referenced(store, [r]);
    const missingBlobs = [...want].filter((d) => !fs.existsSync(blobPath(store, d)));
    const missing = [
      ...missingBlobs.map((d) => `blob ${d} is missing`),
      ...[...wantLayers].filter((d) => !modes.some((mode) => fs.existsSync(layerPath(store, d, mode)))).map((d) => `layer ${d} is not extracted`),
    ];
    if (missing.length === 0) continue;
    const whole = !missingBlobs.includes(r.digest) && configs.size > 0 && !missingBlobs.some((d) => configs.has(d));
    if (whole) incomplete.push({ kind: 'ref', id: r.ref, path: file, missing });
    else damaged.push({ kind: 'ref', id: r.ref, path: file, problems: missing });
  }
  return { damaged, incomplete };
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
  damaged.push(...refs.damaged);
  return { blobs: blobs.length, layers: layers.length, refs: readRefs(store).length, damaged, incomplete: refs.incomplete };
}
