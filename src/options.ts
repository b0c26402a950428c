import os from 'node:os';
import { LayercopyError } from './errors.js';

export interface Progress {
  /** 0-based index of the layer being applied, and the number of layers. */
  layerIndex: number;
  layers: number;
  layer: string;
  /** Totals for the whole provision so far. */
  entries: number;
  bytes: number;
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

export interface ProvisionOptions extends PoolOptions {
  /** How layers are applied. Default 'merged'. */
  strategy?: Strategy;
  /**
   * Entries per task sent to a worker. Default 256: smaller batches cost a
   * thread round trip (~20-50 µs) per few files, larger ones leave workers
   * idle at a layer's barrier (docs/benchmarks.md).
   */
  batchSize?: number;
  /** Aborting stops the copy, removes the staging directory and rejects with an AbortError. */
  signal?: AbortSignal;
  /** Called after each finished batch, from the main thread. */
  onProgress?: (progress: Progress) => void;
}

export const DEFAULT_BATCH_SIZE = 256;

export function defaultConcurrency(): number {
  return os.availableParallelism();
}

function positiveInteger(name: string, value: unknown): void {
  if (value === undefined) return;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1) {
    throw new LayercopyError(`options.${name} must be a positive integer (got ${String(value)})`, {
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
  batchSize: number;
  signal?: AbortSignal;
  onProgress?: (progress: Progress) => void;
}

export function validateProvisionOptions(options: ProvisionOptions): ResolvedProvisionOptions {
  validatePoolOptions(options);
  positiveInteger('batchSize', options.batchSize);
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
  return { strategy: options.strategy ?? 'merged', batchSize: options.batchSize ?? DEFAULT_BATCH_SIZE, signal: options.signal, onProgress: options.onProgress };
}
