import { nowMs } from '../core/stopwatch.js';
// What SIGINT, SIGTERM and SIGHUP do to a provision run from the CLI (and,
// with its own words for what a second signal leaves, to a bench).

export const SIGNAL_STATUS: Record<string, number> = { SIGHUP: 129, SIGINT: 130, SIGTERM: 143 };
export const SIGNALS = Object.keys(SIGNAL_STATUS) as NodeJS.Signals[];

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
  {
    shutdown,
    exit = process.exit,
    now = nowMs,
    left = 'the next provision or destroy of this ROOTFS removes what is left',
    log = (line: string) => process.stderr.write(line),
  }: { shutdown: () => void; exit?: (status: number) => void; now?: () => number; left?: string; log?: (line: string) => void },
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
      log(`layercopy: received ${signal} again: exiting now; ${left}\n`);
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
