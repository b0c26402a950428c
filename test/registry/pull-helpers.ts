// Running `layercopy provision --json` against the test registries, in an
// environment of the test's own (no registries.conf, auth file or certs.d of
// this machine's).
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { scratch } from '../helpers.js';

export const cli = fileURLToPath(new URL('../../dist/src/cli.js', import.meta.url));
/** The command npm links (a shell script and a CommonJS module that starts cli.js: src/cli/layercopy.cjs). */
export const command = fileURLToPath(new URL('../../dist/src/layercopy.cjs', import.meta.url));

/** An environment that reads no registries.conf, auth file or certs.d of this machine's, but what the test writes. */
export function isolated(extra: Record<string, string> = {}): Record<string, string> {
  const home = scratch();
  const conf = path.join(home, 'registries.conf');
  fs.writeFileSync(conf, '');
  fs.writeFileSync(path.join(home, 'auth.json'), '{}');
  return { HOME: home, CONTAINERS_REGISTRIES_CONF: conf, REGISTRY_AUTH_FILE: path.join(home, 'auth.json'), XDG_RUNTIME_DIR: home, ...extra };
}

/** `layercopy provision --json ARGS…` as a process (`node cli.js`, or the command users run); the parsed stdout. */
export async function pull(args: string[], env: Record<string, string> = isolated(), { viaCommand = false } = {}) {
  const argv = ['provision', '--json', ...args];
  const r = await (viaCommand ? execa(command, argv, { reject: false, env, extendEnv: true }) : execa('node', [cli, ...argv], { reject: false, env, extendEnv: true }));
  let json: { error?: { code: string; message: string; layer?: string; layerIndex?: number } } & Record<string, unknown> = {};
  try {
    json = JSON.parse(r.stdout);
  } catch {
    json = {};
  }
  return { status: r.exitCode, json, stderr: r.stderr };
}
