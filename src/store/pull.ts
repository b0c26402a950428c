import fs from 'node:fs';
import path from 'node:path';
import PQueue from 'p-queue';
import type { Pool } from '../copy/pool.js';
import type { NativePolicy } from '../core/native.cjs';
import type { Platform, Progress, PullPolicy, ResolvedProvisionOptions } from '../core/options.js';
import { nativePolicy, type ResolvedRootless } from '../core/rootless.js';
import { distinct } from '../images/image-json.js';
import { hostPlatform } from '../images/oci.js';
import type { LayerArgument } from '../images/reference.js';
import type { PullOptions } from '../registry/pull.js';
import { fetchBlob, hasBlob } from './blobs.js';
import { strictError } from './changes.js';
import { type FillContext, fillLayers, MissingBlob, noCounts, type StoreCounts, type StoredLayer } from './fill.js';
import { type ImagePlan, planImage, refKey } from './image.js';
import { cleanTmp, lockPath, type OwnerMode, ownerMode, type Store } from './layout.js';
import { StoreLock } from './lock.js';
import { recordRef, updateRefs } from './refs.js';

/** One process's work with a store: pulls and provisions through it share a pool and counts. */
export interface StoreSession {
  store: Store;
  /** The owner mode layers are extracted in, and the metadata policy that writes them so (storeMode). */
  mode: OwnerMode;
  meta: NativePolicy;
  rootless: ResolvedRootless;
  pool: Pool;
  policy: PullPolicy;
  platform: Platform;
  pull?: PullOptions;
  maxDownloads: number;
  signal?: AbortSignal;
  onProgress?: (p: Progress) => void;
  counts: StoreCounts;
  /** Set once tmp/ has been cleaned of dead processes' leftovers. */
  cleaned?: boolean;
}

/** A session over `store` for options checked at the entry (provision's, or pull's), its requests stopped by `pullSignal`. */
export function openSession(store: Store, opts: ResolvedProvisionOptions, pool: Pool, pullSignal?: AbortSignal): StoreSession {
  return {
    store,
    ...storeMode(opts.rootless),
    pool,
    policy: opts.pull,
    platform: opts.platform ?? hostPlatform(),
    pull: { ...opts.registry, signal: pullSignal },
    maxDownloads: opts.maxDownloads,
    signal: opts.signal,
    onProgress: opts.onProgress,
    counts: noCounts(),
  };
}

export interface PulledImage {
  ref: string;
  platform: string;
  digest: string;
  /** Asked of a registry: who served the manifest, and the mirrors passed over. */
  from?: ImagePlan['from'];
  /** The image's layers in the store, lowest first, pinned until `release`. */
  layers: (StoredLayer & { label: string; source: WantedSource })[];
  release(): void;
}

type WantedSource = ImagePlan['layers'][number]['source'];

/**
 * How a store extracts layers for a request: owners and devices as the
 * request says, each mode in its own directory of layers/ (an entry serves
 * only its own mode); never shifted by an ID map (the copy out of the store
 * shifts owners kept, and reads back the owners an xattr entry recorded).
 */
export function storeMode(rootless: ResolvedRootless): { mode: OwnerMode; meta: NativePolicy; rootless: ResolvedRootless } {
  return { mode: ownerMode(rootless.owners, rootless.devices), meta: nativePolicy({ ...rootless, strict: false }), rootless };
}

/**
 * Puts an image into the store (what it lacks), records its reference, and
 * returns its extracted layers pinned: prune passes them over until
 * release().
 */
