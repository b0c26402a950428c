// One timed provision as a whole process: layercopy's CLI, or the Mesos
// method's program (native/baseline/mesos_copy.c), timed the same way.
import fs from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { cliCommand, distFile, packageFile } from '../core/compiled.js';
import { UsageError } from './args.js';
import type { ChildRequest, ChildResult } from './bench-child.js';
import { runInGroup } from './bench-group.js';

/** The script that runs one timed provision in a process of its own. */
export const CHILD = fileURLToPath(distFile('src/bench-child.js'));

const GNU_TIME = '/usr/bin/time';

/** Compiles native/ SOURCES with cc into DIR/NAME, untimed: the program, or why not (one line). */
async function compile(dir: string, name: string, sources: string[], libs: string[], signal?: AbortSignal): Promise<{ program: string } | { why: string }> {
  const program = path.join(dir, name);
  const r = await runInGroup(['cc', '-O2', '-pthread', '-o', program, ...sources.map((s) => fileURLToPath(packageFile(s))), ...libs], { reject: false, signal });
  if (!r.failed) return { program };
  // One line: the CLI shows a message's line breaks as \n.
  return { why: r.code === 'ENOENT' ? 'cc is not on PATH' : `cc failed: ${firstError(String(r.stderr || r.shortMessage))}` };
}

/**
 * Builds the Mesos method's baseline (native/baseline/mesos_copy.c) with cc
 * into DIR, untimed; throws a clear error where no C compiler is at hand.
 */
export async function buildMesosCopy(dir: string, signal?: AbortSignal): Promise<string> {
  const r = await compile(dir, 'mesos-copy', ['native/baseline/mesos_copy.c'], [], signal);
  if ('why' in r) {
    const source = fileURLToPath(packageFile('native/baseline/mesos_copy.c'));
    throw new UsageError(`bench needs a C compiler (cc) to build its cp -aT per layer baseline at native speed (${source}): ${r.why}`);
  }
  return r.program;
}

/**
 * Builds the verified floor at native speed (native/baseline/verified_floor.c,
 * with the helper's own ISA-L and libzstd loaders) the same way, untimed;
 * undefined where cc cannot (the floor then runs in Node: bench-floor.ts).
 */
export async function buildVerifiedFloor(dir: string, signal?: AbortSignal): Promise<string | undefined> {
  const r = await compile(dir, 'verified-floor', ['native/baseline/verified_floor.c', 'native/isal.c', 'native/zstd.c'], ['-ldl'], signal);
  return 'program' in r ? r.program : undefined;
}

/** The line of a compiler's output that says what went wrong, else its last. */
function firstError(output: string): string {
  const lines = output.trim().split('\n');
  return lines.find((line) => /\berror\b/.test(line)) ?? lines[lines.length - 1];
}

/** Runs argv as a whole process under GNU time (where present): wall ms and peak RSS. */
export async function timeProcess(
  argv: string[],
  rssFile: string,
  signal?: AbortSignal,
  env?: Record<string, string>,
): Promise<{ processMs: number; maxRssKb: number; stdout: string }> {
  const timed = fs.existsSync(GNU_TIME);
  const start = performance.now();
  const r = await runInGroup(timed ? [GNU_TIME, '-f', '%M', '-o', rssFile, ...argv] : argv, { signal, env });
  const processMs = performance.now() - start;
  let maxRssKb = 0;
  if (timed) {
    maxRssKb = Number(fs.readFileSync(rssFile, 'utf8').trim().split('\n').pop());
    fs.rmSync(rssFile);
  }
  return { processMs, maxRssKb, stdout: String(r.stdout) };
}

/**
 * Runs one timed provision in a fresh process: its figures and the process's
 * wall time. layercopy runs as its CLI, exactly as a user runs it; the
 * Mesos method as its C program (mesosCopy, from buildMesosCopy), timed the
 * same way (peak RSS from GNU time where present).
 */
export async function runChild(request: ChildRequest, mesosCopy?: string, signal?: AbortSignal): Promise<ChildResult & { processMs: number }> {
  const rssFile = `${request.rootfs}.rss`;
  if (request.method === 'seed') {
    if (!mesosCopy) throw new Error('runChild: the seed method needs the mesos-copy program (buildMesosCopy)');
    const r = await timeProcess([mesosCopy, ...request.layers, request.rootfs], rssFile, signal);
    return { ms: r.processMs, maxRssKb: r.maxRssKb, processMs: r.processMs };
  }
  const cli = cliCommand();
  const args = [cli.file, 'provision', '--json'];
  if (request.concurrency !== undefined) args.push('--concurrency', String(request.concurrency));
  if (request.batchSize !== undefined) args.push('--batch-size', String(request.batchSize));
  if (request.strategy !== undefined) args.push('--strategy', request.strategy);
  if (request.idMapArgs) args.push(...request.idMapArgs);
  if (request.policyArgs) args.push(...request.policyArgs);
  if (request.registryArgs) args.push(...request.registryArgs);
  args.push(...request.layers, request.rootfs);
  const r = await timeProcess(args, rssFile, signal, cli.env);
  const summary = JSON.parse(r.stdout);
  return { ms: summary.timings.totalMs, maxRssKb: r.maxRssKb, entries: summary.entries, bytes: summary.bytes, processMs: r.processMs };
}
