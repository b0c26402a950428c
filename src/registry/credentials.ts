import os from 'node:os';
import { LayercopyError } from '../core/errors.js';
import { credsProblem } from '../core/options.js';
import { authFiles, type Credentials, findInAuths, normalizeRegistry, readAuthFile } from './auth-files.js';
import { askCredentialHelper } from './cred-helper.js';

export type { Credentials } from './auth-files.js';

/** Where credentials come from, ending every message that found none. */
export const NONE_FOUND = '(--creds USER:PASS, --authfile FILE, or an auth file: docs/cli.md, "Credentials")';

/**
 * The credentials for a registry (DockerReference.registry, e.g.
 * 'docker.io' or '127.0.0.1:5000'; or registry/namespace/repo, where
 * auths entries for a namespace or repository count first), or undefined:
 * pull anonymously.
 *
 * `creds` ('USER:PASSWORD', --creds) wins. Else the auth files (see
 * authFiles) in order, as containers/image's pkg/docker/config reads them,
 * the first that has the registry deciding: in each, its `credHelpers`
 * entry for the registry (a helper that holds nothing passes on to the next
 * file), else its `auths` entry, else its `credsStore` (Docker's default
 * helper, which containers/image does not read).
 */
export async function credentialsFor(registry: string, opts: { creds?: string; authfile?: string; env?: NodeJS.ProcessEnv; home?: string } = {}): Promise<Credentials | undefined> {
  if (opts.creds !== undefined) return { ...parseCreds(opts.creds), origin: '--creds' };
  if (/^https?:\/\//.test(registry) || registry.includes('@') || registry === '') {
    throw new LayercopyError(`credentials for "${registry}": name a registry (host[:port]), or a repository on it, without a scheme, tag or digest`, {
      code: 'ERR_INVALID_ARGUMENT',
    });
  }
  const env = opts.env ?? process.env;
  const host = registry.split('/')[0];
  for (const file of authFiles(opts.authfile, env, opts.home ?? os.homedir())) {
    const content = readAuthFile(file);
    if (content === undefined) continue;
    const helper = helperFor(content.credHelpers, host);
    if (helper !== undefined) {
      const found = await ask(helper, host, env, `credHelpers in ${file.path}`);
      if (found !== undefined) return found;
      continue;
    }
    const found = findInAuths(content, registry, file);
    if (found !== undefined) return { ...found, origin: `auths in ${file.path}` };
    if (content.credsStore !== undefined) {
      const stored = await ask(content.credsStore, host, env, `credsStore in ${file.path}`);
      if (stored !== undefined) return stored;
    }
  }
  return undefined;
}

/** --creds USER:PASSWORD, split at the first ':' (a password may hold more). A prompt for a missing password is not offered. */
function parseCreds(creds: string): Credentials {
  const problem = credsProblem(creds);
  if (problem) throw new LayercopyError(`--creds: ${problem}`, { code: 'ERR_INVALID_ARGUMENT' });
  const colon = creds.indexOf(':');
  return { username: creds.slice(0, colon), password: creds.slice(colon + 1) };
}

/** The credHelpers entry for a registry; Docker Hub's may be keyed by any of its names. */
function helperFor(credHelpers: Record<string, unknown>, host: string): string | undefined {
  const keys = host === 'docker.io' ? ['docker.io', 'index.docker.io', 'registry-1.docker.io', 'https://index.docker.io/v1/'] : [host];
  const name = keys.map((k) => credHelpers[k]).find((v) => typeof v === 'string' && v !== '');
  return name as string | undefined;
}

/**
 * Asks a helper for the registry. Docker Hub is asked as 'docker.io' (what
 * podman stores) and then as 'https://index.docker.io/v1/' (what Docker
 * stores).
 */
async function ask(helper: string, host: string, env: NodeJS.ProcessEnv, origin: string): Promise<Credentials | undefined> {
  const urls = normalizeRegistry(host) === 'index.docker.io' ? ['docker.io', 'https://index.docker.io/v1/'] : [host];
  for (const url of urls) {
    const found = await askCredentialHelper(helper, url, env, origin);
    if (found !== undefined) return { ...found, origin: `${origin} (docker-credential-${helper})` };
  }
  return undefined;
}
