import fs from 'node:fs';
import path from 'node:path';
import { asLayercopyError, LayercopyError } from '../core/errors.js';

/** What a registry is logged in with: a user and password (Basic, or for the token server), or an OAuth2 identity (refresh) token. */
/** A registry's credentials; `origin` says where they were found ('--creds', 'auths in FILE', 'credHelpers in FILE'), for an error that they were refused. */
export type Credentials = ({ username: string; password: string } | { identityToken: string }) & { origin?: string };

/** An auth file to read: containers-auth.json(5) or Docker's config.json; legacy is ~/.dockercfg (the auths map alone, keyed by URLs). */
export interface AuthFile {
  path: string;
  legacy: boolean;
}

/** An auth file's content, as far as a pull reads it. */
export interface AuthFileContent {
  auths: Record<string, { auth?: unknown; identitytoken?: unknown }>;
  credHelpers: Record<string, unknown>;
  credsStore?: string;
}

/**
 * The auth files to search, in order, as containers/image's
 * getAuthFilePaths: a file named by --authfile or $REGISTRY_AUTH_FILE
 * (as podman and skopeo read that variable) alone; else
 * $XDG_RUNTIME_DIR/containers/auth.json (/run/containers/UID/auth.json
 * without it), $XDG_CONFIG_HOME/containers/auth.json (~/.config),
 * $DOCKER_CONFIG/config.json (~/.docker), ~/.dockercfg. A named file that
 * does not exist is an error (podman refuses it too); the others may be
 * missing.
 */
export function authFiles(authfile: string | undefined, env: NodeJS.ProcessEnv, home: string): AuthFile[] {
  const named = authfile ?? (env.REGISTRY_AUTH_FILE === '' ? undefined : env.REGISTRY_AUTH_FILE);
  if (named !== undefined) {
    if (!fs.existsSync(named)) {
      const what = authfile !== undefined ? `--authfile ${named}: no such file` : `$REGISTRY_AUTH_FILE names ${named}, which does not exist`;
      throw new LayercopyError(what, { code: 'ERR_INVALID_ARGUMENT', path: named });
    }
    return [{ path: named, legacy: false }];
  }
  const files: AuthFile[] = [];
  // A $XDG_RUNTIME_DIR that does not exist is skipped, as containers/image skips it (with a warning), so that public images still pull.
  if (env.XDG_RUNTIME_DIR) files.push({ path: path.join(env.XDG_RUNTIME_DIR, 'containers/auth.json'), legacy: false });
  else files.push({ path: `/run/containers/${process.getuid?.() ?? 0}/auth.json`, legacy: false });
  files.push({ path: path.join(env.XDG_CONFIG_HOME || path.join(home, '.config'), 'containers/auth.json'), legacy: false });
  files.push({ path: path.join(env.DOCKER_CONFIG || path.join(home, '.docker'), 'config.json'), legacy: false });
  files.push({ path: path.join(home, '.dockercfg'), legacy: true });
  return files;
}

/** An auth file's content, or undefined where it does not exist. JSON that does not parse is ERR_AUTH, naming the file. */
export function readAuthFile(file: AuthFile): AuthFileContent | undefined {
  let text: string;
  try {
    text = fs.readFileSync(file.path, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    throw asLayercopyError(e, `reading the auth file ${file.path}`);
  }
  const fail = (what: string, cause?: unknown) => new LayercopyError(`auth file ${file.path}: ${what}`, { code: 'ERR_AUTH', path: file.path, cause });
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw fail(`not valid JSON: ${(e as Error).message}`, e);
  }
  if (!isObject(json)) throw fail('not a JSON object');
  if (file.legacy) return { auths: entries(json), credHelpers: {} };
  if (json.auths !== undefined && !isObject(json.auths)) throw fail('"auths" is not an object');
  if (json.credHelpers !== undefined && !isObject(json.credHelpers)) throw fail('"credHelpers" is not an object');
  const content: AuthFileContent = { auths: entries(json.auths ?? {}), credHelpers: (json.credHelpers ?? {}) as Record<string, unknown> };
  if (typeof json.credsStore === 'string' && json.credsStore !== '') content.credsStore = json.credsStore;
  return content;
}

/**
 * The `auths` entry for `key` (a registry, or registry/namespace/repo), as
 * containers/image's findCredentialsInFile: the key, then each shorter
 * namespace down to the registry, exact matches; then any entry whose key,
 * read as a URL (`https://index.docker.io/v1/`), names the registry. The
 * first entry found decides: one without `user:password` and without an
 * identity token (Docker writes `{}` where a helper holds the secret) is
 * none.
 */
export function findInAuths(content: AuthFileContent, key: string, file: AuthFile): Credentials | undefined {
  const registry = key.split('/')[0];
  const candidates = file.legacy ? [registry] : key.split('/').map((_, i, parts) => parts.slice(0, parts.length - i).join('/'));
  const exact = candidates.find((k) => Object.hasOwn(content.auths, k));
  const wanted = normalizeRegistry(registry);
  const found = exact ?? Object.keys(content.auths).find((k) => normalizeAuthKey(k, file.legacy) === wanted);
  return found === undefined ? undefined : decode(content.auths[found], found, file.path);
}

// Standard base64, padded, as Go's base64.StdEncoding reads it (Buffer.from skips what is not base64, so `"auth":
// "user:pass"` written unencoded would decode to bytes with no ':' and be passed over in silence). Go skips CR and LF:
// `base64` wraps at 76 columns, and a long secret (GCR's _json_key) written from its output is accepted by podman.
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

function decode(entry: { auth?: unknown; identitytoken?: unknown }, key: string, file: string): Credentials | undefined {
  if (typeof entry.identitytoken === 'string' && entry.identitytoken !== '') return { identityToken: entry.identitytoken };
  if (typeof entry.auth !== 'string') return undefined;
  // containers/image refuses it too (decodeDockerAuth): the entry is for this registry, and skipping it would pull anonymously.
  const auth = entry.auth.replace(/[\r\n]/g, '');
  if (!BASE64.test(auth))
    throw new LayercopyError(`auth file ${file}: auths["${key}"].auth is not base64: it holds base64 of USER:PASSWORD (printf %s USER:PASSWORD | base64 -w0)`, {
      code: 'ERR_AUTH',
      path: file,
    });
  const decoded = Buffer.from(auth, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return undefined;
  // Some writers pad the password with NULs; containers/image trims them.
  return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1).replace(/^\0+|\0+$/g, '') };
}

/** Docker Hub's names, as auth files key it. */
export function normalizeRegistry(registry: string): string {
  return registry === 'docker.io' || registry === 'registry-1.docker.io' ? 'index.docker.io' : registry;
}

/** A key written as a URL (http[s]://host/v1/) names its host. */
function normalizeAuthKey(key: string, legacy: boolean): string {
  const stripped = key.replace(/^https?:\/\//, '');
  return normalizeRegistry(legacy || stripped !== key ? stripped.split('/')[0] : stripped);
}

function entries(v: unknown): AuthFileContent['auths'] {
  const out: AuthFileContent['auths'] = {};
  for (const [k, e] of Object.entries(v as Record<string, unknown>)) if (isObject(e)) out[k] = e;
  return out;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
