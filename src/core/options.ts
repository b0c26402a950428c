import os from 'node:os';
import { type IdMap, type PackedIdMap, validateIdMap } from './id-map.js';
import type { NativePolicy } from './native.cjs';
import { invalidOption, shown } from './option-errors.js';
import { nativePolicy, type ResolvedRootless, type RootlessOptions, resolveRootless } from './rootless.js';

export interface Progress {
  /**
   * What is being done: reading tarball layers (decompressing, checking
   * their digests, extracting them), copying entries (hardlinks are linked
   * as soon as their group's first name is copied), linking the hardlinks
   * left after the copies' barrier, setting directory metadata, or
   * 'done' — the last event, sent once after the commit, whose totals equal
   * the summary's.
   */
  phase: 'extract' | 'copy' | 'links' | 'metadata' | 'done';
  /**
   * 0-based index of the layer being applied (merged plan: of the layer the
   * last entries came from), and the number of layers: an image's layers
   * each count here, so these are indexes among all the layers the
   * arguments gave (a LayercopyError's layerIndex is the argument's).
   */
  layerIndex: number;
  layers: number;
  /** The layer as messages name it: a directory or tarball as given, an image's layer as `REF layer N/M (sha256:…)` (a LayercopyError's layer is the argument as given). */
  layer: string;
  /** Totals for the whole provision so far (extract: entries 0, bytes the tarballs' bytes read so far, as stored). */
  entries: number;
  bytes: number;
  /** extract: bytes of this layer's tarball read so far, and its size (as stored: compressed). */
  read?: number;
  size?: number;
  /** extract: the size of every tarball being extracted, together (the layers are read at once: `bytes` of `total`). */
  total?: number;
  /** extract, with docker:// layers: bytes downloaded so far, all layers together. */
  downloaded?: number;
}

export interface PoolOptions {
  /**
   * Worker threads copying files. Default: `os.availableParallelism()`.
   * See docs/benchmarks.md for the sweep this default comes from.
   */
  concurrency?: number;
}

/**
 * 'merged' (default): one top-down walk of the final tree; each surviving
 * entry is copied once, from the highest layer that has it; nothing hidden
 * is ever opened. 'layered': each layer copied in full over the lower ones,
 * hidden entries removed first — the Mesos copy backend's method, kept for
 * comparison and differential testing. Both give the same tree.
 */
export type Strategy = 'merged' | 'layered';
export const STRATEGIES: readonly Strategy[] = ['merged', 'layered'];

export interface ProvisionOptions extends PoolOptions, RootlessOptions {
  /** How layers are applied. Default 'merged'. */
  strategy?: Strategy;
  /** Default: none (owners copied as they are). */
  idMap?: IdMap;
  /**
   * Entries per task sent to a worker: a number, or 'auto' (the default):
   * DEFAULT_BATCH_SIZE (256), growing up to 4 times that once a provision
   * has batched 16,384 entries while the workers cannot keep up (the task
   * queue is full). Smaller batches cost a thread round trip per few files;
   * larger ones leave workers idle at a barrier, which only the growth on
   * big images makes worth it (docs/benchmarks.md).
   */
  batchSize?: BatchSize;
  /**
   * For image references (oci:PATH[:REF]) whose index holds several
   * platforms: 'os/arch[/variant]' as Docker and OCI name them
   * ('linux/arm64/v8'). Default: the host's.
   */
  platform?: string;
  /** For docker:// references: how to reach registries (docs/cli.md, "Registries"). */
  registry?: RegistryOptions;
  /** docker:// layers downloaded at once. Default 6 (as containers/image). */
  maxDownloads?: number;
  /**
   * A store directory (docs/cli.md, "The store"): image references are
   * pulled into it, each layer extracted there once, and the rootfs copied
   * from its extracted layers. Default: none (each provision extracts its
   * image again).
   */
  store?: string;
  /** With a store: 'missing' (default: a reference the store holds makes no request), 'always', 'never'. */
  pull?: PullPolicy;
  /** Aborting stops the copy, removes the staging directory and rejects with an AbortError. */
  signal?: AbortSignal;
  /**
   * Called after each finished batch, every 100 ms while layers are read
   * or downloaded, and once at the end, on the main thread. An exception it
   * throws fails the provision with code ERR_SYSTEM and that exception as
   * `cause` (no event is sent after it; the staging directory is removed;
   * thrown by the 'done' event, which comes after the commit, the rootfs
   * stays).
   */
  onProgress?: (progress: Progress) => void;
}

