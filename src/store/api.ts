import fs from 'node:fs';
import path from 'node:path';
import { Pool } from '../copy/pool.js';
import { asLayercopyError, LayercopyError } from '../core/errors.js';
import { invalidOption, shown } from '../core/option-errors.js';
import { defaultConcurrency, type Progress, type PullPolicy, type RegistryOptions, validateProvisionOptions, validateStoreOption } from '../core/options.js';
import { ProgressGuard } from '../core/progress-guard.js';
import type { Devices, Owners } from '../core/rootless.js';
import { servedBy } from '../images/oci.js';
import { parseLayerArgument } from '../images/reference.js';
import type { StoreCounts } from './fill.js';
import { type PruneResult, pruneStore } from './gc.js';
import { refKey } from './image.js';
import { defaultStoreDir, openStore, type Store } from './layout.js';
import { openSession, pullImage } from './pull.js';
import { notAReference, pullAborted } from './pull-errors.js';
import { type RefRecord, readRefs } from './refs.js';
import { repairStore } from './repair.js';
import { removeRefs, type Untagged } from './rmi.js';
import { checkRefs, type VerifyResult, verifyStore } from './verify.js';

// The store's operations for a runtime that embeds layercopy (and the CLI's
// pull, images, rmi, prune, verify). Each opens the store itself: options.store,
// else $LAYERCOPY_STORE, else the default (docs/cli.md, "The store").

export interface StoreOptions {
  /** The store's directory. Default: $LAYERCOPY_STORE, else /var/lib/layercopy as root, ${XDG_DATA_HOME:-~/.local/share}/layercopy otherwise. */
  store?: string;
}

export interface PullImageOptions extends StoreOptions {
  /** 'missing' (default): nothing is fetched for a reference the store holds; 'always': resolved at its source again; 'never': fails unless held. */
  pull?: PullPolicy;
  /** 'os/arch[/variant]'. Default: the host's. */
  platform?: string;
  registry?: RegistryOptions;
  maxDownloads?: number;
  /**
   * Owners in layers, as provision's options.owners (default: 'keep' as root
   * with IDs 0-65535 mapped, else 'xattr'): layers are extracted in this mode,
   * for provisions of the same mode.
   */
  owners?: Owners;
  /** Device nodes in layers: as provision's options.devices (default: 'error' as root of the initial user namespace, else 'empty'). */
  devices?: Devices;
  /** Worker threads extracting layers. Default: available CPUs. */
  concurrency?: number;
  signal?: AbortSignal;
  onProgress?: (progress: Progress) => void;
}

export interface PullResult {
  /** The reference as recorded: normalized (`docker://H/app` as `docker://H/app:latest`), a local image's path made absolute. */
  reference: string;
  /** The manifest's digest (for an index, the platform's manifest). */
  digest: string;
  platform: string;
  store: StoreCounts;
  /** docker://, where the registry was asked: the registry or mirror that served the manifest, and the mirrors passed over. */
  from?: string;
  mirror?: boolean;
  passedOver?: { host: string; why: string }[];
}

export type ImageInfo = Pick<RefRecord, 'digest' | 'platform' | 'size' | 'pulled' | 'lastUsed'> & {
  reference: string;
  /** Some of its blobs or layers are not in the store (a pull interrupted after it recorded the reference): its next pull fetches them; verify lists them. */
  incomplete?: true;
};

export function storeDir(options: StoreOptions = {}): string {
  return options.store ?? (process.env.LAYERCOPY_STORE || defaultStoreDir());
}

/**
 * The store images, rmi, prune and verify read or tidy: one that is not
 * there is not made (a mistyped --store was created and verified as having
 * no damage). The default one before anything made it holds nothing:
 * images, rmi, prune and verify say so instead (defaultNotMade).
 */
function existingStore(options: StoreOptions): Store {
  const dir = path.resolve(storeDir(options));
  if (!fs.existsSync(dir)) throw new LayercopyError(`store ${dir}: does not exist (pull or provision --store makes it)`, { code: 'ERR_STORE', path: dir });
  return openStore(dir);
}

/** The default store (no --store, no $LAYERCOPY_STORE) before anything made it: it holds no images. */
const defaultNotMade = (options: StoreOptions) => options.store === undefined && !process.env.LAYERCOPY_STORE && !fs.existsSync(storeDir(options));

async function run<T>(what: string, body: () => Promise<T>): Promise<T> {
  try {
    return await body();
  } catch (error) {
    throw asLayercopyError(error, what);
  }
}

