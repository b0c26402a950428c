import { type DestroyResult, destroy } from './rootfs/destroy.js';

export { native } from './core/native.cjs';

import { Pool } from './copy/pool.js';
import { LayercopyError } from './core/errors.js';
import { type PoolOptions, type ProvisionOptions, validatePoolOptions } from './core/options.js';
import { type ProvisionSummary, provisionWith } from './provision.js';

/**
 * Owns one worker pool shared by any number of concurrent provisions (each
 * keeps its own layer barriers). Call close() when done.
 */
export class CopyBackend {
  #pool: Pool;
  #closed = false;
  #active = new Set<Promise<unknown>>();

  constructor(options: PoolOptions = {}) {
    const { concurrency } = validatePoolOptions(options);
    this.#pool = new Pool(concurrency);
  }

  get concurrency(): number {
    return this.#pool.concurrency;
  }

  provision(layers: readonly string[], rootfs: string, options: Omit<ProvisionOptions, 'concurrency'> = {}): Promise<ProvisionSummary> {
    if (this.#closed) {
      return Promise.reject(new LayercopyError('CopyBackend is closed', { code: 'ERR_INVALID_STATE' }));
    }
    const run = provisionWith(this.#pool, layers, rootfs, options);
    const tracked = run.catch(() => {});
    this.#active.add(tracked);
    void tracked.finally(() => this.#active.delete(tracked));
    return run;
  }

  destroy(rootfs: string): Promise<DestroyResult> {
    return destroy(rootfs);
  }

  /** Waits for running provisions, then stops the worker threads. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await Promise.all(this.#active);
    await this.#pool.close();
  }
}

/** Provisions ROOTFS from LAYERS (lowest first) with a pool of its own. */
export async function provision(layers: readonly string[], rootfs: string, options: ProvisionOptions = {}): Promise<ProvisionSummary> {
  // options itself checked before its concurrency is read (null was a TypeError).
  const backend = new CopyBackend({ concurrency: validatePoolOptions(options).concurrency });
  try {
    return await backend.provision(layers, rootfs, options);
  } finally {
    await backend.close();
  }
}
