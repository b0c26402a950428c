import fs from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { type Pool, TASKS_PER_WORKER } from '../copy/pool.js';
import { distFile } from '../core/compiled.js';
import { unpack } from '../core/entries.js';
import { abortError, type LayercopyCode, LayercopyError, type LayerSource } from '../core/errors.js';
import { type CancelFlag, type NativePolicy, native } from '../core/native.cjs';
import type { Progress } from '../core/options.js';
import type { Changes } from '../core/rootless.js';
import { nowMs } from '../core/stopwatch.js';
import type { ExtractResult, ExtractTask } from './extract-task.cjs';
import type { ExtractedLayer, TarLayer } from './layer.js';

const TASK = distFile('src/images/extract-task.cjs').href;

/**
 * Extracts tarball layers as tasks of the provision's pool, the big ones
 * first and spread by bytes over the workers (balance: a big layer started
 * last would run alone at the end), each into the directory fd given with
 * it. The pool runs two tasks per worker at once: an extraction keeps its
 * worker and one libuv thread about half busy each (gzip inflates on
 * libuv's, hashing and the native tar reader run on the worker; figures in
 * docs/benchmarks.md). Progress: an 'extract' event per layer whose bytes
 * read moved. Resolves when all are written and verified, with each tar
 * layer's directories no header described (indexed by layer; undefined for
 * the others); rejects with the first failure, the others stopped through
 * the cancel flag.
 */
