// The scratch directory of `layercopy bench`: named after the bench's pid,
// so that what a bench killed outright (SIGKILL, a second signal, a crash)
// left behind can be told from a running bench's, and removed by the next
// bench in the same parent directory.
import fs from 'node:fs';
import path from 'node:path';
import { inside } from '../core/paths.js';
import { pidRuns } from '../core/processes.js';
import { destroy } from '../rootfs/destroy.js';

const PREFIX = 'layercopy-bench-';
const NAME = /^layercopy-bench-(\d+)-./;

/** A new scratch directory in parent: layercopy-bench-<pid>-<random>. */
export function makeScratch(parent: string): string {
  return fs.mkdtempSync(path.join(parent, `${PREFIX}${process.pid}-`));
}

/**
 * Removes the scratch directories in parent whose bench no longer runs:
 * named layercopy-bench-<pid>-…, a directory (not a link to one), owned by
 * this user, and no process <pid>. Returns the paths removed; note says
 * what it removed, and what it could not.
 */
export async function removeStaleScratch(parent: string, note: (line: string) => void): Promise<string[]> {
  const removed: string[] = [];
  for (const name of fs.readdirSync(parent)) {
    const pid = NAME.exec(name)?.[1];
    if (pid === undefined || pidRuns(Number(pid))) continue;
    const dir = path.resolve(parent, name);
    const st = fs.lstatSync(dir, { throwIfNoEntry: false });
    if (!st?.isDirectory() || st.uid !== process.getuid?.()) continue;
    const r = await destroy(dir);
    if (r.ok) {
      removed.push(dir);
      note(`removed a stale bench scratch ${dir} (its bench, pid ${pid}, no longer runs)`);
    } else {
      note(`could not remove the stale bench scratch ${dir}: ${r.error.message}`);
    }
  }
  return removed;
}

/** The filesystem a bench's scratch lies on, for its report: its type and mount point (the deepest mount holding it). */
export function filesystemOf(dir: string): string {
  try {
    const mounts = fs
      .readFileSync('/proc/self/mounts', 'utf8')
      .trim()
      .split('\n')
      .map((l) => l.split(' '));
    const real = fs.realpathSync(dir);
    let best = ['', '/', 'unknown'];
    for (const m of mounts) {
      if (inside(real, m[1]) && m[1].length >= best[1].length) best = m;
    }
    return `${best[2]} (${best[1]})`;
  } catch {
    return 'unknown';
  }
}
