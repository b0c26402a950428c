import { LayercopyError } from '../core/errors.js';
import type { Credentials } from './auth-files.js';

// What docker-credential-helpers' helpers print (on stdout, exit 1) for a server they hold nothing for.
const NOT_FOUND = 'credentials not found in native keychain';

/**
 * Asks `docker-credential-NAME get` for a server's credentials, by the
 * helpers' protocol: the server URL on stdin, `{"ServerURL", "Username",
 * "Secret"}` on stdout; Username `<token>` means Secret is an identity
 * token. Undefined where the helper holds none. A helper that is not on
 * PATH, fails otherwise or prints something else is ERR_AUTH, naming it and
 * where it was configured (`origin`); its output is quoted only where it
 * failed, never where it may hold a secret.
 */
export async function askCredentialHelper(name: string, serverURL: string, env: NodeJS.ProcessEnv, origin: string): Promise<Credentials | undefined> {
  const program = `docker-credential-${name}`;
  const fail = (what: string, cause?: unknown) => new LayercopyError(`credential helper ${program} (${origin}): ${what}`, { code: 'ERR_AUTH', cause });
  // Loaded here, not with the module: execa takes ~90 ms to load, which a pull without a helper (most) would pay at start.
  const { execa } = await import('execa');
  // The helper is looked up on the PATH of `env`; nothing else of this process's environment is added.
  const result = await execa(program, ['get'], { input: serverURL, env, extendEnv: false, reject: false });
  if (result.code === 'ENOENT') throw fail('not found on PATH: install it, or remove it from the auth file', result);
  // execvp's EACCES: a file of that name without x, or (not found elsewhere) a PATH directory this
  // user may not search, as root's PATH (/root/...) kept through sudo -E or setpriv gives another user.
  if (result.code === 'EACCES') throw fail('not executable, or on PATH only past a directory this user may not search (EACCES): check its mode and PATH', result);
  if (result.exitCode !== 0) {
    if (result.stdout.trim() === NOT_FOUND || result.stderr.trim() === NOT_FOUND) return undefined;
    const said = (result.stderr.trim() || result.stdout.trim()).slice(0, 2000);
    const how = result.exitCode === undefined ? (result.signal ?? result.originalMessage) : `exit status ${result.exitCode}`;
    throw fail(`${serverURL}: failed (${how})${said === '' ? '' : `: ${said}`}`, result);
  }
  let reply: unknown;
  try {
    reply = JSON.parse(result.stdout);
  } catch {
    throw fail(`${serverURL}: printed no credentials (a JSON object with Username and Secret was expected)`);
  }
  const { Username, Secret } = (reply ?? {}) as { Username?: unknown; Secret?: unknown };
  if (typeof Username !== 'string' || typeof Secret !== 'string') throw fail(`${serverURL}: printed no Username and Secret strings`);
  if (Username === '<token>') return { identityToken: Secret };
  // Some helpers answer an unknown server with empty strings rather than the not-found message.
  if (Username === '' && Secret === '') return undefined;
  return { username: Username, password: Secret };
}