export async function extractOnPool(
  pool: Pool,
  jobs: { tar: TarLayer; root: number; layerIndex: number; source?: LayerSource; direct?: boolean }[],
  run: {
    cancel: CancelFlag;
    signal?: AbortSignal;
    layers: number;
    onProgress?: (p: Progress) => void;
    shareClaims?: boolean;
    /** Called as each layer is extracted and verified, with its implied directories. */
    onDone?: (layerIndex: number, implied: ReadonlySet<string>) => void;
    /** Bytes downloaded so far (docker:// layers), for progress. */
    downloaded?: () => number;
    /**
     * A direct extraction that must stop (ERESTARTLAYER: a directory of the
     * layer replaced by another kind, a hardlink to a marker) is read again
     * into the directory this gives, after emptying the one it wrote into.
     */
    fallback?: (layerIndex: number, label: string) => number;
    /**
     * One layer whose extraction is all the provision does: on this thread while the pool is idle (Pool.runHere), a
     * download's too (this thread receives it beside: a one-layer pull 0.968x the wall time, 0.902x the CPU).
     */
    here?: boolean;
    /** The metadata policy entries are written by, and where what it changes is counted. */
    policy?: NativePolicy;
    changes?: Changes;
  },
): Promise<{ implied: (ReadonlySet<string> | undefined)[]; ms: (number | undefined)[]; extracted: (ExtractedLayer | undefined)[]; direct: Set<number> }> {
  const { cancel, signal } = run;
  const implied: (ReadonlySet<string> | undefined)[] = Array.from({ length: run.layers });
  const ms: (number | undefined)[] = Array.from({ length: run.layers });
  const extracted: (ExtractedLayer | undefined)[] = Array.from({ length: run.layers });
  // The layers extracted straight where they were asked to be (not fallen back).
  const direct = new Set<number>();
  // What each layer holds, shared as they are read: a lower layer's file a
  // higher one already hides gets no data (native/claims.h). Only a saving:
  // past 64 provisions at once in one process there is no set, and every
  // file is written. With one tar layer nothing reads it; the lowest tar
  // layer only asks it (its names would hide nothing that reads the set:
  // a table of a 3M-name layer's names held ~100 bytes each).
  let claims: number | undefined;
  try {
    if (run.shareClaims !== false && jobs.length > 1) claims = native.claimsOpen();
  } catch {
    claims = undefined;
  }
  const lowest = Math.min(...jobs.map((job) => job.layerIndex));
  const sizes = jobs.map((job) => layerSize(job.tar));
  const all = sizes.reduce((a, b) => a + b, 0);
  const queue = balance(
    jobs.map((job, slot) => ({ ...job, slot })),
    (job) => sizes[job.slot],
    pool.concurrency,
  );
  // A layer the native helper pumps (src/images/pumped.ts) leaves the thread
  // that extracts it idle, waiting: such layers are extracted from this
  // thread, no worker booted for them (0.97x the wall time of the pool on
  // the python3/perl image), at most as many at once as the pool would run.
  const pumped = jobs.length > 1 && process.env.LAYERCOPY_PUMP_HERE !== '0' ? await pumpedJobs(jobs) : jobs.map(() => false);
  const here = pumped.some(Boolean) ? new (await import('p-queue')).default({ concurrency: pool.concurrency * TASKS_PER_WORKER }) : undefined;
  // Each task stores the bytes of its tarball read so far in its slot; this
  // thread turns them into progress events at most every 100 ms.
  const read = new BigInt64Array(new SharedArrayBuffer(8 * jobs.length));
  const shown = jobs.map(() => -1);
  const report = () => {
    const now = Array.from(read, Number);
    const total = now.reduce((a, b) => a + b, 0);
    now.forEach((bytes, slot) => {
      if (bytes === shown[slot]) return;
      shown[slot] = bytes;
      const { layerIndex, tar } = jobs[slot];
      const downloaded = run.downloaded?.();
      run.onProgress?.({ phase: 'extract', layerIndex, layers: run.layers, layer: tar.label, entries: 0, bytes: total, read: bytes, size: sizes[slot], total: all, downloaded });
    });
  };
  const timer = run.onProgress ? setInterval(report, 100) : undefined;
  let tasks: Promise<void>[] = [];
  // A first event for each layer (0 bytes read): the phase shows from the start.
  if (timer) report();
  try {
    const extractions = queue.map(async ({ tar, root, slot, layerIndex, source, direct: straight }) => {
      const started = nowMs();
      const task = (into: number, isDirect: boolean | undefined) => {
        const t: ExtractTask = {
          tar,
          root: into,
          cancel,
          read,
          slot,
          claims: claims === undefined ? undefined : { id: claims, layer: layerIndex, record: layerIndex !== lowest },
          policy: run.policy,
          direct: isDirect,
          source,
        };
        const onPool = () => pool.runModule<ExtractTask, ExtractResult>(TASK, t);
        if (pumped[slot] && here) return here.add(() => extractHere(t));
        return run.here && jobs.length === 1 ? pool.runHere(() => extractHere(t), onPool) : onPool();
      };
      let reply = await task(root, straight);
      if (straight && run.fallback && 'error' in reply && reply.error.restart) {
        // A restart told after another layer failed (or an abort): the
        // caller removes the staging and scratch directories once every
        // extraction stopped, so no directory is emptied or made and no
        // task started for it.
        if (Atomics.load(cancel, 0) !== 0) throw abortError(signal?.reason);
        reply = await task(run.fallback(layerIndex, tar.label), false);
      } else if (straight && !('error' in reply)) {
        direct.add(layerIndex);
      }
      if ('error' in reply) {
        const e = reply.error;
        if (e.code === 'ABORT_ERR') throw abortError(signal?.reason);
        const cause = e.cause && Object.assign(new Error(e.cause.message), { code: e.cause.code });
        // The fields name the argument the layer came from (docs/errors.md), the message the layer itself.
        const fields = source ? { layer: source.arg, layerIndex: source.argIndex, digest: source.digest, diffId: source.diffId } : { layer: e.layer };
        // A tarball given as a file is named as a directory layer is, "layer 2 (FILE): …"; an image's layers carry their own label.
        const plainFile = source && source.digest === undefined && source.diffId === undefined && e.message.startsWith(`${tar.label}: `);
        const message = plainFile ? `layer ${source.argIndex + 1} (${tar.label})${e.message.slice(tar.label.length)}` : e.message;
        throw new LayercopyError(message, { code: (e.code as LayercopyCode) ?? 'ERR_INVALID_TAR', ...fields, path: e.path, syscall: e.syscall, errno: e.errno, cause });
      }
      const set = new Set(unpack(reply.ok.implied));
      implied[layerIndex] = set;
      extracted[layerIndex] = reply.ok;
      run.changes?.add(reply.ok.changes);
      // From the hand-over to the reply: time queued behind other extractions included.
      ms[layerIndex] = nowMs() - started;
      run.onDone?.(layerIndex, set);
    });
    tasks = extractions;
    await Promise.all(extractions);
    if (timer) report();
    return { implied, ms, extracted, direct };
  } catch (error) {
    // The first failure stops the others at their next chunk, and is told
    // once they stopped: the caller then closes and removes the
    // directories they write beneath (a reader's thread still writing
    // there would find a closed fd, or another directory under its number).
    Atomics.store(cancel, 0, 1);
    await Promise.allSettled(tasks);
    throw error;
  } finally {
    clearInterval(timer);
    if (claims !== undefined) native.claimsClose(claims);
  }
}

