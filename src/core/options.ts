import os from 'node:os';
import { LayercopyError } from './errors.js';
import type { NativePolicy } from './native.cjs';
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
  /** 0-based index of the layer being applied (merged plan: of the layer the last entries came from), and the number of layers. */
  layerIndex: number;
  layers: number;
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

/** One range of an ID map, as in /proc/PID/uid_map and the OCI runtime spec's linux.uidMappings. */
export interface IdMapping {
  containerID: number;
  hostID: number;
  size: number;
}

/**
 * Shifts owners from container IDs to host IDs while copying (a rootfs for a
 * user-namespaced container): every entry's owner, the root's, file
 * capabilities (written as v3 with the host ID of container root) and the
 * named entries of POSIX ACLs. A side left out is not shifted. An ID outside
 * every range of a given side fails the provision (ERR_UNMAPPED_ID).
 */
export interface IdMap {
  uid?: IdMapping[];
  gid?: IdMapping[];
}

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
   * Called after each finished batch and once at the end, on the main
   * thread. An exception it throws fails the provision (the staging directory
   * is removed) with that exception as `cause`.
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
   * How long a mirror (registries.conf) may take to answer a request before
   * it is passed over for the next source, for the rest of the pull.
   * Default 15,000 ms; the registry itself gets 300 s.
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
    throw new LayercopyError(`options.${name} must be a positive integer${word ? ` or '${word}'` : ''} (got ${String(value)})`, {
      code: 'ERR_INVALID_OPTION',
    });
  }
}

export function validatePoolOptions(options: PoolOptions): Required<PoolOptions> {
  if (options === null || typeof options !== 'object') {
    throw new LayercopyError('options must be an object', { code: 'ERR_INVALID_OPTION' });
  }
  positiveInteger('concurrency', options.concurrency);
  return { concurrency: options.concurrency ?? defaultConcurrency() };
}

export interface ResolvedProvisionOptions {
  strategy: Strategy;
  /** The ID map as the native step takes it; undefined when none. */
  idMap?: { uid?: Uint32Array; gid?: Uint32Array };
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

function validateRegistry(registry: RegistryOptions | undefined): RegistryOptions {
  if (registry === undefined) return {};
  if (registry === null || typeof registry !== 'object') throw invalidOption('options.registry must be an object { creds?, authfile?, certDir?, tlsVerify?, mirrorTimeoutMs? }');
  for (const key of ['creds', 'authfile', 'certDir'] as const) {
    if (registry[key] !== undefined && (typeof registry[key] !== 'string' || registry[key] === '')) throw invalidOption(`options.registry.${key} must be a non-empty string`);
  }
  if (registry.tlsVerify !== undefined && typeof registry.tlsVerify !== 'boolean') throw invalidOption('options.registry.tlsVerify must be a boolean');
  const t = registry.mirrorTimeoutMs;
  if (t !== undefined && (typeof t !== 'number' || !Number.isSafeInteger(t) || t <= 0)) throw invalidOption('options.registry.mirrorTimeoutMs must be a positive integer');
  return { ...registry };
}

export function validateProvisionOptions(options: ProvisionOptions): ResolvedProvisionOptions {
  validatePoolOptions(options);
  positiveInteger('batchSize', options.batchSize, 'auto');
  positiveInteger('maxDownloads', options.maxDownloads);
  if (options.signal !== undefined && !(options.signal instanceof AbortSignal)) {
    throw new LayercopyError('options.signal must be an AbortSignal', { code: 'ERR_INVALID_OPTION' });
  }
  if (options.onProgress !== undefined && typeof options.onProgress !== 'function') {
    throw new LayercopyError('options.onProgress must be a function', { code: 'ERR_INVALID_OPTION' });
  }
  if (options.strategy !== undefined && !STRATEGIES.includes(options.strategy)) {
    throw new LayercopyError(`options.strategy must be one of ${STRATEGIES.map((s) => `'${s}'`).join(', ')} (got ${String(options.strategy)})`, {
      code: 'ERR_INVALID_OPTION',
    });
  }
  if (options.store !== undefined && (typeof options.store !== 'string' || options.store === '')) throw invalidOption('options.store must be a non-empty path');
  if (options.pull !== undefined && !PULL_POLICIES.includes(options.pull)) {
    throw invalidOption(`options.pull must be one of ${PULL_POLICIES.map((p) => `'${p}'`).join(', ')} (got ${String(options.pull)})`);
  }
  let platform: Platform | undefined;
  if (options.platform !== undefined) {
    try {
      platform = parsePlatform(options.platform);
    } catch (error) {
      throw new LayercopyError(`options.platform ${(error as Error).message}`, { code: 'ERR_INVALID_OPTION' });
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

const U32 = 2 ** 32;

function invalidOption(message: string): LayercopyError {
  return new LayercopyError(message, { code: 'ERR_INVALID_OPTION' });
}

/** Validates an ID map (messages name the option) and packs each side as (container, host, count) triples. */
export function validateIdMap(idMap: IdMap | undefined): ResolvedProvisionOptions['idMap'] {
  if (idMap === undefined) return undefined;
  if (idMap === null || typeof idMap !== 'object') throw invalidOption('options.idMap must be an object { uid?, gid? }');
  const out: { uid?: Uint32Array; gid?: Uint32Array } = {};
  for (const side of ['uid', 'gid'] as const) {
    const ranges = idMap[side];
    if (ranges === undefined) continue;
    const name = `options.idMap.${side}`;
    if (!Array.isArray(ranges) || ranges.length === 0) throw invalidOption(`${name} must be a non-empty array of { containerID, hostID, size }`);
    // The kernel takes at most 340 ranges (user_namespaces(7)).
    if (ranges.length > 340) throw invalidOption(`${name} has ${ranges.length} ranges; the kernel takes at most 340`);
    const flat = new Uint32Array(ranges.length * 3);
    ranges.forEach((r, i) => {
      const at = `${name}[${i}]`;
      if (r === null || typeof r !== 'object') throw invalidOption(`${at} must be { containerID, hostID, size }`);
      for (const key of ['containerID', 'hostID', 'size'] as const) {
        const v = r[key];
        if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0 || v >= U32) throw invalidOption(`${at}.${key} must be an integer from 0 to 4294967295 (got ${String(v)})`);
      }
      if (r.size < 1) throw invalidOption(`${at}.size must be at least 1`);
      if (r.containerID + r.size > U32 || r.hostID + r.size > U32) throw invalidOption(`${at} runs past ID 4294967295`);
      for (let j = 0; j < i; j++) {
        const q = ranges[j];
        if (r.containerID < q.containerID + q.size && q.containerID < r.containerID + r.size) throw invalidOption(`${at} overlaps ${name}[${j}] in container IDs`);
        if (r.hostID < q.hostID + q.size && q.hostID < r.hostID + r.size) throw invalidOption(`${at} overlaps ${name}[${j}] in host IDs`);
      }
      flat.set([r.containerID, r.hostID, r.size], i * 3);
    });
    out[side] = flat;
  }
  return out;
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
