import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { cliCommand } from '../core/compiled.js';
import { LayercopyError } from '../core/errors.js';
import { native } from '../core/native.cjs';
import { type BatchSize, defaultConcurrency, type Platform, parsePlatform, STRATEGIES, type Strategy } from '../core/options.js';
import type { TarLayer } from '../images/layer.js';
import { resolveInputs } from '../inputs.js';
import { destroy } from '../rootfs/destroy.js';
import { batchSizeArg, concurrencyList, isUsageCode, parseIdMap, positiveInt, REGISTRY_FLAGS, registryArgs, rootlessArgs, UsageError, type CliValues as Values } from './args.js';
import { killAllGroups } from './bench-group.js';
import { buildMesosCopy, buildVerifiedFloor, runChild, timeProcess } from './bench-process.js';
import { type BenchConfig, type BenchReport, type BenchRow, describe, formatTable, progressLine } from './bench-report.js';
import { type Samples, toRows } from './bench-rows.js';
import { escapeForTerminal } from './output.js';
import { interruptHandler, SIGNALS } from './signals.js';

export { type BenchConfig, type BenchReport, type BenchRow, describe, formatTable };

import { baselineEnv, type ImageMethod, imageBaselineArgv, onPath, umociImage, umociLeftOut } from './bench-images.js';
import { copyLayout, downloadFloorArgv, type PullBench, type PullMethod, pullBaselineArgv, pullBench } from './bench-pull.js';
import { filesystemOf, makeScratch, removeStaleScratch } from './bench-scratch.js';

export interface BenchOptions {
  layers: string[];
  runs: number;
  concurrency: number[];
  batchSize: BatchSize[];
  /** layercopy strategies to time (default: both). */
  strategies?: Strategy[];
  /** --uid-map/--gid-map flags: each layercopy configuration is also timed ID-mapped. */
  idMapArgs?: string[];
  /** --owners, --devices, --strict as given: every layercopy run gets them. */
  policyArgs?: string[];
  /** Where the temporary rootfs directories go (default: the OS temp dir). */
  scratch?: string;
  /** LAYERs that are tarballs or images: the arguments as given, their layers, and umoci's --image where it applies. */
  images?: { args: string[]; tars: TarLayer[]; umoci?: string };
  /** A docker:// image: its reference, the registry flags, and whether umoci is at hand (bench-pull.ts). */
  pull?: PullBench;
  log?: (line: string) => void;
  /** Where the removal of a stale scratch directory (one whose bench no longer runs) is told. */
  note?: (line: string) => void;
  /** Baselines left out before any run, and why (the report's leftOut). */
  leftOut?: string[];
  /**
   * Aborting it ends the program being timed and every process it started,
   * removes the scratch directory, and makes bench throw signal.reason.
   */
  signal?: AbortSignal;
}

/**
 * Provisions the layers with layercopy (each concurrency × batch size), with
 * cp -aT per layer (the Mesos copy backend's method) and one cp -a of the final tree, alternating the order run by
 * run, and reports medians, ratios, throughput and peak RSS.
 */
