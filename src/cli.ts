#!/usr/bin/env node
import fs from 'node:fs';
import { parseArgs } from 'node:util';
import { batchSizeArg, parseIdMap, positiveInt, UsageError, type CliValues as Values } from './args.js';
import type { LayercopyError } from './errors.js';
import { type Progress, STRATEGIES, type Strategy } from './options.js';
import type { ProvisionSummary } from './provision.js';

const USAGE = `Usage:
  layercopy provision [--strategy merged|layered] [--uid-map C:H:N]... [--gid-map C:H:N]...
                     [--concurrency N] [--batch-size N|auto] [--json] [--quiet] LAYER... ROOTFS
  layercopy destroy [--json] [--quiet] ROOTFS
  layercopy bench [--runs N] [--strategy LIST] [--concurrency LIST] [--batch-size LIST] [--uid-map C:H:N]... [--scratch DIR] [--json] LAYER...
  layercopy --help | --version

provision  copy LAYERs (lowest first) into ROOTFS, applying whiteouts; ROOTFS
           must not exist. It is built beside ROOTFS and renamed into place.
destroy    remove ROOTFS without following symlinks.
bench      time layercopy against cp -aT per layer and cp -a of the final tree.

Options:
  --concurrency N   worker threads (default: available CPUs)
  --batch-size N    entries per worker task (default: auto: 256, up to 1,024
                    on big images while the workers are behind)
  --strategy S      merged (default): copy each surviving entry once, from the
                    highest layer that has it; layered: copy every layer in
                    full over the lower ones (the cp -aT per layer method)
  --uid-map C:H:N   shift owners for a user namespace: container IDs C..C+N-1
  --gid-map C:H:N   become host IDs H..H+N-1 (as in /proc/PID/uid_map); repeat
                    for several ranges; also maps file capabilities and ACLs
  --json            print one JSON object on stdout
  -q, --quiet       print nothing on success (no progress line, no summary);
                    errors still go to stderr
  --runs N          bench: runs per configuration (default: 5)
  --scratch DIR     bench: where the temporary rootfs trees go (default: $TMPDIR);
                    put it on the filesystem you provision to

Exit status: 0 success, 1 failure, 2 usage error, 129 SIGHUP, 130 SIGINT, 143 SIGTERM.
Reference: docs/cli.md and docs/errors.md in the package.`;

/**
 * Text for a terminal: entry names come from layers (untrusted) and may hold
 * newlines or escape sequences that would forge lines or drive the
 * terminal. Control characters and C1 codes are shown as C escapes (\n,
 * \t, \e, \xHH), as GNU tools quote them; --json output is left alone.
 */
export function escapeForTerminal(text: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point
  return text.replace(/[\x00-\x1f\x7f-\x9f]/g, (c) => {
    const code = c.charCodeAt(0);
    if (c === '\n') return '\\n';
    if (c === '\t') return '\\t';
    if (c === '\r') return '\\r';
    if (code === 0x1b) return '\\e';
    return `\\x${code.toString(16).padStart(2, '0')}`;
  });
}

const SIGNAL_STATUS: Record<string, number> = { SIGHUP: 129, SIGINT: 130, SIGTERM: 143 };
const SIGNALS = Object.keys(SIGNAL_STATUS) as NodeJS.Signals[];

function version(): string {
  const pkg = JSON.parse(fs.readFileSync(new URL('../../package.json', import.meta.url), 'utf8'));
  return pkg.version;
}

const mb = (bytes: number) => `${(bytes / 1e6).toFixed(1)} MB`;
// Not toLocaleString: its first call loads ICU data, 15 ms of a 100 ms provision.
const n = (v: number) => String(v).replace(/\B(?=(\d{3})+(?!\d))/g, ',');
const s = (ms: number) => (ms / 1000).toFixed(2);

export function formatSummary(r: ProvisionSummary): string {
  const t = r.timings;
  return [
    `provisioned ${r.rootfs} from ${r.layers} layer${r.layers === 1 ? '' : 's'}`,
    `  entries   ${n(r.entries)} (${n(r.directories)} directories, ${n(r.hardlinks)} hardlinks), ${mb(r.bytes)}`,
    `  whiteouts ${n(r.whiteouts)} applied, ${n(r.replaced)} ${r.replaced === 1 ? 'entry' : 'entries'} replaced`,
    `  time      ${s(t.totalMs)} s (plan ${s(t.planMs)}, copy ${s(t.copyMs)}, metadata ${s(t.metadataMs)}, commit ${s(t.commitMs)})`,
  ].join('\n');
}

/** The status line: phase, layer, totals, elapsed time; at most columns - 1 characters. */
export function formatProgress(p: Progress, elapsedMs: number, columns: number): string {
  const line = `${p.phase} · layer ${p.layerIndex + 1}/${p.layers} · ${n(p.entries)} entries · ${mb(p.bytes)} · ${(elapsedMs / 1000).toFixed(1)} s`;
  const width = Math.max(10, columns - 1);
  return line.length > width ? `${line.slice(0, width - 1)}…` : line;
}

