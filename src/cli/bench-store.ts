// `layercopy bench --store DIR IMAGE`: what the store buys and costs, as
// whole CLI processes run alternately (docs/cli.md, "bench --store"):
//   warm:  provision --store S IMAGE, S holding IMAGE  vs  provision of S's extracted layers given as directories
//   cold:  provision --store S IMAGE, S empty          vs  provision IMAGE without a store
// The stores are made in DIR (its filesystem is the one measured: reflinks
// where it has them), and removed after.
import fs from 'node:fs';
import path from 'node:path';
import { cliCommand } from '../core/compiled.js';
import { type LayercopyCode, LayercopyError } from '../core/errors.js';
import { parseLayerArgument } from '../images/reference.js';
import { destroy } from '../rootfs/destroy.js';
import { removeTree } from '../store/layout.js';
import { positiveInt, REGISTRY_FLAGS, rootlessArgs, UsageError, type CliValues as Values } from './args.js';
import { runInGroup } from './bench-group.js';
import { timeProcess } from './bench-process.js';
import { pullBench } from './bench-pull.js';
import { makeScratch, removeStaleScratch } from './bench-scratch.js';

export const STORE_METHODS = ['warm', 'directories', 'cold', 'no store'] as const;
type Method = (typeof STORE_METHODS)[number];

export interface StoreBenchRow {
  method: Method;
  /** The command timed, ROOTFS and the stores' paths as placeholders. */
  command: string;
  medianMs: number;
  runsMs: number[];
  peakRssMb: number;
}

