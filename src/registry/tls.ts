import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { extraCaCerts, startupCaCerts } from '../core/command-env.js';
import { asLayercopyError, LayercopyError } from '../core/errors.js';
import { apiHost } from './reference.js';

/** The codes of TLS failures (a certificate not trusted, a plain-HTTP port): no retry cures them. */
export const TLS_FAILURE = /^(ERR_SSL_|ERR_TLS_|CERT_|UNABLE_TO_|DEPTH_ZERO_|SELF_SIGNED_|HOSTNAME_MISMATCH)/;

/**
 * How to connect to one registry host. `ca` holds only the extra CAs of
 * certs.d: secureContext() adds them to Node's own.
 */
export interface TlsConfig {
  /** Extra CA certificates (PEM), from the `*.crt` files. */
  ca?: string[];
  /** The client certificate and its key (PEM), from a `NAME.cert` and `NAME.key` pair. */
  cert?: string;
  key?: string;
  /** false: any certificate accepted (--tls-verify=false, or the registry is insecure in registries.conf). */
  verify: boolean;
  /** Plain http:// allowed (as verify is false). */
  allowHttp: boolean;
  /** The files read, for messages. */
  files: string[];
}

/** Where containers/image looks for HOST[:PORT]/, in order; the first that exists is read, alone. */
export function certsDirs(): string[] {
  return [path.join(os.homedir(), '.config/containers/certs.d'), '/etc/containers/certs.d', '/etc/docker/certs.d'];
}

/**
 * The TLS settings for `host` (host[:port], as connected to) by
 * containers-certs.d(5): `--cert-dir DIR` is the directory holding the
 * files (as podman's and skopeo's flag), else HOST[:PORT]/ under the first
 * of `systemDirs` (default certsDirs()) where it exists. Docker Hub's files
 * are under docker.io/, the name users know, as containers/image reads them.
 * `tlsVerify` is --tls-verify: given, it decides; left out, `insecure`
 * (registries.conf) does.
 */
export function tlsFor(host: string, opts: { certDir?: string; tlsVerify?: boolean; insecure?: boolean; systemDirs?: string[] }): TlsConfig {
  const verify = opts.tlsVerify ?? !opts.insecure;
  const dir = opts.certDir ?? hostDir(host === apiHost('docker.io') ? 'docker.io' : host, opts.systemDirs ?? certsDirs());
  const config: TlsConfig = { verify, allowHttp: !verify, files: [] };
  if (dir === undefined) return config;
  const names = listDir(dir, opts.certDir !== undefined);
  const read = (name: string) => {
    const file = path.join(dir, name);
    try {
      const text = fs.readFileSync(file, 'utf8');
      config.files.push(file);
      return text;
    } catch (e) {
      throw asLayercopyError(e, `reading ${file} (TLS files for ${host})`);
    }
  };
  const ca = names.filter((n) => n.endsWith('.crt')).map(read);
  if (ca.length > 0) config.ca = ca;
  const pair = clientPair(dir, names);
  if (pair !== undefined) {
    config.cert = read(pair.cert);
    config.key = read(pair.key);
  }
  return config;
}

function hostDir(name: string, dirs: string[]): string | undefined {
  // A redirect to https://../x has the host '..': certs.d's parent was read as its directory (and a stray key there failed the pull as a usage error).
  if (name === '' || name === '.' || name === '..' || /[/\\\0]/.test(name)) return undefined;
  return dirs.map((d) => path.join(d, name)).find((d) => fs.existsSync(d));
}

/** The directory's names, sorted; a --cert-dir that does not exist is an error (the user named it), a certs.d entry that vanished is none. */
function listDir(dir: string, named: boolean): string[] {
  try {
    return fs.readdirSync(dir).sort();
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT' && !named) return [];
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new LayercopyError(`--cert-dir ${dir}: no such directory`, { code: 'ERR_INVALID_ARGUMENT', path: dir, cause: e });
    }
    throw asLayercopyError(e, `reading the TLS directory ${dir}`);
  }
}

