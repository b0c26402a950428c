import fs from 'node:fs';
import path from 'node:path';
import type { Pool } from '../copy/pool.js';
import { abortError, LayercopyError } from '../core/errors.js';
import type { CancelFlag, NativeChanges, NativePolicy } from '../core/native.cjs';
import type { Progress } from '../core/options.js';
import { firstOf } from '../images/image-json.js';
import type { TarLayer } from '../images/layer.js';
import { extractOnPool } from '../images/run.js';
import { alongside, startDownloads } from '../registry/spool.js';
import { hasBlob } from './blobs.js';
import { LastChanges, readChanges, writeChanges } from './changes.js';
import type { WantedLayer } from './image.js';
import { blobPath, layerPath, lockPath, makeTmpDir, type OwnerMode, type Store } from './layout.js';
import { formatListing, hasUnreadable, LISTING, ROOTFS, readImplied, UNREADABLE, walk, writeImplied } from './listing.js';
import { StoreLock } from './lock.js';

/** What a provision's summary says of the store (docs/cli.md). */
export interface StoreCounts {
  /** Layer blobs written into the store: downloaded, or copied out of a local image (manifests and configs not counted). */
  blobsFetched: number;
  /** Layers extracted into the store by this process. */
  layersExtracted: number;
  /** Layers found extracted (by an earlier run, or by another process while this one waited). */
  layersReused: number;
  /** Milliseconds spent waiting for locks others held. */
  waitedMs: number;
}

/** The summary's part a store adds (ProvisionSummary). */
export interface StoreSummary {
  /** With a store (options.store): what it fetched, extracted and reused, and how long others' locks held this provision. */
  store: StoreCounts;
}

export const noCounts = (): StoreCounts => ({ blobsFetched: 0, layersExtracted: 0, layersReused: 0, waitedMs: 0 });

export interface FillContext {
  store: Store;
  /** The owner mode layers are extracted in and looked up by, and the metadata policy that writes them so. */
  mode: OwnerMode;
  meta: NativePolicy;
  pool: Pool;
  counts: StoreCounts;
  maxDownloads: number;
  signal?: AbortSignal;
  onProgress?: (p: Progress) => void;
  /** Stops the registry's requests (a failed extraction). */
  abortPull?: () => void;
}

/** An extracted layer of the store, pinned: its tree, and the directories its tar never described. */
export interface StoredLayer {
  dir: string;
  implied: ReadonlySet<string>;
  /** Its read lock, where some entry of it cannot be read by its owner without a chmod (src/store/readers.ts). */
  readLock?: string;
  /** What the metadata policy changed as it was extracted (src/store/changes.ts). */
  changes?: NativeChanges;
}

/** A layer to build whose blob the store lacks, and no source to fetch it from (a plan read from the store): the caller goes to the source. */
export class MissingBlob extends LayercopyError {}

const complete = (ctx: FillContext, diffId: string) => fs.existsSync(layerPath(ctx.store, diffId, ctx.mode));
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Each layer extracted in the store and pinned (a shared lock, held until
 * the caller releases `pins`), extracting what is missing. The protocol
 * (docs/design.md, "Locking"): a shared lock, and the entry there: pinned.
 * Absent: an exclusive lock without waiting, checked again, then built in
 * tmp/ and renamed into place, and the lock made shared again (checked
 * once more: flock's conversion is not atomic). A lock held by another (a
 * build, a prune) is waited for only while this process holds no exclusive
 * lock, so every wait ends: holders of exclusive locks never wait.
 */