export async function pullImage(session: StoreSession, given: string, argIndex: number, arg: Exclude<LayerArgument, { kind: 'path' }>): Promise<PulledImage> {
  const { store, counts } = session;
  // The reference checked first: an invalid one is a usage error, whatever the store holds and the policy says.
  refKey(arg, argIndex);
  if (!session.cleaned) {
    session.cleaned = true;
    await cleanTmp(store);
    // Loaded only for a mode's first use: a warm provision does without it.
    if (!fs.existsSync(path.join(store.root, 'layers', session.mode))) {
      await (await import('./fscheck.js')).checkStoreFilesystem(store, session.mode, session.rootless, session.meta);
    }
  }
  // Stops the registry's requests when an extraction fails (or the caller aborts).
  const pullAbort = new AbortController();
  const signal = session.signal ? AbortSignal.any([session.signal, pullAbort.signal]) : pullAbort.signal;
  const onWait = (ms: number) => {
    counts.waitedMs += ms;
  };
  // The first blobs the store lacks are asked for as soon as the manifest is read, beside the config (src/registry/pull.ts).
  const pull = { ...session.pull, signal, requestAhead: session.maxDownloads, aheadWanted: (digest: string) => !hasBlob(store, digest) };
  const opts = { platform: session.platform, pull, onWait, mode: session.mode };
  const fill: FillContext = {
    store,
    mode: session.mode,
    meta: session.meta,
    pool: session.pool,
    counts,
    maxDownloads: session.maxDownloads,
    signal: session.signal,
    onProgress: session.onProgress,
    abortPull: () => pullAbort.abort(),
  };
  let plan = await planImage(store, given, argIndex, arg, { ...opts, policy: session.policy });
  const refLock = plan.refLock;
  const pins: StoreLock[] = [];
  const release = () => {
    for (const pin of pins.splice(0)) pin.release();
  };
  try {
    let found: Map<string, StoredLayer>;
    for (;;) {
      pins.push(...plan.pins);
      const reused = counts.layersReused;
      try {
        // A plan read from the store names no source: a layer to build whose blob is missing too (a pull that died, a
        // damaged store) sends it to the source. A layer another process is extracting is waited for, not fetched again.
        // A blob the store lacks (its layer extracted or not), and no source named: the source is asked, before anything is built.
        if (plan.fromStore && session.policy === 'missing' && plan.layers.some((l) => !hasBlob(store, l.digest))) {
          throw new MissingBlob('a layer blob is missing from the store', { code: 'ERR_STORE' });
        }
        found = await fillLayers(fill, plan.layers, pins);
        break;
      } catch (error) {
        if (error instanceof MissingBlob && session.policy === 'never') {
          // What to do, and the image argument it concerns (the message named only the layer).
          error.message += `; the reference is incomplete in the store (layercopy verify lists it): pull it again (layercopy pull ${given}), or use --pull missing`;
          Object.assign(error, { layer: given, layerIndex: argIndex });
        }
        if (!(error instanceof MissingBlob && plan.fromStore && session.policy === 'missing')) throw error;
        release();
        // Found again on the second pass: counted once.
        counts.layersReused = reused;
        await plan.close();
        plan = await planImage(store, given, argIndex, arg, { ...opts, policy: 'always' });
      }
    }
    if (session.rootless.strict) {
      for (const l of plan.layers) {
        const changes = found.get(l.diffId)!.changes;
        if (changes) throw strictError(l.label, changes, { layer: given, layerIndex: argIndex });
      }
    }
    await fetchLacking(session, plan, pins);
    // Its last use (a plan from the source was recorded as it was made).
    if (plan.fromStore) await recordRef(store, plan, session.signal);
    return {
      ref: plan.ref,
      platform: plan.platform,
      digest: plan.manifest.digest,
      ...(plan.from ? { from: plan.from } : {}),
      layers: plan.layers.map((l) => ({ ...found.get(l.diffId)!, label: l.label, source: l.source })),
      release,
    };
  } catch (error) {
    release();
    // A reference this pull recorded, new, whose layers it could not fill: dropped (best effort).
    const { ref, platform, manifest } = plan;
    if (plan.created) await updateRefs(store, (refs) => refs.filter((r) => !(r.ref === ref && r.platform === platform && r.digest === manifest.digest))).catch(() => undefined);
    throw error;
  } finally {
    refLock?.release();
    pullAbort.abort();
    await plan.close();
  }
}

/**
 * The blobs of a plan's layers the store lacks though the layers are
 * extracted — the same tar compressed otherwise (gzip and zstd share a
 * diff_id, so the layer was not extracted again), or a blob verify --repair
 * removed — fetched alone, each pinned: the store holds every blob of every
 * image it records (an OCI layout others read; verify checks it).
 */
async function fetchLacking(session: StoreSession, plan: ImagePlan, pins: StoreLock[]): Promise<void> {
  const { store } = session;
  const lacking = distinct(plan.layers).filter((l) => l.fetch && !hasBlob(store, l.digest));
  const queue = new PQueue({ concurrency: session.maxDownloads });
  await Promise.all(
    lacking.map((layer) =>
      queue.add(async () => {
        pins.push((await StoreLock.acquire(lockPath(store, 'blob', layer.digest), 'sh', { wait: true, signal: session.signal }))!);
        if (hasBlob(store, layer.digest)) return;
        await fetchBlob(store, { ...layer, fetch: layer.fetch! });
        session.counts.blobsFetched++;
      }),
    ),
  );
}