/** Credentials and TLS for registries; each as the CLI flag of the same name. */
export interface RegistryOptions {
  /** 'USER:PASS' (--creds). Default: the auth files. */
  creds?: string;
  /** Read credentials from this file only (--authfile). */
  authfile?: string;
  /** CAs (*.crt) and client certificates (*.cert + *.key) for the registry (--cert-dir). */
  certDir?: string;
  /** false: plain HTTP and unverified TLS allowed (--tls-verify=false). Default true. */
  tlsVerify?: boolean;
  /**
   * How long a mirror (registries.conf) may take to answer a request, and
   * its body (a redirect's target's too) may then be silent, before it is
   * passed over for the next source, for the rest of the pull. Default
   * 15,000 ms; the registry itself gets 300 s.
   */
  mirrorTimeoutMs?: number;
}

/** With a store: when to go to an image's source (docs/cli.md, "The store"). */
export type PullPolicy = 'missing' | 'always' | 'never';
export const PULL_POLICIES: readonly PullPolicy[] = ['missing', 'always', 'never'];

export const DEFAULT_BATCH_SIZE = 256;
export const DEFAULT_MAX_DOWNLOADS = 6;

export type BatchSize = number | 'auto';

export function defaultConcurrency(): number {
  return os.availableParallelism();
}

/** Checks options[name]: undefined, a positive integer, or `word` where one is allowed ('auto'). */
function positiveInteger(name: string, value: unknown, word?: string): void {
  if (value === undefined || (word !== undefined && value === word)) return;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1) {
    throw invalidOption(`options.${name} must be a positive integer${word ? ` or '${word}'` : ''} (got ${shown(value)})`);
  }
}

/**
 * The most worker threads a pool takes: each is a V8 isolate of its own
 * (~10 MB before any work), and --concurrency 100000 ended in V8's fatal
 * out-of-memory (exit 133) with the staging directory left behind.
 */
export const MAX_CONCURRENCY = 1024;

/** Why a concurrency past MAX_CONCURRENCY is refused, for `name` (the option or the flag). */
export const tooManyThreads = (name: string, n: number) => `${name} must be at most ${MAX_CONCURRENCY} (got ${n}): each worker thread is a V8 isolate of its own`;

export function validatePoolOptions(options: PoolOptions): Required<PoolOptions> {
  if (options === null || typeof options !== 'object') {
    throw invalidOption('options must be an object');
  }
  positiveInteger('concurrency', options.concurrency);
  if (options.concurrency !== undefined && options.concurrency > MAX_CONCURRENCY) throw invalidOption(tooManyThreads('options.concurrency', options.concurrency));
  return { concurrency: options.concurrency ?? defaultConcurrency() };
}

export interface ResolvedProvisionOptions {
  strategy: Strategy;
  /** The ID map as the native step takes it; undefined when none. */
  idMap?: PackedIdMap;
  /** owners, devices, strict, and the native policy they make with the ID map (src/core/rootless.ts). */
  rootless: ResolvedRootless;
  policy: NativePolicy;
  /** Entries per task; with growBatches, the size batches start at. */
  batchSize: number;
  growBatches: boolean;
  platform?: Platform;
  registry: RegistryOptions;
  maxDownloads: number;
  store?: string;
  pull: PullPolicy;
  signal?: AbortSignal;
  onProgress?: (progress: Progress) => void;
}

/** What is wrong with USER:PASSWORD credentials (options.registry.creds, --creds), split at the first ':' (a password may hold more); undefined where nothing is. */
export function credsProblem(creds: string): string | undefined {
  const colon = creds.indexOf(':');
  if (colon < 0) return 'the password must be given too, as USER:PASSWORD (layercopy does not prompt for it)';
  if (colon === 0) return 'the user name is empty: give USER:PASSWORD';
  return undefined;
}