/** Which of the jobs the native helper pumps (its module loaded on first need). */
async function pumpedJobs(jobs: { tar: TarLayer }[]): Promise<boolean[]> {
  const { pumps, pumpsHere } = await import('./pumped.js');
  // A download's first bytes may not be there yet: its media type says
  // (a layer whose bytes turn out otherwise is read by JavaScript here).
  return jobs.map((job) => (job.tar.follow ? pumpsHere() && job.tar.diffId !== undefined && /gzip$/.test(job.tar.mediaType ?? '') : pumps(job.tar)));
}

/** An extraction on this thread, through the reader this bundle already loaded (a worker loads its own). */
async function extractHere(task: ExtractTask): Promise<ExtractResult> {
  const { extractWith } = createRequire(import.meta.url)(fileURLToPath(TASK)) as typeof import('./extract-task.cjs');
  return extractWith(task, async () => (await import('./layer.js')).extractLayer);
}

/**
 * The order to hand extractions to the pool in. The pool gives each new
 * task to the worker with the fewest (the first of equals), two at once
 * each: handed largest first, the largest and the third went to one worker
 * (212 MB of gzip against 96 MB on the overlapping image; that worker's
 * thread, which hashes and writes for both, finished 0.6 s after the
 * other). So the first two per worker are placed largest first on the
 * worker with the fewest bytes so far, and handed over in the order that
 * puts them there; the rest follow largest first, to whichever frees first.
 * Small layers (at most SMALL_LAYER bytes) go before all of them: read in
 * milliseconds, their whiteouts and names reach the claims before the
 * layers beneath write what they hide (a 534-byte clean-up layer handed
 * last finished after 1,048 ms, the layers beneath writing meanwhile).
 */
export function balance<T>(jobs: T[], size: (job: T) => number, workers: number): T[] {
  const bySize = (a: T, b: T) => size(b) - size(a);
  const handOut = smallFirst(size);
  const sorted = [...jobs].sort(handOut);
  const first = sorted.slice(0, 2 * workers);
  const bins = Array.from({ length: Math.min(workers, first.length) }, () => ({ bytes: 0, jobs: [] as T[] }));
  for (const job of [...first].sort(bySize)) {
    const bin = bins.filter((b) => b.jobs.length < 2).reduce((a, b) => (b.bytes < a.bytes ? b : a));
    bin.jobs.push(job);
    bin.bytes += size(job);
  }
  // Which of a bin's two goes first does not change where they go.
  for (const bin of bins) bin.jobs.sort(handOut);
  const order: T[] = [];
  for (let round = 0; round < 2; round++) for (const bin of bins) if (bin.jobs[round] !== undefined) order.push(bin.jobs[round]);
  return [...order, ...sorted.slice(2 * workers)];
}

/** A layer this small is extracted first (balance). */
export const SMALL_LAYER = 1 << 20;

/** Small layers first, then the largest: the order extractions (balance) and downloads (src/registry/spool.ts) are handed out in. */
export function smallFirst<T>(size: (job: T) => number): (a: T, b: T) => number {
  const small = (job: T) => Number(size(job) <= SMALL_LAYER);
  return (a, b) => small(b) - small(a) || size(b) - size(a);
}

/** A tar layer's bytes as stored (its descriptor's size, else its file's; 0 where neither is known). */
export function layerSize(tar: TarLayer): number {
  if (tar.size !== undefined) return tar.size;
  try {
    return fs.statSync(tar.file).size;
  } catch {
    return 0;
  }
}