export interface StoreBenchReport {
  image: string;
  /** Where the stores and rootfs trees were made, and its filesystem. */
  dir: string;
  filesystem: string;
  runs: number;
  rows: StoreBenchRow[];
  /** Medians: warm over the same layers as directories; cold over no store. */
  warmOverDirectories: number;
  coldOverNoStore: number;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

/** The image's extracted layers in the store, lowest first: its config's diff_ids, in the owner mode they were pulled in. */
function storedLayers(store: string): string[] {
  const blob = (digest: string) => JSON.parse(fs.readFileSync(path.join(store, 'blobs/sha256', digest.slice(7)), 'utf8'));
  const ref = JSON.parse(fs.readFileSync(path.join(store, 'refs.json'), 'utf8')).refs[0];
  const diffIds: string[] = blob(blob(ref.digest).config.digest).rootfs.diff_ids;
  const modes = fs.readdirSync(path.join(store, 'layers'));
  return diffIds.map((d) => {
    const mode = modes.find((m) => fs.existsSync(path.join(store, 'layers', m, d.slice(7))))!;
    return path.join(store, 'layers', mode, d.slice(7), 'rootfs');
  });
}

/** The untimed pull into the warm store; its failure (a registry's answer, a wrong tag) is the bench's, with its code. */
async function pullWarm(argv: string[], image: string, signal?: AbortSignal): Promise<void> {
  const r = await runInGroup(argv, { signal, reject: false, env: cliCommand().env });
  if (r.exitCode === 0) return;
  let error: { message?: string; code?: LayercopyCode } | undefined;
  try {
    error = JSON.parse(String(r.stdout)).error;
  } catch {}
  throw new LayercopyError(`bench --store: the pull of ${image} before the runs failed: ${error?.message ?? (String(r.stderr).trim() || `exit ${r.exitCode}`)}`, {
    code: error?.code ?? 'ERR_SYSTEM',
    layer: image,
  });
}

export async function benchStore(opts: {
  image: string;
  dir: string;
  filesystem: string;
  runs: number;
  /** --owners, --devices, --strict: every provision gets them. */
  policyArgs: string[];
  /** Registry flags: the provisions and the pull of the image get them. */
  registryArgs: string[];
  log?: (line: string) => void;
  signal?: AbortSignal;
}): Promise<StoreBenchReport> {
  const { image, signal } = opts;
  await removeStaleScratch(opts.dir, opts.log ?? (() => {}));
  const scratch = makeScratch(opts.dir);
  const warm = path.join(scratch, 'warm-store');
  const rootfs = path.join(scratch, 'rootfs');
  const cli = cliCommand();
  const provision = (args: string[]) => [cli.file, 'provision', '--json', ...opts.policyArgs, ...args, rootfs];
  const samples = new Map<Method, { ms: number[]; rss: number }>(STORE_METHODS.map((m) => [m, { ms: [], rss: 0 }]));
  try {
    await pullWarm([cli.file, 'pull', '--json', ...opts.policyArgs, ...opts.registryArgs, '--store', warm, image], image, signal);
    const layers = storedLayers(warm);
    const argv: Record<Method, (run: number) => string[]> = {
      warm: () => provision([...opts.registryArgs, '--store', warm, image]),
      directories: () => provision(layers),
      cold: (run) => provision([...opts.registryArgs, '--store', path.join(scratch, `cold-store-${run}`), image]),
      'no store': () => provision([...opts.registryArgs, image]),
    };
    for (let run = 0; run < opts.runs; run++) {
      for (let k = 0; k < STORE_METHODS.length; k++) {
        const method = STORE_METHODS[(k + run) % STORE_METHODS.length];
        const r = await timeProcess(argv[method](run), `${rootfs}.rss`, signal, cli.env);
        const s = samples.get(method)!;
        s.ms.push(r.processMs);
        s.rss = Math.max(s.rss, r.maxRssKb);
        const removed = await destroy(rootfs);
        if (!removed.ok) throw removed.error;
        // A cold store serves one run: removed untimed (destroy refuses a store's paths).
        if (method === 'cold') await removeTree(path.join(scratch, `cold-store-${run}`));
        opts.log?.(`run ${run + 1}/${opts.runs} ${method}: ${(r.processMs / 1000).toFixed(3)} s`);
      }
    }
  } finally {
    for (const name of fs.existsSync(scratch) ? fs.readdirSync(scratch) : []) {
      if (name.endsWith('-store') || name.startsWith('cold-store-')) await removeTree(path.join(scratch, name));
    }
    // What destroy cannot remove is left for the next bench in DIR (named after this pid, it is stale then).
    await destroy(scratch);
  }
  const shown = (args: string[]) => ['layercopy provision', ...opts.policyArgs, ...args, 'ROOTFS'].join(' ');
  // The flags the runs were given, so that the row can be run again as it was timed.
  const registry = shownRegistryArgs(opts.registryArgs);
  const command: Record<Method, string> = {
    warm: shown([...registry, '--store STORE', image]),
    directories: shown(["STORE's layers as directories"]),
    cold: shown([...registry, '--store EMPTY', image]),
    'no store': shown([...registry, image]),
  };
  const rows = STORE_METHODS.map((method) => {
    const s = samples.get(method)!;
    return { method, command: command[method], medianMs: median(s.ms), runsMs: s.ms, peakRssMb: Math.round(s.rss / 1024) };
  });
  const at = (m: Method) => rows.find((r) => r.method === m)!.medianMs;
  return {
    image,
    dir: opts.dir,
    filesystem: opts.filesystem,
    runs: opts.runs,
    rows,
    warmOverDirectories: at('warm') / at('directories'),
    coldOverNoStore: at('cold') / at('no store'),
  };
}

/** Registry flags as a report shows them: a --creds password masked (reports get pasted into issues). */
export function shownRegistryArgs(args: readonly string[]): string[] {
  return args.map((arg, i) => (args[i - 1] === '--creds' ? `${arg.split(':')[0]}:***` : arg));
}

export function formatStoreBench(r: StoreBenchReport): string {
  return [
    `layercopy bench --store: ${r.image}, ${r.runs} ${r.runs === 1 ? 'run' : 'runs'} each, alternating, on ${r.filesystem}`,
    '| method | median s | peak RSS MB | command |',
    '|---|---|---|---|',
    ...r.rows.map((row) => `| ${row.method} | ${(row.medianMs / 1000).toFixed(3)} | ${row.peakRssMb} | ${row.command} |`),
    '',
    `warm / directories ${r.warmOverDirectories.toFixed(2)}; cold / no store ${r.coldOverNoStore.toFixed(2)} (whole processes, medians)`,
  ].join('\n');
}

/**
 * `layercopy bench --store DIR [--runs N] [--owners O] [--devices D]
 * [registry flags] [--json] IMAGE`: the arguments checked; the bench to run.
 */
export function storeBench(args: string[], values: Values, filesystemOf: (dir: string) => string): (signal: AbortSignal) => Promise<StoreBenchReport> {
  if (args.length !== 1 || parseLayerArgument(args[0], 0).kind === 'path')
    throw new UsageError('bench --store takes one image reference (docker://…, oci:…, oci-archive:…, docker-archive:…)');
  for (const flag of ['concurrency', 'batch-size', 'strategy', 'uid-map', 'gid-map', 'scratch', 'pull', 'platform'] as const) {
    if (values[flag] !== undefined) throw new UsageError(`--${flag} is not a bench --store option`);
  }
  const dir = values.store!;
  if (!fs.statSync(dir, { throwIfNoEntry: false })?.isDirectory()) throw new UsageError(`--store ${dir}: not a directory (bench makes its stores in it)`);
  const docker = args[0].startsWith('docker://');
  if (!docker) for (const flag of REGISTRY_FLAGS) if (values[flag] !== undefined) throw new UsageError(`--${flag} applies to a docker:// bench only`);
  const { owners, devices, strict } = rootlessArgs(values);
  const options = {
    image: args[0],
    dir,
    filesystem: filesystemOf(dir),
    runs: positiveInt('--runs', values.runs, 5)!,
    policyArgs: [...(owners ? ['--owners', owners] : []), ...(devices ? ['--devices', devices] : []), ...(strict ? ['--strict'] : [])],
    registryArgs: docker ? pullBench(args[0], values, undefined, { umoci: false, floor: false }).layercopyArgs : [],
    log: values.quiet || values.json ? undefined : (line: string) => process.stderr.write(`${line}\n`),
  };
  return (signal) => benchStore({ ...options, signal });
}
