// Running layercopy as another user, or as root of a user namespace, for the
// rootless tests: the CLI in a process of its own (setpriv, unshare), its
// summary or error parsed from --json.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import type { ProvisionSummary } from '../src/index.js';
import { buildLayer, enteredUserNamespace, type LayerSpec, native, scratch } from './helpers.js';
import { tarDir } from './images/fixtures.js';

export const cli = fileURLToPath(new URL('../dist/src/cli.js', import.meta.url));

export interface CliRun {
  exitCode: number;
  stdout: string;
  stderr: string;
  /** The --json object: a summary, or { error }. */
  json: Partial<ProvisionSummary> & { error?: { code: string; message: string; path?: string } };
}

async function parsed(child: Promise<{ exitCode?: number; stdout: string; stderr: string }>): Promise<CliRun> {
  const r = await child;
  let json: CliRun['json'] = {};
  try {
    json = JSON.parse(r.stdout);
  } catch {
    // not --json, or nothing printed
  }
  return { exitCode: r.exitCode ?? -1, stdout: r.stdout, stderr: r.stderr, json };
}

/** `layercopy ARGS` as nobody:nogroup, no supplementary groups. */
export function asNobody(args: string[], prefix: string[] = []): Promise<CliRun> {
  return parsed(execa('setpriv', ['--reuid=nobody', '--regid=nogroup', '--clear-groups', ...prefix, process.execPath, cli, ...args], { reject: false }));
}

/** `layercopy ARGS` as this process's user (root). */
export function asRoot(args: string[]): Promise<CliRun> {
  return parsed(execa(process.execPath, [cli, ...args], { reject: false }));
}

/**
 * `layercopy ARGS` as root of a fresh user namespace whose uid_map and
 * gid_map are `map` ("0 100000 65536": what newuidmap writes for a user
 * with a subuid range). The namespace is made by host uid `map`'s first
 * host ID, which the map makes its root, and sh waits for the map before
 * it execs node: a process gets its capabilities in the namespace at
 * execve, as uid 0 only once the map exists. Written from outside (root of
 * the parent namespace): no newuidmap needed.
 */
export async function inUserNamespace(map: string, args: string[]): Promise<CliRun> {
  const host = map.trim().split(/\s+/)[1];
  const child = execa(
    'setpriv',
    [`--reuid=${host}`, `--regid=${host}`, '--clear-groups', 'unshare', '-U', '--', 'sh', '-c', 'read go; exec "$@"', 'sh', process.execPath, cli, ...args],
    { stdin: 'pipe', reject: false },
  );
  await enteredUserNamespace(child.pid!);
  fs.writeFileSync(`/proc/${child.pid}/uid_map`, `${map}\n`);
  fs.writeFileSync(`/proc/${child.pid}/gid_map`, `${map}\n`);
  child.stdin!.end('go\n');
  return parsed(child);
}

/** A scratch directory everyone may write into (the rootfs's parent for another user). */
export function openScratch(): string {
  const dir = scratch();
  fs.chmodSync(dir, 0o777);
  return dir;
}

/** A layer directory (built as root) and the same layer as a tarball beside it (GNU tar, PAX, xattrs, numeric owners). */
export function layerPair(dir: string, name: string, spec: LayerSpec): { dir: string; tar: string } {
  const layer = buildLayer(path.join(dir, name), spec, { mode: 0o755 });
  const tar = path.join(dir, `${name}.tar`);
  fs.writeFileSync(tar, tarDir(layer));
  fs.chmodSync(tar, 0o644);
  return { dir: layer, tar };
}

/** The xattrs of an entry, values as hex. */
export function xattrsHex(p: string): Record<string, string> {
  return Object.fromEntries(Object.entries(native.lgetxattrs(p)).map(([k, v]) => [k, v.toString('hex')]));
}
