import fs from 'node:fs';

/**
 * Whether process `pid` still runs: it exists (EPERM: as another user's)
 * and is no zombie. A process killed under a PID 1 that never reaps (some
 * containers) stays a zombie for good, and any killed process is one until
 * its parent reaps it: what it left is a leftover either way.
 */
export function pidRuns(pid: number): boolean {
  // pid 0 and below would signal a process group: never a leftover's owner.
  if (!Number.isSafeInteger(pid) || pid <= 0) return true;
  try {
    process.kill(pid, 0);
  } catch (error) {
    return (error as NodeJS.ErrnoException).code !== 'ESRCH';
  }
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // A leader that called pthread_exit shows Z while its other threads run.
    return stat[stat.lastIndexOf(')') + 2] !== 'Z' || fs.readdirSync(`/proc/${pid}/task`).length > 1;
  } catch {
    return true;
  }
}