/** Puts IMAGE into the store (what it lacks: blobs fetched once, layers extracted once) and records its reference. */
export function pull(image: string, options: PullImageOptions = {}): Promise<PullResult> {
  const guard = new ProgressGuard(options);
  return run(`pull ${image}`, async () => {
    if (typeof image !== 'string' || image === '') throw new LayercopyError('pull: image must be a non-empty reference', { code: 'ERR_INVALID_ARGUMENT' });
    const o = guard.options;
    // The options a provision shares with pull, checked as provision checks them.
    const opts = validateProvisionOptions(
      o === null || typeof o !== 'object'
        ? o
        : {
            concurrency: o.concurrency,
            store: o.store,
            pull: o.pull,
            platform: o.platform,
            registry: o.registry,
            maxDownloads: o.maxDownloads,
            owners: o.owners,
            devices: o.devices,
            signal: o.signal,
            onProgress: o.onProgress,
          },
    );
    const arg = parseLayerArgument(image, 0);
    if (arg.kind === 'path') throw notAReference(image);
    // An invalid docker:// reference is a usage error before the store is opened (or made), named as pull's.
    refKey(arg, 'pull');
    const pool = new Pool(o.concurrency ?? defaultConcurrency());
    const session = openSession(openStore(storeDir(o)), opts, pool, opts.signal);
    try {
      const pulled = await pullImage(session, image, 0, arg);
      pulled.release();
      // Thrown on the last event, too late to stop the pull: the image is in the store, and stays.
      const failed = guard.failure(`pull ${image}`, true);
      if (failed) throw failed;
      return { reference: pulled.ref, digest: pulled.digest, platform: pulled.platform, ...servedBy(pulled.from), store: session.counts };
    } catch (error) {
      throw pullAborted(image, guard.told(error, `pull ${image}`));
    } finally {
      await pool.close();
    }
  });
}

/** The references the store holds, most recently used first. */
export function images(options: StoreOptions = {}): Promise<ImageInfo[]> {
  return run('images', async () => {
    validateStoreOption(options);
    const store = defaultNotMade(options) ? undefined : existingStore(options);
    const refs = store ? readRefs(store) : [];
    // Listed as podman would not list them: marked, not hidden (rmi and a pull take them by name).
    const incomplete = new Set(store ? checkRefs(store, refs).incomplete.map((i) => i.id) : []);
    return refs
      .map(({ ref, digest, platform, size, pulled, lastUsed }) => ({
        reference: ref,
        digest,
        platform,
        size,
        pulled,
        lastUsed,
        ...(incomplete.has(ref) ? { incomplete: true as const } : {}),
      }))
      .sort((a, b) => b.lastUsed.localeCompare(a.lastUsed));
  });
}

/** Drops references (as pulled, by the digest pulled by, or manifest digests); what they held stays until prune. Returns the references dropped (one per platform). */
export async function rmi(references: readonly string[], options: StoreOptions = {}): Promise<string[]> {
  return (await untag(references, options)).map((r) => r.reference);
}

/** rmi, each reference dropped with its platform and manifest digest (the CLI names the platform of a reference that held several). */
export function untag(references: readonly string[], options: StoreOptions = {}): Promise<Untagged[]> {
  return run('rmi', async () => {
    if (!Array.isArray(references) || references.some((r) => typeof r !== 'string' || r === '')) {
      throw new LayercopyError('rmi: references must be an array of image references: rmi([reference, …], options)', { code: 'ERR_INVALID_ARGUMENT' });
    }
    // Nothing made the default store yet: it holds none of them (as images lists nothing there).
    return removeRefs(defaultNotMade(validateStoreOption(options)) ? undefined : existingStore(options), references);
  });
}

/** Removes every blob and layer no reference holds and no running provision or pull uses. */
export function prune(options: StoreOptions = {}): Promise<PruneResult> {
  return run('prune', async () => {
    // Nothing made the default store yet: nothing to prune (as images lists nothing there).
    if (defaultNotMade(validateStoreOption(options))) return { blobs: 0, layers: 0, bytes: 0, skipped: 0, tmpRemoved: 0 };
    return pruneStore(existingStore(options));
  });
}

export interface VerifyOptions extends StoreOptions {
  /** Removes each damaged blob and layer (under its lock; one in use is left, in `inUse`) and each reference whose manifest or config is gone, so that the next pull fetches or extracts them again. */
  repair?: boolean;
}

/** Hashes every blob again and checks every extracted layer against its listing; reports what is damaged, and with `repair` removes it. */
export function verify(options: VerifyOptions = {}): Promise<VerifyResult> {
  return run('verify', async () => {
    if (validateStoreOption(options).repair !== undefined && typeof options.repair !== 'boolean')
      throw invalidOption(`options.repair must be a boolean (got ${shown(options.repair)})`);
    if (defaultNotMade(options)) return { blobs: 0, layers: 0, refs: 0, damaged: [], incomplete: [], ...(options.repair ? { removed: [], inUse: [] } : {}) };
    const store = existingStore(options);
    const found = await verifyStore(store);
    if (!options.repair) return found;
    const repaired = await repairStore(store, found.damaged);
    // What the removals left each reference lacking: incomplete now, for its next pull to fetch.
    return { ...found, ...repaired, incomplete: checkRefs(store).incomplete };
  });
}

export type { Removed } from './repair.js';
export type { Untagged } from './rmi.js';
export type { Damage, Incomplete, VerifyResult } from './verify.js';
export type { PruneResult, StoreCounts };
