import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { LayercopyError, systemError } from './errors.js';
import { native } from './native.cjs';

// The rootfs is assembled in a sibling directory named
//   .<basename(ROOTFS)>.layercopy-<pid>-<random>
// and renamed into place at the end. A staging directory whose pid is no
// longer running was left by a killed provision (SIGKILL, power loss): the
// next provision of the same ROOTFS, or destroy(ROOTFS), removes it.
const STAGING_RE = /^\.(.+)\.layercopy-(\d+)-[0-9a-f]{8}$/;

export function stagingName(rootfs: string): string {
  return `.${path.basename(rootfs)}.layercopy-${process.pid}-${crypto.randomBytes(4).toString('hex')}`;
}

/** Creates the staging directory, mode 0700 until the commit: nothing unprivileged can reach into a half-built tree (CVE-2021-41103). */
export function createStaging(rootfs: string): string {
  const staging = path.join(path.dirname(rootfs), stagingName(rootfs));
  fs.mkdirSync(staging, { mode: 0o700 });
  return staging;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Staging directories of ROOTFS left by processes that no longer run. */
export function staleStagings(rootfs: string): string[] {
  const parent = path.dirname(rootfs);
  const base = path.basename(rootfs);
  let names: string[];
  try {
    names = fs.readdirSync(parent);
  } catch {
    return [];
  }
  return names
    .filter((name) => {
      const m = STAGING_RE.exec(name);
      return m !== null && m[1] === base && !alive(Number(m[2]));
    })
    .map((name) => path.join(parent, name));
}

/** Removes a tree without following symlinks; read-only directories are made writable first. */
export function removeTree(target: string): void {
  const failure = native.removeEntry(path.dirname(target), Buffer.from(path.basename(target)).toString('latin1'), true);
  if (failure) {
    const [name, description] = systemError(failure.errno);
    throw new LayercopyError(`remove ${target}: ${failure.syscall} failed: ${name} (${description})`, {
      code: name,
      path: target,
      syscall: failure.syscall,
      errno: -failure.errno,
    });
  }
}

/** Renames staging to ROOTFS, refusing to replace anything that appeared there meanwhile. */
export function commit(staging: string, rootfs: string): void {
  const errno = native.renameNoReplace(staging, rootfs);
  if (errno === 0) return;
  const [name, description] = systemError(errno);
  if (name === 'EEXIST') {
    throw new LayercopyError(`Rootfs is already provisioned: ${rootfs} appeared while provisioning`, {
      code: 'ERR_ALREADY_PROVISIONED',
      path: rootfs,
    });
  }
  throw new LayercopyError(`commit ${rootfs}: rename failed: ${name} (${description})`, {
    code: name,
    path: rootfs,
    syscall: 'rename',
    errno: -errno,
  });
}