export async function bench(options: BenchOptions): Promise<BenchReport> {
  const log = options.log ?? (() => {});
  const signal = options.signal;
  const scratchParent = options.scratch ?? os.tmpdir();
  const staleRemoved = await removeStaleScratch(scratchParent, options.note ?? (() => {}));
  signal?.throwIfAborted();
  const scratch = makeScratch(scratchParent);
  const { images, pull } = options;
  const configs: BenchConfig[] = pull
    ? [{ method: 'skopeo-then-layercopy' }, ...(pull.floorTools ? [{ method: 'download-floor' as const }] : []), ...(pull.umoci ? [{ method: 'skopeo-then-umoci' as const }] : [])]
    : images
      ? [
          { method: 'extract-then-copy' },
          { method: 'floor' },
          { method: 'verified-floor' },
          ...(native.isalOpen() ? [{ method: 'verified-floor-isal' as const }] : []),
          ...(images.umoci ? [{ method: 'umoci' as const }] : []),
        ]
      : [{ method: 'seed' }, { method: 'cp -a' }];
  for (const strategy of options.strategies ?? STRATEGIES) {
    for (const concurrency of options.concurrency) {
      for (const batchSize of options.batchSize) {
        // A pull is also timed on the image's local copy (same flags): what the pull adds.
        for (const local of pull ? [false, true] : [false]) {
          const where = { ...(local ? { local } : {}), ...(options.policyArgs?.length ? { policyArgs: options.policyArgs } : {}) };
          configs.push({ method: 'layercopy', strategy, concurrency, batchSize, ...where });
          if (options.idMapArgs?.length) configs.push({ method: 'layercopy', strategy, concurrency, batchSize, idMapArgs: options.idMapArgs, ...where });
        }
      }
    }
  }
  const samples: Samples[] = configs.map(() => ({ ms: [], proc: [], rss: 0 }));
  // A baseline that cannot read the image (umoci and zstd layers) is left out, with a note.
  const dropped = new Set<number>();
  const leftOut = [...(options.leftOut ?? [])];
  let entries = 0;
  let bytes = 0;
  try {
    const mesosCopy = images || pull ? undefined : await buildMesosCopy(scratch, signal);
    const floorProgram = images ? await buildVerifiedFloor(scratch, signal) : undefined;
    // The image copied once (untimed) for layercopy's rows on local files.
    const layout = pull ? await copyLayout(pull, scratch, signal) : undefined;
    // cp -a copies the final tree once: the layer itself, or the image merged
    // beforehand (untimed) — the floor a copier of the result could reach.
    let finalTree = options.layers[0];
    if (!images && !pull && options.layers.length > 1) {
      finalTree = path.join(scratch, 'final');
      await runChild({ method: 'layercopy', layers: options.layers, rootfs: finalTree }, undefined, signal);
    }
    for (let run = 0; run < options.runs; run++) {
      for (let k = 0; k < configs.length; k++) {
        const i = (k + run) % configs.length;
        const config = configs[i];
        if (dropped.has(i)) continue;
        signal?.throwIfAborted();
        const rootfs = path.join(scratch, 'rootfs');
        let ms: number;
        let proc: number;
        if (config.method === 'cp -a') {
          const r = await timeProcess(['cp', '-a', finalTree, rootfs], `${rootfs}.rss`, signal);
          ms = proc = r.processMs;
          samples[i].rss = Math.max(samples[i].rss, r.maxRssKb);
        } else if ((images || pull) && config.method !== 'layercopy') {
          const argv = !pull
            ? imageBaselineArgv(config.method as ImageMethod, images!.tars, rootfs, images!.umoci, floorProgram)
            : config.method === 'download-floor'
              ? await downloadFloorArgv(pull, `${rootfs}.floor`, signal)
              : pullBaselineArgv(config.method as Exclude<PullMethod, 'download-floor'>, pull, rootfs);
          const r = await timeProcess(argv, `${rootfs}.rss`, signal, baselineEnv(config.method, cliCommand().env)).catch((error) => {
            if (!['umoci', 'skopeo-then-umoci', 'download-floor'].includes(config.method) || signal?.aborted) throw error;
            const why = String((error as { stderr?: string }).stderr ?? (error as Error).message)
              .trim()
              .split('\n')
              .pop();
            leftOut.push(`${config.method === 'download-floor' ? 'the download floor failed' : 'umoci unpack failed on this image'}: ${why}`);
            log(`${leftOut.at(-1)}, left out`);
            dropped.add(i);
            return undefined;
          });
          for (const beside of ['x', 'oci', 'floor']) if (fs.existsSync(`${rootfs}.${beside}`)) await removeOrThrow(`${rootfs}.${beside}`);
          if (!r) {
            await removeOrThrow(rootfs);
            continue;
          }
          ms = proc = r.processMs;
          samples[i].rss = Math.max(samples[i].rss, r.maxRssKb);
        } else {
          const r = await runChild(
            {
              method: config.method as 'layercopy' | 'seed',
              layers: config.local ? [layout!] : pull ? [pull.arg] : images ? images.args : options.layers,
              rootfs,
              concurrency: config.concurrency,
              batchSize: config.batchSize,
              strategy: config.strategy,
              idMapArgs: config.idMapArgs,
              policyArgs: config.policyArgs,
              registryArgs: pull && !config.local ? pull.layercopyArgs : undefined,
            },
            mesosCopy,
            signal,
          );
          ms = r.ms;
          proc = r.processMs;
          samples[i].rss = Math.max(samples[i].rss, r.maxRssKb);
          // The final tree's figures: what the merged plan writes (the layered method writes more).
          // (With --strategy layered alone, its figures: better than none.)
          if (r.entries !== undefined && (config.strategy !== 'layered' || entries === 0)) {
            entries = r.entries;
            bytes = r.bytes ?? 0;
          }
        }
        samples[i].ms.push(ms);
        samples[i].proc.push(proc);
        await removeOrThrow(rootfs);
        log(progressLine(run, options.runs, config, ms, proc));
      }
    }
  } finally {
    // Every child has ended here (runInGroup waits for its whole group): nothing writes into the scratch any more.
    await removeOrThrow(scratch);
  }
  for (const i of [...dropped].sort((a, b) => b - a)) {
    configs.splice(i, 1);
    samples.splice(i, 1);
  }
  const rows = toRows(configs, samples, entries, bytes);
  const best = rows.filter((r) => r.method === 'layercopy' && !r.local).sort((a, b) => a.processMedianMs - b.processMedianMs)[0];
  return { layers: options.layers, scratch: scratchParent, filesystem: filesystemOf(scratchParent), entries, bytes, rows, best, staleRemoved, leftOut };
}

