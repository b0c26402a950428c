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
    // The mount table names mount points by their real paths.
    const want = path.join(fs.realpathSync(path.dirname(dir)), path.basename(dir));
    return mountPoints().includes(want);
  } catch {
    return false;
  }
}

/** Every mount point of this process's mount table (real paths), or none where it cannot be read. */
export function mountPoints(): string[] {
  let table: string;
  try {
    table = fs.readFileSync('/proc/self/mountinfo', 'latin1');
  } catch {
    return [];
  }
  // Octal escapes for space, tab, newline and backslash; the bytes of a name as they are.
  const octal = (p: string) => p.replace(/\\([0-7]{3})/g, (_m, o: string) => String.fromCharCode(Number.parseInt(o, 8)));
  return table
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => Buffer.from(octal(line.split(' ')[4] ?? ''), 'latin1').toString());
}