export async function fillLayers(ctx: FillContext, wanted: readonly WantedLayer[], pins: StoreLock[]): Promise<Map<string, StoredLayer>> {
  const { store, counts } = ctx;
  const found = new Map<string, StoredLayer>();
  const onWait = (ms: number) => {
    counts.waitedMs += ms;
  };
  const pin = (diffId: string, lock: StoreLock) => {
    pins.push(lock);
    const dir = layerPath(store, diffId, ctx.mode);
    const readLock = fs.existsSync(path.join(dir, UNREADABLE)) ? lockPath(store, 'read', diffId, ctx.mode) : undefined;
    found.set(diffId, { dir: path.join(dir, ROOTFS), implied: readImplied(dir), readLock, changes: readChanges(dir) });
  };
  // The first layer of each diff_id (a Map from pairs keeps the last): the one whose blob a pull asked for ahead.
  let pending = firstOf(wanted, (w) => w.diffId);
  while (pending.length > 0) {
    if (ctx.signal?.aborted) throw abortError(ctx.signal.reason);
    const build: { layer: WantedLayer; lock: StoreLock }[] = [];
    const busy: WantedLayer[] = [];
    for (const layer of pending) {
      const file = lockPath(store, 'layer', layer.diffId, ctx.mode);
      const shared = await StoreLock.acquire(file, 'sh', { wait: false });
      if (shared && complete(ctx, layer.diffId)) {
        counts.layersReused++;
        pin(layer.diffId, shared);
        continue;
      }
      shared?.release();
      const exclusive = shared && (await StoreLock.acquire(file, 'ex', { wait: false }));
      if (!exclusive) busy.push(layer);
      else if (!complete(ctx, layer.diffId)) build.push({ layer, lock: exclusive });
      else {
        exclusive.downgrade();
        if (complete(ctx, layer.diffId)) {
          counts.layersReused++;
          pin(layer.diffId, exclusive);
        } else {
          exclusive.release();
          busy.push(layer);
        }
      }
    }
    if (build.length > 0) {
      const built = new Set<number>();
      try {
        // Each layer made shared as soon as it is in place: others waiting for it go on while the rest extract.
        await buildLayers(ctx, build, pins, (i) => {
          const { layer, lock } = build[i];
          built.add(i);
          counts.layersExtracted++;
          lock.downgrade();
          // A prune between the conversion's release and its new lock may have taken it: built again.
          if (complete(ctx, layer.diffId)) pin(layer.diffId, lock);
          else {
            lock.release();
            busy.push(layer);
          }
        });
      } catch (error) {
        build.forEach((b, i) => {
          if (!built.has(i)) b.lock.release();
        });
        throw error;
      }
    } else if (busy.length > 0) {
      // Holding no exclusive lock: wait for whoever holds the first (a build or a prune) to finish.
      const first = busy[0];
      const lock = (await StoreLock.acquire(lockPath(store, 'layer', first.diffId, ctx.mode), 'sh', { wait: true, signal: ctx.signal, onWait }))!;
      if (complete(ctx, first.diffId)) {
        counts.layersReused++;
        pin(first.diffId, lock);
        busy.shift();
      } else {
        lock.release();
        // Others checking at the same moment: let one of them win.
        await sleep(2 + Math.random() * 20);
      }
    }
    pending = busy;
  }
  return found;
}

/**
 * A system call's failure while a layer is extracted into the store,
 * named as the store's: its path is the entry's in the layer ("/etc/x:
 * write failed: ENOSPC"), which read as the host's file or the rootfs's.
 */
function intoStore(error: unknown, store: Store, dir: string): unknown {
  if (!(error instanceof LayercopyError) || !/^E[A-Z0-9]+$/.test(error.code) || error.path?.startsWith(`${store.root}/`)) return error;
  error.message += ` (extracting into the store ${store.root}, under ${dir})`;
  return error;
}

/**
 * Extracts layers into tmp/ (exclusive locks held), as one extraction on
 * the pool, blobs the store lacks fetched alongside into spool files the
 * extractions follow; each layer written with its implied set and listing,
 * then renamed into layers/, its spool file into blobs/.
 */