/** `layercopy bench [--runs N] [--concurrency LIST] [--batch-size LIST] [--json] LAYER...` */
export async function runBench(args: string[], values: Values): Promise<number> {
  if (args.length < 1) throw new UsageError('bench needs at least one LAYER');
  if (values.store !== undefined) {
    const { storeBench, formatStoreBench } = await import('./bench-store.js');
    const start = storeBench(args, values, filesystemOf);
    return await interruptible(start, (r) => (values.json ? JSON.stringify(r) : formatStoreBench(r)));
  }
  const runs = positiveInt('--runs', values.runs, 5)!;
  const cpus = defaultConcurrency();
  const concurrency = concurrencyList(
    values.concurrency,
    [...new Set([1, 2, cpus, 4])].sort((a, b) => a - b),
  );
  const batchSize =
    values['batch-size'] === undefined ? (['auto', 64, 1024] as BatchSize[]) : [...new Set(values['batch-size'].split(',').map((v) => batchSizeArg('--batch-size', v.trim())!))];
  const docker = args.some((a) => a.startsWith('docker://'));
  if (docker && args.length > 1) throw new UsageError('bench pulls one docker:// image, alone');
  if (!docker) for (const flag of REGISTRY_FLAGS) if (values[flag] !== undefined) throw new UsageError(`--${flag} applies to a docker:// bench only`);
  positiveInt('--max-downloads', values['max-downloads']);
  let platform: Platform | undefined;
  try {
    platform = values.platform === undefined ? undefined : parsePlatform(values.platform);
  } catch (error) {
    throw new UsageError(`--platform ${(error as Error).message}`);
  }
  if (docker && !onPath('skopeo'))
    throw new LayercopyError('bench docker://: its baselines copy the image with skopeo, which is not on PATH (apt-get install skopeo)', { code: 'ENOENT' });
  let inputs: Awaited<ReturnType<typeof resolveInputs>>;
  try {
    // A docker:// image: its manifest and config fetched and checked, nothing downloaded.
    inputs = await resolveInputs(args, path.join(os.tmpdir(), `layercopy-bench-probe-${process.pid}`), { platform, pull: registryArgs(values) });
  } catch (error) {
    // A registry's or an image's fault (ERR_REGISTRY, ERR_AUTH, ERR_IMAGE_NOT_FOUND, …) exits 1, as provision's does.
    if (error instanceof LayercopyError && !isUsageCode(error.code)) throw error;
    throw new UsageError((error as Error).message);
  }
  await inputs.close();
  const tars = inputs.layers.flatMap((layer) => (layer.tar ? [layer.tar] : []));
  if (tars.length > 0 && tars.length !== inputs.layers.length) throw new UsageError('bench takes directories, or tarballs and images, not both');
  const pull = docker ? pullBench(args[0], values, platform, { umoci: onPath('umoci'), floor: onPath('curl') && onPath('openssl') }) : undefined;
  const images = tars.length > 0 && !docker ? { args, tars, umoci: umociImage(args, onPath('umoci')) } : undefined;
  // A pulled layer has no path yet: its label (the reference and the blob's digest) stands for it.
  const layers = inputs.layers.map((layer) => (docker ? layer.label : layer.path));
  if (values.scratch !== undefined && !fs.statSync(values.scratch, { throwIfNoEntry: false })?.isDirectory()) {
    throw new UsageError(`--scratch ${values.scratch}: not a directory`);
  }
  const log = values.quiet || values.json ? undefined : (line: string) => process.stderr.write(`${line}\n`);
  const strategies = [...new Set(values.strategy?.split(',').map((v) => v.trim()) ?? STRATEGIES)] as Strategy[];
  for (const st of strategies) if (!STRATEGIES.includes(st)) throw new UsageError(`--strategy must list ${STRATEGIES.join(', ')} (got '${st}')`);
  parseIdMap(values); // validated here, passed on as the flags the user typed
  const { owners, devices, strict } = rootlessArgs(values);
  const policyArgs = [...(owners ? ['--owners', owners] : []), ...(devices ? ['--devices', devices] : []), ...(strict ? ['--strict'] : [])];
  const idMapArgs = [...(values['uid-map'] ?? []).flatMap((v) => ['--uid-map', v]), ...(values['gid-map'] ?? []).flatMap((v) => ['--gid-map', v])];
  const note = values.quiet ? undefined : (line: string) => process.stderr.write(`layercopy: ${escapeForTerminal(line)}\n`);
  return await interruptible(
    (signal) =>
      bench({
        layers,
        runs,
        concurrency,
        batchSize,
        strategies,
        idMapArgs,
        policyArgs,
        scratch: values.scratch,
        log,
        note,
        images,
        pull,
        signal,
        leftOut: umociLeftOut(images, pull),
      }),
    (r) => (values.json ? JSON.stringify(r) : formatTable(r)),
  );
}

