#!/usr/bin/env node
import fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { restoreCommandEnv } from '../core/command-env.js';
import { packageFile } from '../core/compiled.js';
import { LayercopyError } from '../core/errors.js';
import { type Progress, parsePlatform, STRATEGIES, type Strategy } from '../core/options.js';
import { workingDirectory } from '../core/paths.js';
import { batchSizeArg, concurrencyArg, isUsageCode, parseIdMap, positiveInt, registryArgs, rootlessArgs, tlsVerifyValue, UsageError, type CliValues as Values } from './args.js';
import { escapeForTerminal, formatSummary, progressLine, staleNote } from './output.js';
import { interruptHandler, SIGNALS } from './signals.js';
import { isStoreCommand, PULL_FLAGS, storeArgs } from './store.js';
import { commandUsage, USAGE } from './usage.js';

function version(): string {
  const pkg = JSON.parse(fs.readFileSync(packageFile('package.json'), 'utf8'));
  return pkg.version;
}

/** Runs the CLI; returns the exit status. */
export async function main(argv: string[]): Promise<number> {
  let parsed: ReturnType<typeof parseCli>;
  try {
    parsed = parseCli(argv);
  } catch (error) {
    return usageError(parseArgsMessage(error as Error & { code?: string }, argv), argv.includes('--json'));
  }
  return run(parsed);
}

/** parseArgs's own words, made one line that names the option: its unknown-option text runs on with an unclosed quote. */
function parseArgsMessage(error: Error & { code?: string }, argv: string[]): string {
  const unknown = /^Unknown option '([^']*)'/.exec(error.message)?.[1];
  if (error.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' && unknown !== undefined) {
    if (unknown === '-v') return "unknown option '-v' (the version is -V or --version)";
    const near = unknown.startsWith('--') ? closest(unknown.slice(2).split('=')[0], Object.keys(OPTIONS)) : undefined;
    if (near !== undefined) return `unknown option '${unknown}'; did you mean --${near}?`;
    const hint = unknown.startsWith('-') && argv.includes(unknown) ? ` (a path that begins with '-': put it after '--', as in -- ${unknown})` : '';
    return `unknown option '${unknown}'${hint}`;
  }
  const missing = /^Option '([^']*)' argument missing/.exec(error.message)?.[1];
  if (missing) return `option ${missing} needs a value`;
  // parseArgs will not take "-1" as a value: it might be an option.
  const ambiguous = /^Option '([^']*)' argument is ambiguous/.exec(error.message)?.[1];
  if (ambiguous) {
    const long =
      ambiguous
        .split(',')
        .map((o) => o.trim())
        .find((o) => o.startsWith('--')) ?? ambiguous;
    const given = argv[argv.findIndex((a) => a === long || (a.startsWith('-') && !a.startsWith('--') && long === `--${shortOf(a)}`)) + 1];
    return `option ${long} needs a value; one that begins with '-' is written ${long}=${given ?? '-…'}`;
  }
  const flag = /^Option '([^']*)' does not take an argument/.exec(error.message)?.[1];
  if (flag) return `option ${flag} takes no value (give ${flag} alone)`;
  return error.message;
}

