import { closeSync, rmSync } from 'node:fs';
import fs from 'node:fs/promises';
import { type CancelFlag, native } from '../core/native.cjs';
import { followProgress } from '../images/follow.js';
import type { TarLayer } from '../images/layer.js';
import { downloadOrder } from './download-order.js';
import type { PulledLayer } from './pull.js';

/**
 * A provision's downloads (docker:// layers), at most `max` at once (as
 * containers/image's 6 by default), small layers first and then the
 * largest, as the extractions are handed out. Each blob goes to a spool file of the scratch directory,
 * named through the directory's fd, which its extraction follows as it
 * grows (src/images/follow.ts): a layer is extracted while it downloads.
 * The spool file is removed as soon as its layer is extracted. `done`
 * rejects with the first failure; the caller aborts the others.
 */
export function startDownloads(layers: readonly { tar?: TarLayer; download?: PulledLayer['download'] }[], scratchFd: number, max: number) {
  let bytes = 0;
  // Loaded on first need: a static import cost every provision, directory layers too, ~6 ms of CPU at start-up (docs/benchmarks.md,
  // "Figures behind the code: Startup"); a pull asked for it already, as it resolved the image (src/registry/pull.ts).
  const queue = import('p-queue').then(({ default: PQueue }) => new PQueue({ concurrency: max }));
  const order = downloadOrder(layers);
  for (const i of order) {
    const tar = layers[i].tar!;
    // The scratch directory is 0700 and this process's: the name is reached through its fd, never re-resolved by path.
    tar.file = `/proc/self/fd/${scratchFd}/${i}.blob`;
    tar.follow = followProgress();
  }
  const handles = new Map<number, fs.FileHandle>();
  // Every spool file exists before any extraction starts: a follower may
  // open it before its download's turn comes. Each is held open only while
  // its download runs (at most `max` at once): held from the start, an
  // image of 1,100 layers ran out of fds (EMFILE) under a limit of 1,024.
  const ready = Promise.all(order.map(async (i) => (await fs.open(layers[i].tar!.file, 'wx', 0o600)).close()));
  const jobs = order.map(async (i) =>
    (await queue).add(async () => {
      await ready;
      const out = await fs.open(layers[i].tar!.file, fs.constants.O_WRONLY | fs.constants.O_NOFOLLOW);
      handles.set(i, out);
      try {
        await layers[i].download!(out, layers[i].tar!.follow!, (n) => {
          bytes += n;
        });
      } finally {
        await out.close();
        handles.delete(i);
      }
    }),
  );
  const done = Promise.all(jobs).then(() => undefined);
  return {
    // With the queue loaded: the downloads start before the extraction, whose pool's start holds this thread.
    ready: Promise.all([ready, queue]).then(() => undefined),
    done,
    downloaded: () => bytes,
    /** Closes what a failed start left open. */
    close: async () => {
      // Downloads already started fail with the spool files closed under them: no one else waits on `done` now.
      done.catch(() => undefined);
      (await queue).clear();
      await Promise.all([...handles.values()].map((h) => h.close().catch(() => undefined)));
    },
    /** Removes a layer's spool file once it is extracted (a later failure finds nothing to remove). */
    discard: (i: number) => {
      if (!layers[i].download) return;
      // Not by the file's /proc/self/fd/N path: removed after the scratch directory's fd closed, N could be another
      // provision's scratch directory, with a spool file of the same name. Through a directory fd of its own, on a thread
      // of libuv's: freeing the largest layer's spool file (95 MB) held this thread ~20 ms between its extraction and the walk.
      const dir = native.openDir(scratchFd, '.');
      if (!('fd' in dir)) {
        rmSync(layers[i].tar!.file, { force: true });
        return;
      }
      // A removal that failed, at once or on its thread, leaves the file to the scratch directory's.
      (async () => {
        try {
          await native.removeEntriesLater(dir.fd, [`${i}.blob`], true);
        } finally {
          closeSync(dir.fd);
        }
      })().catch(() => undefined);
    },
  };
}

/**
 * The extraction, and the downloads it follows: whichever fails first stops
 * the other (a download's failure the extractions waiting on its bytes,
 * through the cancel flag; an extraction's the downloads), and a
 * download's own failure is the one reported, not the abort it caused.
 */
export async function alongside<T>(downloads: Promise<void>, extraction: Promise<T>, stop: { cancel: CancelFlag; abortPull(): void }): Promise<T> {
  // The first to fail is the cause; what it stops fails after it, and is not reported.
  let first: 'pull' | 'extract' | undefined;
  downloads.catch(() => {
    first ??= 'pull';
    Atomics.store(stop.cancel, 0, 1);
  });
  try {
    const value = await extraction;
    // Its last byte was read and verified: the download is done, or a failure after it is reported.
    await downloads;
    return value;
  } catch (error) {
    first ??= 'extract';
    stop.abortPull();
    const pulled = await downloads.then(
      () => undefined,
      (e: unknown) => ({ e }),
    );
    // An extraction that stopped as an abort (AbortError) while a download failed was stopped by that failure, whichever
    // was seen first: the download tells the spool's follower it failed before its job has closed the spool file
    // (a thread-pool round trip), so the follower's abort can come out before the download's own error.
    throw pulled && (first === 'pull' || (error as Error)?.name === 'AbortError') ? pulled.e : error;
  }
}