/** Runs a bench, and prints its report; a signal ends it (docs/cli.md, "bench"): its status. */
async function interruptible<T>(job: (signal: AbortSignal) => Promise<T>, format: (report: T) => string): Promise<number> {
  // The first signal ends the running program's whole process group and
  // removes the scratch; a later one exits at once, its programs killed,
  // and leaves the scratch for the next bench (it is named after this pid).
  const controller = new AbortController();
  const interrupt = interruptHandler(controller, { shutdown: killAllGroups, left: 'the next bench on the same --scratch (default $TMPDIR) removes what is left' });
  for (const signal of SIGNALS) process.on(signal, interrupt.onSignal);
  let report: T | undefined;
  let cleanup: unknown;
  try {
    report = await job(controller.signal);
  } catch (error) {
    if (interrupt.status() === undefined) throw error;
    // Not the abort itself: what went wrong while cleaning up after it.
    if (error !== controller.signal.reason) cleanup = error;
  }
  const status = interrupt.status();
  if (status !== undefined) {
    const how = cleanup === undefined ? 'no program of it runs any more, and its scratch directory is removed' : escapeForTerminal((cleanup as Error).message);
    process.stderr.write(`layercopy: bench interrupted: ${how}\n`);
    return status;
  }
  process.stdout.write(`${format(report as T)}\n`);
  return 0;
}

async function removeOrThrow(target: string): Promise<void> {
  const r = await destroy(target);
  if (!r.ok) throw r.error;
}
