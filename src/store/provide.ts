import type { Pool } from '../copy/pool.js';
import type { NativeChanges } from '../core/native.cjs';
import type { ResolvedProvisionOptions } from '../core/options.js';
import type { Stopwatch } from '../core/stopwatch.js';
import { type ImageSummary, servedBy } from '../images/oci.js';
import type { LayerArgument } from '../images/reference.js';
import { carriedChanges } from './changes.js';
import { openStore } from './layout.js';
import { openSession, pullImage, type StoreSession } from './pull.js';
import { lockReaders, readsWithoutChmod } from './readers.js';

/**
 * A provision's store: opened (made where new), ROOTFS checked to lie
 * outside it (a rootfs inside would be written into the store's tree), and
 * the hook that turns each image reference into its stored layers.
 */
export function storeSession(
  dir: string,
  opts: ResolvedProvisionOptions,
  run: { rootfs: string; pool: Pool; signal?: AbortSignal; clock: Stopwatch },
): {
  session: StoreSession;
  image: (given: string, argIndex: number, arg: Exclude<LayerArgument, { kind: 'path' }>) => Promise<ImageLayers>;
  hold: () => Promise<() => Promise<void>>;
} {
  const store = openStore(dir);
  const session: StoreSession = openSession(store, opts, run.pool, run.signal);
  const readLocks: string[] = [];
  return {
    session,
    // Once every image is resolved: the read locks of the entries this process must chmod to copy (src/store/readers.ts).
    hold: async () => {
      if (readsWithoutChmod() || readLocks.length === 0) return async () => {};
      const locks = await lockReaders(readLocks, { signal: opts.signal, onWait: (ms) => (session.counts.waitedMs += ms) });
      return async () => {
        for (const lock of locks) lock.release();
      };
    },
    image: async (given, argIndex, arg) => {
      // What came before is resolving; an image's layers extracted into the store are the extract phase.
      run.clock.lap('resolve');
      const extracted = session.counts.layersExtracted;
      const pulled = await pullImage(session, given, argIndex, arg);
      if (session.counts.layersExtracted > extracted) run.clock.lap('extract');
      for (const l of pulled.layers) if (l.readLock) readLocks.push(l.readLock);
      return {
        // Directory layers, never movable: a rootfs gets copies (or reflinks), so a container writing in place cannot change the store.
        layers: pulled.layers.map((l) => ({ path: l.dir, label: l.label, source: l.source, implied: l.implied, changes: carriedChanges(l.changes) })),
        image: { digest: pulled.digest, platform: pulled.platform, ...servedBy(pulled.from) },
        close: async () => pulled.release(),
      };
    },
  };
}

type ImageLayers = {
  layers: { path: string; label: string; source: { arg: string; argIndex: number; digest?: string; diffId?: string }; implied: ReadonlySet<string>; changes?: NativeChanges }[];
  image: Omit<ImageSummary, 'reference'>;
  close(): Promise<void>;
};