/**
 * One status line on a terminal's stderr, redrawn at most every 100 ms: the
 * phase, the layer, totals and elapsed time, cut to the terminal's width so
 * it never wraps (a wrapped line would stack on every redraw).
 */
function progressLine(): { update(p: Progress): void; done(): void } {
  if (!process.stderr.isTTY) return { update() {}, done() {} };
  let last = 0;
  const started = Date.now();
  let shown = false;
  return {
    update(p) {
      const now = Date.now();
      if (now - last < 100 && p.phase !== 'done') return;
      last = now;
      shown = true;
      process.stderr.write(`\r\x1b[K${formatProgress(p, now - started, process.stderr.columns || 80)}`);
    },
    done() {
      if (shown) process.stderr.write('\r\x1b[K');
    },
  };
}

/** Runs the CLI; returns the exit status. */
export async function main(argv: string[]): Promise<number> {
  let parsed: ReturnType<typeof parseCli>;
  try {
    parsed = parseCli(argv);
  } catch (error) {
    return usageError((error as Error).message, argv.includes('--json'));
  }
  return run(parsed);
}

function parseCli(argv: string[]) {
  return parseArgs({
    args: argv,
    allowPositionals: true,
    strict: true,
    options: {
      concurrency: { type: 'string' },
      'batch-size': { type: 'string' },
      strategy: { type: 'string' },
      'uid-map': { type: 'string', multiple: true },
      'gid-map': { type: 'string', multiple: true },
      runs: { type: 'string' },
      scratch: { type: 'string' },
      json: { type: 'boolean' },
      quiet: { type: 'boolean', short: 'q' },
      help: { type: 'boolean', short: 'h' },
      version: { type: 'boolean', short: 'V' },
    },
  });
}

async function run(parsed: ReturnType<typeof parseCli>): Promise<number> {
  const { values, positionals } = parsed;
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  if (values.version) {
    process.stdout.write(`${version()}\n`);
    return 0;
  }
  const [command, ...args] = positionals;
  try {
    switch (command) {
      case 'provision':
        return await runProvision(args, values);
      case 'destroy':
        return await runDestroy(args, values);
      case 'bench': {
        const { runBench } = await import('./bench.js');
        return await runBench(args, values);
      }
      case undefined:
        throw new UsageError('missing command');
      default:
        throw new UsageError(`unknown command '${command}'`);
    }
  } catch (error) {
    if (error instanceof UsageError) return usageError(error.message, values.json === true);
    throw error;
  }
}

/** One line and a pointer to --help on stderr, exit 2; with --json, the error object on stdout too. */
function usageError(message: string, json: boolean): number {
  process.stderr.write(`layercopy: ${escapeForTerminal(message)}\nTry 'layercopy --help'.\n`);
  if (json) process.stdout.write(`${JSON.stringify({ error: { message, code: 'ERR_USAGE' } })}\n`);
  return 2;
}

async function runProvision(args: string[], values: Values): Promise<number> {
  if (values.runs !== undefined || values.scratch !== undefined) throw new UsageError('--runs and --scratch are bench options');
  if (args.length < 2) throw new UsageError('provision needs at least one LAYER and a ROOTFS');
  const concurrency = positiveInt('--concurrency', values.concurrency);
  const batchSize = batchSizeArg('--batch-size', values['batch-size']);
  const idMap = parseIdMap(values);
  const strategy = values.strategy as Strategy | undefined;
  if (strategy !== undefined && !STRATEGIES.includes(strategy)) throw new UsageError(`--strategy must be one of ${STRATEGIES.join(', ')} (got '${values.strategy}')`);
  const layers = args.slice(0, -1);
  const rootfs = args[args.length - 1];
  // Not at startup: --help, --version and usage errors work without the native helper.
  const { CopyBackend, native } = await import('./backend.js');
  const controller = new AbortController();
  const interrupt = interruptHandler(controller, { shutdown: native.shutdown });
  for (const signal of SIGNALS) process.on(signal, interrupt.onSignal);
  const progress = values.quiet || values.json ? { update() {}, done() {} } : progressLine();
  const onProgress = (p: Progress) => {
    if (p.phase === 'done') interrupt.committed();
    progress.update(p);
  };
  const backend = new CopyBackend({ concurrency });
  try {
    const summary = await backend.provision(layers, rootfs, { batchSize, strategy, idMap, signal: controller.signal, onProgress });
    progress.done();
    if (!values.quiet && !values.json) for (const stale of summary.staleRemoved) process.stderr.write(`layercopy: ${escapeForTerminal(staleNote(stale))}\n`);
    // --quiet: nothing on success, as rsync -q and curl -s; errors still go to stderr.
    if (values.json) process.stdout.write(`${JSON.stringify(summary)}\n`);
    else if (!values.quiet) process.stdout.write(`${formatSummary(summary)}\n`);
    return 0;
  } catch (error) {
    progress.done();
    return reportFailure(error, values, interrupt.status());
  } finally {
    // The handlers stay until the process exits: without one, a signal
    // arriving while the pool shuts down would kill the process (status
    // 128+N) after a successful commit.
    await backend.close();
  }
}