function validateRegistry(registry: RegistryOptions | undefined): RegistryOptions {
  if (registry === undefined) return {};
  if (registry === null || typeof registry !== 'object') throw invalidOption('options.registry must be an object { creds?, authfile?, certDir?, tlsVerify?, mirrorTimeoutMs? }');
  for (const key of ['creds', 'authfile', 'certDir'] as const) {
    if (registry[key] !== undefined && (typeof registry[key] !== 'string' || registry[key] === '')) throw invalidOption(`options.registry.${key} must be a non-empty string`);
  }
  const creds = registry.creds === undefined ? undefined : credsProblem(registry.creds);
  if (creds) throw invalidOption(`options.registry.creds: ${creds}`);
  if (registry.tlsVerify !== undefined && typeof registry.tlsVerify !== 'boolean') throw invalidOption('options.registry.tlsVerify must be a boolean');
  const t = registry.mirrorTimeoutMs;
  if (t !== undefined && (typeof t !== 'number' || !Number.isSafeInteger(t) || t <= 0)) throw invalidOption('options.registry.mirrorTimeoutMs must be a positive integer');
  return { ...registry };
}

/** Checks options (an object) and options.store (undefined or a non-empty path): the store's operations take both (src/store/api.ts). */
export function validateStoreOption<T extends { store?: string }>(options: T): T {
  if (options === null || typeof options !== 'object') throw invalidOption('options must be an object');
  if (options.store !== undefined && (typeof options.store !== 'string' || options.store === '')) throw invalidOption('options.store must be a non-empty path');
  return options;
}

export function validateProvisionOptions(options: ProvisionOptions): ResolvedProvisionOptions {
  validatePoolOptions(options);
  positiveInteger('batchSize', options.batchSize, 'auto');
  positiveInteger('maxDownloads', options.maxDownloads);
  if (options.signal !== undefined && !(options.signal instanceof AbortSignal)) {
    throw invalidOption('options.signal must be an AbortSignal');
  }
  if (options.onProgress !== undefined && typeof options.onProgress !== 'function') {
    throw invalidOption('options.onProgress must be a function');
  }
  if (options.strategy !== undefined && !STRATEGIES.includes(options.strategy)) {
    throw invalidOption(`options.strategy must be one of ${STRATEGIES.map((s) => `'${s}'`).join(', ')} (got ${shown(options.strategy)})`);
  }
  validateStoreOption(options);
  if (options.pull !== undefined && !PULL_POLICIES.includes(options.pull)) {
    throw invalidOption(`options.pull must be one of ${PULL_POLICIES.map((p) => `'${p}'`).join(', ')} (got ${shown(options.pull)})`);
  }
  let platform: Platform | undefined;
  if (options.platform !== undefined) {
    try {
      platform = parsePlatform(options.platform);
    } catch (error) {
      throw invalidOption(`options.platform ${(error as Error).message}`);
    }
  }
  const idMap = validateIdMap(options.idMap);
  const rootless = resolveRootless(options, idMap !== undefined);
  return {
    platform,
    strategy: options.strategy ?? 'merged',
    idMap,
    rootless,
    policy: nativePolicy(rootless, idMap),
    batchSize: typeof options.batchSize === 'number' ? options.batchSize : DEFAULT_BATCH_SIZE,
    growBatches: typeof options.batchSize !== 'number',
    registry: validateRegistry(options.registry),
    maxDownloads: options.maxDownloads ?? DEFAULT_MAX_DOWNLOADS,
    store: options.store,
    pull: options.pull ?? 'missing',
    signal: options.signal,
    onProgress: options.onProgress,
  };
}

/** An image's platform, as OCI image indexes name it. */
export interface Platform {
  os: string;
  architecture: string;
  variant?: string;
}

/** "os/arch[/variant]", as --platform and options.platform take it. */
export function parsePlatform(text: string): Platform {
  const parts = typeof text === 'string' ? text.split('/') : [];
  const [os, architecture, variant] = parts;
  if (!os || !architecture || parts.length > 3 || parts.some((p) => p === '')) throw new Error(`must be os/arch[/variant] (got '${String(text)}')`);
  return variant ? { os, architecture, variant } : { os, architecture };
}