async function buildLayers(ctx: FillContext, build: { layer: WantedLayer }[], pins: StoreLock[], onBuilt: (i: number) => void): Promise<void> {
  const { store } = ctx;
  const tmp = makeTmpDir(store, 'build');
  const changes = new LastChanges();
  const rootFds: number[] = [];
  const cancel: CancelFlag = new Int32Array(new SharedArrayBuffer(4));
  const onAbort = () => Atomics.store(cancel, 0, 1);
  ctx.signal?.addEventListener('abort', onAbort, { once: true });
  try {
    const jobs: { tar: TarLayer; root: number; layerIndex: number }[] = [];
    const fetches: { tar?: TarLayer; download?: WantedLayer['fetch'] }[] = [];
    for (const [i, { layer }] of build.entries()) {
      // The blob pinned against prune while it is read (and, where missing, written).
      pins.push((await StoreLock.acquire(lockPath(store, 'blob', layer.digest), 'sh', { wait: true, signal: ctx.signal }))!);
      const tar: TarLayer = { file: blobPath(store, layer.digest), digest: layer.digest, size: layer.size, diffId: layer.diffId, label: layer.label };
      if (hasBlob(store, layer.digest)) fetches.push({});
      else if (layer.fetch) fetches.push({ tar: { ...tar, file: '' }, download: layer.fetch });
      else throw new MissingBlob(`${layer.label}: not extracted in the store, and its blob is missing there`, { code: 'ERR_STORE', digest: layer.digest, diffId: layer.diffId });
      fs.mkdirSync(path.join(tmp.path, String(i), ROOTFS), { recursive: true, mode: 0o700 });
      const fd = fs.openSync(path.join(tmp.path, String(i), ROOTFS), fs.constants.O_RDONLY | fs.constants.O_DIRECTORY | fs.constants.O_NOFOLLOW);
      rootFds.push(fd);
      fs.fchmodSync(fd, 0o755);
      jobs.push({ tar: fetches[i].tar ?? tar, root: fd, layerIndex: i });
    }
    const downloads = fetches.some((f) => f.download) ? startDownloads(fetches, tmp.fd, ctx.maxDownloads) : undefined;
    try {
      await downloads?.ready;
    } catch (error) {
      await downloads?.close();
      throw error;
    }
    // Each layer, once extracted and its digests checked (its whole blob read), goes into place.
    const finish = (i: number, implied: ReadonlySet<string>) => {
      const { layer } = build[i];
      const dir = path.join(tmp.path, String(i));
      writeImplied(dir, implied);
      writeChanges(dir, changes.last);
      changes.last = undefined;
      const listing = walk(path.join(dir, ROOTFS));
      fs.writeFileSync(path.join(dir, LISTING), formatListing(listing));
      if (hasUnreadable(listing)) fs.writeFileSync(path.join(dir, UNREADABLE), '');
      if (fetches[i].download) {
        fs.renameSync(path.join(tmp.path, `${i}.blob`), blobPath(store, layer.digest));
        ctx.counts.blobsFetched++;
      }
      // Renamed into place whole, after everything in it is written: a layer entry exists only complete.
      fs.renameSync(dir, layerPath(store, layer.diffId, ctx.mode));
      onBuilt(i);
    };
    fs.mkdirSync(path.join(store.root, 'layers', ctx.mode), { recursive: true, mode: 0o700 });
    // No claims: a stored layer serves every image that has it, so a file another layer hides still gets its data.
    const extraction = extractOnPool(ctx.pool, jobs, {
      policy: ctx.meta,
      changes,
      cancel,
      signal: ctx.signal,
      layers: jobs.length,
      onProgress: ctx.onProgress,
      shareClaims: false,
      onDone: finish,
      downloaded: downloads?.downloaded,
    });
    const abortPull = ctx.abortPull ?? (() => {});
    try {
      if (downloads) await alongside(downloads.done, extraction, { cancel, abortPull });
      else await extraction;
    } catch (error) {
      throw intoStore(error, store, tmp.path);
    }
  } finally {
    ctx.signal?.removeEventListener('abort', onAbort);
    for (const fd of rootFds) fs.closeSync(fd);
    await tmp.remove();
  }
}
