// Every program `layercopy bench` runs gets a process group of its own, so
// an interrupted bench can end it whole. The timed programs start children
// of their own (GNU time runs umoci, sh runs tar and layercopy, mesos-copy
// runs cp, cc runs cc1 and ld), and signalling the direct child alone, as
// execa's cancelSignal and forceKillAfterDelay do, left them running: GNU
// time dies on SIGTERM without passing it on, and sh's background jobs
// ignore SIGINT. execa's cleanup does not apply to detached children either,
// so the group is ended here, and the bench waits until nothing in it runs.
import fs from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { execa, type Result } from 'execa';

/** How long a group has to exit after SIGTERM before it gets SIGKILL (a layercopy child removes its staging first). */
export const FORCE_KILL_AFTER_MS = 2000;

/** The groups started and not yet ended: a bench that must exit at once kills them all. */
const running = new Set<number>();

/**
 * Runs argv, given a signal in a new process group, and resolves once no
 * process of that group runs any more. When signal aborts, the group gets
 * SIGTERM (SIGKILL FORCE_KILL_AFTER_MS later) and the call throws
 * signal.reason.
 */
export async function runInGroup(argv: string[], { signal, reject = true, env }: { signal?: AbortSignal; reject?: boolean; env?: Record<string, string> } = {}): Promise<Result> {
  signal?.throwIfAborted();
  // Without a signal nothing here could end the group: the child stays in
  // the caller's, where a terminal's Ctrl-C reaches it (the bench suite).
  const subprocess = execa(argv[0], argv.slice(1), { detached: signal !== undefined, reject, env });
  const pgid = signal === undefined ? undefined : subprocess.pid;
  if (pgid !== undefined) running.add(pgid);
  let forceKill: NodeJS.Timeout | undefined;
  const terminate = () => {
    if (pgid === undefined || forceKill) return;
    signalGroup(pgid, 'SIGTERM');
    forceKill = setTimeout(() => signalGroup(pgid, 'SIGKILL'), FORCE_KILL_AFTER_MS);
  };
  signal?.addEventListener('abort', terminate, { once: true });
  const outcome = await subprocess.then(
    (result) => ({ result }),
    (error: unknown) => ({ error }),
  );
  signal?.removeEventListener('abort', terminate);
  if (pgid !== undefined) {
    // What the leader left behind (a failed script's background jobs) is ended too.
    if (groupRuns(pgid)) terminate();
    while (groupRuns(pgid)) await sleep(10);
    clearTimeout(forceKill);
    running.delete(pgid);
  }
  signal?.throwIfAborted();
  if ('error' in outcome) throw outcome.error;
  return outcome.result;
}

/** SIGKILL to every group still running, for a bench that exits without waiting. */
export function killAllGroups(): void {
  for (const pgid of running) signalGroup(pgid, 'SIGKILL');
}

function signalGroup(pgid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pgid, signal);
  } catch {
    // ESRCH: the group is gone already.
  }
}

/**
 * Whether a process of the group still runs. A zombie does not: the
 * leader's children that outlive it are reparented to PID 1, and a PID 1
 * that never reaps (as in some containers) keeps them as zombies for good.
 */
function groupRuns(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
  } catch {
    return false;
  }
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    let stat: string;
    try {
      stat = fs.readFileSync(`/proc/${name}/stat`, 'utf8');
    } catch {
      continue; // exited while the list was read
    }
    // pid (comm) state ppid pgrp ...: comm may hold spaces and parentheses.
    const [state, , pgrp] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (Number(pgrp) === pgid && state !== 'Z') return true;
  }
  return false;
}