/** The one NAME.cert + NAME.key pair; either half alone, or more than one pair, is refused (one client certificate is what is sent). */
function clientPair(dir: string, names: string[]): { cert: string; key: string } | undefined {
  const fail = (what: string) => new LayercopyError(`${dir}: ${what}`, { code: 'ERR_INVALID_ARGUMENT', path: dir });
  const certs = names.filter((n) => n.endsWith('.cert'));
  for (const cert of certs) {
    const key = `${cert.slice(0, -'.cert'.length)}.key`;
    if (!names.includes(key)) throw fail(`client certificate ${cert} has no key ${key} beside it (CA certificates are named *.crt)`);
  }
  for (const key of names.filter((n) => n.endsWith('.key'))) {
    const cert = `${key.slice(0, -'.key'.length)}.cert`;
    if (!names.includes(cert)) throw fail(`key ${key} has no client certificate ${cert} beside it`);
  }
  if (certs.length > 1) throw fail(`${certs.length} client certificates (${certs.join(', ')}); layercopy sends one: keep one NAME.cert and NAME.key pair`);
  return certs.length === 0 ? undefined : { cert: certs[0], key: `${certs[0].slice(0, -'.cert'.length)}.key` };
}

/**
 * One TLS context for every connection of an agent: given CAs, Node would
 * parse them again for each socket. Extra CAs (certs.d's, and the file
 * NODE_EXTRA_CA_CERTS names where the bin script deferred it) are added to
 * Node's own roots, not put in their place. Node's own roots are the store
 * it starts with, not tls.rootCertificates: that is its bundle only, while
 * with --use-openssl-ca (or a distribution's build that uses the system
 * store) Node trusts OpenSSL's store (/etc/ssl/certs, SSL_CERT_FILE), which
 * `ca: [...tls.rootCertificates, …]` would drop. Undefined: Node's default.
 */
export function secureContext(config: Pick<TlsConfig, 'ca' | 'cert' | 'key'> & { verify?: boolean }): tls.SecureContext | undefined {
  // Nothing is verified (--tls-verify=false), no client certificate sent:
  // no CA is read, nor Node's root store built (`ca: []`). Each took ~25 ms
  // before a pull's first request: the file the command deferred, and the
  // store Node builds for its first default context. A client certificate
  // still gets the CAs: OpenSSL sends its chain's intermediates from them.
  if (config.verify === false && config.cert === undefined) {
    unverified ??= tls.createSecureContext({ ca: [] });
    return unverified;
  }
  const extra = extraCaCerts();
  const ca = [...(extra ? [extra] : []), ...(config.ca ?? [])];
  // Without certs.d's CAs or a client pair (a proxy's own TLS, asked for at
  // every CONNECT) the context is the same each time: made once, as it
  // costs 20-50 ms with the system bundle deferred.
  if (!config.ca?.length && config.cert === undefined) {
    if (!shared || shared.extra !== extra) shared = { extra, context: makeContext(ca, config) };
    return shared.context;
  }
  return makeContext(ca, config);
}

let shared: { extra: string | undefined; context: tls.SecureContext | undefined } | undefined;
let unverified: tls.SecureContext | undefined;

function makeContext(ca: string[], config: Pick<TlsConfig, 'cert' | 'key'>): tls.SecureContext | undefined {
  if (ca.length === 0 && config.cert === undefined) return undefined;
  // Without `ca`, the context starts from Node's root store; addCACert
  // (what the `ca` option calls for each entry) adds to a copy of it.
  // Node's copy leaves out what it read from NODE_EXTRA_CA_CERTS as it
  // started (`node cli.js`): those are added back.
  const context = tls.createSecureContext({ cert: config.cert, key: config.key });
  const started = ca.length > 0 ? startupCaCerts() : undefined;
  for (const pem of [...(started ? [started] : []), ...ca]) context.context.addCACert(pem);
  return context;
}