/** A signal burst shorter than this is one interrupt (see interruptHandler). */
export const SIGNAL_BURST_MS = 100;

/**
 * What a SIGINT, SIGTERM or SIGHUP does to a provision. The first aborts it:
 * in-flight batches finish, the staging directory is removed, exit 128+N.
 * The same interrupt often arrives twice within microseconds (`timeout -s
 * INT`, or Ctrl-C under a shell script or npx: once to the process, once to
 * its group); repeats within SIGNAL_BURST_MS of the first are that one
 * interrupt, ignored. A later, separate signal exits at once (every native
 * loop stops at its next check) and leaves the staging directory for the
 * next provision or destroy of ROOTFS, which removes it and says so. Once
 * the rootfs is committed, signals are ignored: the provision has
 * succeeded, and the exit status (0) must agree with what is on disk.
 */
export function interruptHandler(
  controller: AbortController,
  { shutdown, exit = process.exit, now = () => performance.now() }: { shutdown: () => void; exit?: (status: number) => void; now?: () => number },
) {
  let first: { signal: NodeJS.Signals; at: number } | undefined;
  let committed = false;
  return {
    onSignal(signal: NodeJS.Signals) {
      if (committed) return;
      if (first === undefined) {
        first = { signal, at: now() };
        controller.abort(new Error(`received ${signal}`));
        return;
      }
      if (now() - first.at < SIGNAL_BURST_MS) return;
      shutdown();
      process.stderr.write(`layercopy: received ${signal} again: exiting now; the next provision or destroy of this ROOTFS removes what is left\n`);
      exit(SIGNAL_STATUS[signal]);
    },
    committed() {
      committed = true;
    },
    /** The exit status for an aborted provision, or undefined when no signal came. */
    status(): number | undefined {
      return first && controller.signal.aborted ? SIGNAL_STATUS[first.signal] : undefined;
    },
  };
}

function staleNote(stale: string): string {
  const pid = /\.layercopy-(\d+)-[0-9a-f]{8}$/.exec(stale)?.[1];
  return `removed ${stale}, left by an interrupted provision${pid ? ` (pid ${pid})` : ''}`;
}

function reportFailure(error: unknown, values: Values, abortStatus?: number): number {
  const e = error as LayercopyError;
  const usage = e.code === 'ERR_INVALID_ARGUMENT' || e.code === 'ERR_NO_LAYERS' || e.code === 'ERR_INVALID_OPTION';
  const status = abortStatus ?? (usage ? 2 : 1);
  process.stderr.write(`layercopy: ${escapeForTerminal(e.message)}\n`);
  if (values.json) {
    process.stdout.write(
      `${JSON.stringify({ error: { message: e.message, code: e.code, layer: e.layer, layerIndex: e.layerIndex, path: e.path, syscall: e.syscall, errno: e.errno } })}\n`,
    );
  }
  return status;
}

async function runDestroy(args: string[], values: Values): Promise<number> {
  if (args.length !== 1) throw new UsageError('destroy needs exactly one ROOTFS');
  for (const flag of ['concurrency', 'batch-size', 'strategy', 'uid-map', 'gid-map', 'runs', 'scratch'] as const) {
    if (values[flag] !== undefined) throw new UsageError(`--${flag} is not a destroy option`);
  }
  const { destroy } = await import('./destroy.js');
  const result = await destroy(args[0]);
  if (!result.ok) return reportFailure(result.error, values);
  if (values.json) {
    process.stdout.write(`${JSON.stringify({ destroyed: args[0], removed: result.removed, staleRemoved: result.staleRemoved })}\n`);
    return 0;
  }
  if (values.quiet) return 0;
  for (const stale of result.staleRemoved) process.stdout.write(`${escapeForTerminal(staleNote(stale))}\n`);
  if (result.removed) process.stdout.write(`destroyed ${args[0]}\n`);
  else if (result.staleRemoved.length === 0) process.stdout.write(`nothing to destroy: ${args[0]} does not exist\n`);
  return 0;
}

const isMain = process.argv[1] && fs.realpathSync(process.argv[1]) === fs.realpathSync(new URL(import.meta.url).pathname);
if (isMain) {
  // process.exit, not exitCode: a natural exit closes libuv's signal handles
  // first, which restores the default action, and a SIGINT in that last
  // window killed the process (status 130) after a committed provision.
  // process.exit keeps the handlers to the end (stdout and stderr are
  // synchronous for files and pipes, so nothing written is lost).
  main(process.argv.slice(2)).then(
    (status) => process.exit(status),
    (error) => {
      process.stderr.write(`layercopy: internal error: ${(error as Error).stack}\n`);
      process.exit(1);
    },
  );
}
