import fs from 'node:fs';
import path from 'node:path';

/**
 * Whether a directory is a mount point: another filesystem than its
 * parent's, or a bind mount on the same one (st_dev alike: the mount table
 * says). A ROOTFS that is one is never a provision's: the commit's rename
 * cannot replace it, and removing it would empty what is mounted there.
 */
export function isMountPoint(dir: string): boolean {
  try {
    if (fs.lstatSync(dir).dev !== fs.statSync(path.dirname(dir)).dev) return true;
    const octal = (p: string) => p.replace(/\\([0-7]{3})/g, (_m, o: string) => String.fromCharCode(Number.parseInt(o, 8)));
    // The mount table names mount points by their real paths.
    const want = Buffer.from(path.join(fs.realpathSync(path.dirname(dir)), path.basename(dir))).toString('latin1');
    return fs
      .readFileSync('/proc/self/mountinfo', 'latin1')
      .split('\n')
      .some((line) => octal(line.split(' ')[4] ?? '') === want);
  } catch {
    return false;
  }
}
