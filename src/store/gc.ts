import fs from 'node:fs';
import path from 'node:path';
import { readSmallBlob } from './blobs.js';
import { blobPath, cleanTmp, hexOf, layerModes, layerPath, lockPath, MODE_NAME, removeTree, type Store, tmpName } from './layout.js';
import { LISTING, listedBytes, parseListing } from './listing.js';
import { StoreLock } from './lock.js';
import { type RefRecord, readRefs } from './refs.js';

// Removing what no reference holds and no running provision pins (prune;
// rmi, which drops references, is src/store/rmi.ts): mark from refs.json, sweep under
// exclusive locks taken without waiting (docs/design.md, "Locking").

/** What the references of refs.json hold: blob digests (manifests, configs, layers; the configs also apart) and layer diff_ids. */
export function referenced(store: Store, refs: readonly RefRecord[]): { blobs: Set<string>; layers: Set<string>; configs: Set<string> } {
  const blobs = new Set<string>();
  const layers = new Set<string>();
  const configs = new Set<string>();
  for (const r of refs) {
    blobs.add(r.digest);
    const data = readSmallBlob(store, r.digest);
    if (!data) continue;
    const m = JSON.parse(data.toString('utf8')) as { config?: { digest: string }; layers?: { digest: string }[] };
    if (m.config) {
      blobs.add(m.config.digest);
      configs.add(m.config.digest);
    }
    for (const l of m.layers ?? []) blobs.add(l.digest);
    const config = m.config && readSmallBlob(store, m.config.digest);
    const diffIds = config ? ((JSON.parse(config.toString('utf8')) as { rootfs?: { diff_ids?: string[] } }).rootfs?.diff_ids ?? []) : [];
    for (const d of diffIds) layers.add(d);
  }
  return { blobs, layers, configs };
}

export interface PruneResult {
  /** Blobs and layers removed. */
  blobs: number;
  layers: number;
  /** Bytes freed: the blobs' sizes, the layers' files (their listings) and the files of what was left in tmp/. */
  bytes: number;
  /** Unreferenced entries passed over: pinned by a running provision or pull. */
  skipped: number;
  /** What dead processes had left in tmp/. */
  tmpRemoved: number;
}

export async function pruneStore(store: Store): Promise<PruneResult> {
  const leftovers = await cleanTmp(store, true);
  const result: PruneResult = { blobs: 0, layers: 0, bytes: leftovers.reduce((sum, l) => sum + l.bytes, 0), skipped: 0, tmpRemoved: leftovers.length };
  const first = referenced(store, readRefs(store));
  const hex = (name: string) => /^[0-9a-f]{64}$/.test(name);
  const candidates = [
    ...fs
      .readdirSync(path.join(store.root, 'blobs', 'sha256'))
      .filter((n) => hex(n) && !first.blobs.has(`sha256:${n}`))
      .map((n) => ({ kind: 'blob' as const, digest: `sha256:${n}`, mode: undefined as string | undefined })),
    ...layerModes(store).flatMap((mode) =>
      fs
        .readdirSync(path.join(store.root, 'layers', mode))
        .filter((n) => hex(n) && !first.layers.has(`sha256:${n}`))
        .map((n) => ({ kind: 'layer' as const, digest: `sha256:${n}`, mode })),
    ),
  ];
  const held: { kind: 'blob' | 'layer'; digest: string; mode?: string; lock: StoreLock }[] = [];
  try {
    for (const c of candidates) {
      const lock = await StoreLock.acquire(lockPath(store, c.kind, c.digest, c.mode), 'ex', { wait: false });
      if (lock) held.push({ ...c, lock });
      else result.skipped++;
    }
    // Read again under the locks: a reference recorded since the first read keeps what it holds.
    const now = referenced(store, readRefs(store));
    for (const h of held) {
      if ((h.kind === 'blob' ? now.blobs : now.layers).has(h.digest)) continue;
      if (h.kind === 'blob') {
        const file = blobPath(store, h.digest);
        result.bytes += fs.statSync(file, { throwIfNoEntry: false })?.size ?? 0;
        fs.rmSync(file, { force: true });
        result.blobs++;
      } else {
        const dir = layerPath(store, h.digest, h.mode!);
        try {
          result.bytes += listedBytes(parseListing(fs.readFileSync(path.join(dir, LISTING), 'utf8')));
        } catch {
          // A damaged entry without its listing: removed all the same.
        }
        // Out of layers/ in one rename, then removed at leisure (a crash leaves it in tmp/, a leftover).
        const gone = path.join(store.root, 'tmp', tmpName(`prune-${hexOf(h.digest).slice(0, 12)}`));
        fs.renameSync(dir, gone);
        await removeTree(gone);
        result.layers++;
      }
      h.lock.unlink();
    }
    await removeIdleLocks(store, now);
  } finally {
    for (const h of held) h.lock.release();
  }
  return result;
}

/** Lock files of entries that are gone (a build that failed, a prune's): removed under their exclusive locks. */
async function removeIdleLocks(store: Store, now: { blobs: Set<string>; layers: Set<string> }): Promise<void> {
  for (const name of fs.readdirSync(path.join(store.root, 'locks'))) {
    // A reference's resolving lock guards no entry: free, it goes.
    if (/^ref-[0-9a-f]{64}$/.test(name)) {
      const lock = await StoreLock.acquire(path.join(store.root, 'locks', name), 'ex', { wait: false });
      lock?.unlink();
      lock?.release();
      continue;
    }
    const m = /^(?:blob|(layer|read)-(.+))-([0-9a-f]{64})$/.exec(name);
    if (!m || (m[2] !== undefined && !MODE_NAME.test(m[2]))) continue;
    const digest = `sha256:${m[3]}`;
    const kind = (m[1] ?? 'blob') as 'blob' | 'layer' | 'read';
    const entry = kind === 'blob' ? blobPath(store, digest) : layerPath(store, digest, m[2]);
    if ((kind === 'blob' ? now.blobs : now.layers).has(digest) || fs.existsSync(entry)) continue;
    const lock = await StoreLock.acquire(lockPath(store, kind, digest, m[2]), 'ex', { wait: false });
    if (!lock) continue;
    try {
      if (!fs.existsSync(entry)) lock.unlink();
    } finally {
      lock.release();
    }
  }
}