/** The name among `names` within two edits of `name` (a typo), if one is nearest. */
function closest(name: string, names: string[]): string | undefined {
  const distance = (a: string, b: string) => {
    let row = Array.from({ length: b.length + 1 }, (_, j) => j);
    for (let i = 1; i <= a.length; i++) {
      const next = [i];
      for (let j = 1; j <= b.length; j++) next[j] = Math.min(row[j] + 1, next[j - 1] + 1, row[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
      row = next;
    }
    return row[b.length];
  };
  const scored = names.map((n) => [distance(name, n), n] as const).sort((x, y) => x[0] - y[0]);
  return scored.length > 0 && scored[0][0] <= 2 && scored[0][0] < name.length && scored[1]?.[0] !== scored[0][0] ? scored[0][1] : undefined;
}

const shortOf = (flag: string) => Object.entries(OPTIONS).find(([, o]) => 'short' in o && `-${o.short}` === flag)?.[0];

function parseCli(argv: string[]) {
  return parseArgs({ args: tlsVerifyValue(argv), allowPositionals: true, strict: true, options: OPTIONS });
}

const OPTIONS = {
  concurrency: { type: 'string' },
  'batch-size': { type: 'string' },
  strategy: { type: 'string' },
  platform: { type: 'string' },
  creds: { type: 'string' },
  authfile: { type: 'string' },
  'cert-dir': { type: 'string' },
  'tls-verify': { type: 'string' },
  'max-downloads': { type: 'string' },
  ...PULL_FLAGS,
  'uid-map': { type: 'string', multiple: true },
  'gid-map': { type: 'string', multiple: true },
  owners: { type: 'string' },
  devices: { type: 'string' },
  strict: { type: 'boolean' },
  runs: { type: 'string' },
  scratch: { type: 'string' },
  json: { type: 'boolean' },
  quiet: { type: 'boolean', short: 'q' },
  help: { type: 'boolean', short: 'h' },
  version: { type: 'boolean', short: 'V' },
} as const;

async function run(parsed: ReturnType<typeof parseCli>): Promise<number> {
  const { values, positionals } = parsed;
  // `layercopy help [COMMAND]`, as git and podman take it: the one help text.
  const isCommand = (c: string | undefined): c is string => c !== undefined && (['provision', 'destroy', 'bench'].includes(c) || isStoreCommand(c));
  const asked = positionals[0] === 'help' ? positionals[1] : undefined;
  if (asked !== undefined && !isCommand(asked)) return usageError(`unknown command '${asked}'`, values.json === true);
  if (values.help || positionals[0] === 'help') {
    // One command's part (git help COMMAND, podman COMMAND --help); the whole text without one.
    const command = asked ?? positionals[0];
    process.stdout.write(`${isCommand(command) ? commandUsage(command) : USAGE}\n`);
    return 0;
  }
  if (values.version) {
    process.stdout.write(`${version()}\n`);
    return 0;
  }
  const [command, ...args] = positionals;
  try {
    leaveRemovedCwd(args);
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
        if (isStoreCommand(command)) return await (await import('./store.js')).runStore(command, args, values);
        throw new UsageError(`unknown command '${command}'`);
    }
  } catch (error) {
    if (error instanceof UsageError) return usageError(error.message, values.json === true);
    // Met at the helper's first use, which may be a module's top level, or by bench before its runs (a registry's answer
    // about the image): a failure to report, not a crash.
    if (error instanceof LayercopyError || (error as { code?: unknown }).code === 'ERR_NATIVE_HELPER') return reportFailure(error, values);
    throw error;
  }
}

/**
 * Worker threads cannot start in a removed working directory (Node reads
 * it as each starts): from one, the CLI moves to /, where only absolute
 * paths mean what they meant; a relative one is refused rather than read
 * against / (`destroy root` would name /root).
 */
function leaveRemovedCwd(args: string[]): void {
  if (workingDirectory() !== undefined) return;
  const relative = args.find((a) => !a.startsWith('/') && !/^[a-z][a-z0-9-]*:/.test(a));
  if (relative !== undefined) throw new UsageError(`the working directory was removed: give absolute paths ('${relative}' is relative)`);
  process.chdir('/');
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
  const concurrency = concurrencyArg(values.concurrency);
  const batchSize = batchSizeArg('--batch-size', values['batch-size']);
  const idMap = parseIdMap(values);
  const strategy = values.strategy as Strategy | undefined;
  const platform = values.platform;
  const maxDownloads = positiveInt('--max-downloads', values['max-downloads']);
  const registry = registryArgs(values);
  const rootless = rootlessArgs(values);
  const store = storeArgs(values);
  if (platform !== undefined) {
    try {
      parsePlatform(platform);
    } catch (error) {
      throw new UsageError(`--platform ${(error as Error).message}`);
    }
  }
  if (strategy !== undefined && !STRATEGIES.includes(strategy)) throw new UsageError(`--strategy must be one of ${STRATEGIES.join(', ')} (got '${values.strategy}')`);
  const layers = args.slice(0, -1);
  const rootfs = args[args.length - 1];
  // Not at startup: --help, --version and usage errors work without the native helper.
  const { CopyBackend, native } = await import('../backend.js');
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
    const options = { batchSize, strategy, idMap, ...rootless, ...store, platform, registry, maxDownloads, signal: controller.signal, onProgress };
    const summary = await backend.provision(layers, rootfs, options);
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

function reportFailure(error: unknown, values: Values, abortStatus?: number): number {
  const e = error as LayercopyError;
  const status = abortStatus ?? (isUsageCode(e.code) ? 2 : 1);
  process.stderr.write(`layercopy: ${escapeForTerminal(e.message)}\n`);
  if (values.json) {
    process.stdout.write(
      `${JSON.stringify({ error: { message: e.message, code: e.code, layer: e.layer, layerIndex: e.layerIndex, digest: e.digest, diffId: e.diffId, path: e.path, syscall: e.syscall, errno: e.errno } })}\n`,
    );
  }
  return status;
}

async function runDestroy(args: string[], values: Values): Promise<number> {
  if (args.length !== 1) throw new UsageError('destroy needs exactly one ROOTFS');
  // Every flag but --json and --quiet: a list of the others missed each new one.
  const given = Object.entries(values).find(([flag, value]) => value !== undefined && flag !== 'json' && flag !== 'quiet');
  if (given) throw new UsageError(`--${given[0]} is not a destroy option`);
  const { destroy } = await import('../rootfs/destroy.js');
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

/**
 * Runs the CLI as its process: the arguments of process.argv, the exit
 * status of main(). Called below where cli.js is the process's main module
 * (`node cli.js`), and by the layercopy command (src/cli/layercopy.cjs).
 */
export function start(): void {
  // process.exit, not exitCode: a natural exit closes libuv's signal handles
  // first, which restores the default action, and a SIGINT in that last
  // window killed the process (status 130) after a committed provision.
  // process.exit keeps the handlers to the end (stdout and stderr are
  // synchronous for files and pipes, so nothing written is lost).
  restoreCommandEnv();
  main(process.argv.slice(2)).then(
    (status) => process.exit(status),
    (error) => {
      process.stderr.write(`layercopy: internal error: ${(error as Error).stack}\n`);
      process.exit(1);
    },
  );
}

if (process.argv[1] && fs.realpathSync(process.argv[1]) === fs.realpathSync(fileURLToPath(import.meta.url))) start();
