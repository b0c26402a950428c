import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import type { Duplex } from 'node:stream';
import tls from 'node:tls';
import { secureContext, TLS_FAILURE } from './tls.js';

// Requests through a forward proxy (HTTPS_PROXY, HTTP_PROXY, NO_PROXY: proxySetting): a tunnel
// opened with CONNECT for every connection, https and plain http alike (as
// Go's and undici's clients do for https), TLS to the registry inside it,
// so the proxy sees host and port only. The proxy URL's user:password is
// sent as Basic Proxy-Authorization.

/** A proxy's answer to CONNECT other than 200: a 4xx (refused, 407 wants credentials) is no network failure a retry cures. */
export const PROXY_REFUSED = 'ERR_PROXY_REFUSED';
/** An https:// proxy whose own certificate failed: told apart from the registry's (whose CA goes in --cert-dir). */
export const PROXY_TLS = 'ERR_PROXY_TLS';

function connectThrough(proxy: URL, variable: string | undefined, authority: string, idleMs: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { host: authority };
    if (proxy.username) {
      const user = `${decodeURIComponent(proxy.username)}:${decodeURIComponent(proxy.password)}`;
      headers['proxy-authorization'] = `Basic ${Buffer.from(user).toString('base64')}`;
    }
    const secure = proxy.protocol === 'https:';
    const req = (secure ? https : http).request({
      host: proxy.hostname.replace(/^\[(.*)\]$/, '$1'),
      port: proxy.port || (secure ? 443 : 80),
      method: 'CONNECT',
      path: authority,
      headers,
      agent: false,
      // The proxy's own certificate: Node's CAs and NODE_EXTRA_CA_CERTS's (core/command-env.ts).
      ...(secure ? { secureContext: secureContext({}) } : {}),
    });
    // The registry request's own timer starts only once it has a socket,
    // which a tunnel gives it after CONNECT is answered: a proxy that takes
    // the connection and never answers would hang the pull.
    req.setTimeout(idleMs, () =>
      req.destroy(Object.assign(new Error(`no answer from the proxy ${proxy.host} to CONNECT ${authority} in ${idleMs / 1000} s`), { code: 'ETIMEDOUT', proxy: proxy.host })),
    );
    req.once('connect', (res, socket, head) => {
      if (res.statusCode !== 200) {
        socket.destroy();
        const code = (res.statusCode ?? 0) < 500 ? PROXY_REFUSED : 'ERR_PROXY_FAILED';
        reject(Object.assign(new Error(`the proxy ${proxy.host} answered CONNECT ${authority} with ${res.statusCode} ${res.statusMessage ?? ''}`), { code, proxy: proxy.host }));
        return;
      }
      if (head.length > 0) socket.unshift(head);
      resolve(socket);
    });
    req.once('error', (error: Error & { code?: string; proxy?: string }) => {
      if (error.proxy) return reject(error);
      if (!secure || !TLS_FAILURE.test(error.code ?? '')) {
        // Refused, reset, a name not found: the proxy's failure, not the
        // registry's. The code stays, so that it is retried as any network failure.
        const who = `the proxy ${proxy.host}${variable ? ` (${variable})` : ''}`;
        return reject(Object.assign(new Error(`CONNECT ${authority} through ${who} failed: ${error.message}`, { cause: error }), { code: error.code, proxy: proxy.host }));
      }
      const why = `TLS to the proxy ${proxy.host} failed: ${error.code}: ${error.message} (the proxy's CA goes in NODE_EXTRA_CA_CERTS)`;
      reject(Object.assign(new Error(why, { cause: error }), { code: PROXY_TLS, proxy: proxy.host }));
    });
    req.end();
  });
}

/** How a proxy is named in the environment: the variable read, and its value as given. */
interface ProxySetting {
  variable: string;
  value: string;
}

/** The first of these variables that is set, as Go's getEnvAny reads them (upper case first). */
function setting(env: NodeJS.ProcessEnv, ...names: string[]): ProxySetting | undefined {
  for (const variable of names) {
    const value = env[variable];
    if (value) return { variable, value };
  }
  return undefined;
}

/** An address as Go's net.SplitHostPort reads it, lenient where it fails: `[v6]` and a bare v6 address are a host with no port. */
function splitHostPort(s: string): [host: string, port: string | undefined] {
  if (s.startsWith('[')) {
    const end = s.indexOf(']');
    if (end < 0) return [s, undefined];
    const rest = s.slice(end + 1);
    return [s.slice(1, end), rest.startsWith(':') ? rest.slice(1) : undefined];
  }
  const colon = s.indexOf(':');
  return colon >= 0 && colon === s.lastIndexOf(':') ? [s.slice(0, colon), s.slice(colon + 1)] : [s, undefined];
}

const family = (ip: string) => (net.isIPv4(ip) ? 'ipv4' : 'ipv6');

// Loopback as Go's net.IP.IsLoopback: 127.0.0.0/8 and ::1 (BlockList also
// matches an IPv4-mapped ::ffff:127.x against the IPv4 subnet, as Go does).
const LOOPBACK = new net.BlockList();
LOOPBACK.addSubnet('127.0.0.0', 8, 'ipv4');
LOOPBACK.addAddress('::1', 'ipv6');

/** Whether one NO_PROXY entry names this host (lower case, brackets off) and port, by golang.org/x/net/http/httpproxy's rules. */
function excludes(entry: string, host: string, port: string): boolean {
  const ip = net.isIP(host) ? host : undefined;
  const cidr = /^(.*)\/(\d+)$/.exec(entry);
  if (cidr) {
    if (!ip || !net.isIP(cidr[1])) return false;
    const subnet = new net.BlockList();
    try {
      subnet.addSubnet(cidr[1], Number(cidr[2]), family(cidr[1]));
    } catch {
      return false;
    }
    return subnet.check(ip, family(ip));
  }
  const [name, eport] = splitHostPort(entry);
  if (!name || (eport !== undefined && eport !== port)) return false;
  if (net.isIP(name)) {
    if (!ip) return false;
    const one = new net.BlockList();
    one.addAddress(name, family(name));
    return one.check(ip, family(ip));
  }
  // A domain never matches an IP literal ("0.1" is no suffix of 10.0.0.1).
  if (ip) return false;
  // `corp` is that host and its subdomains; `.corp` and `*.corp` its subdomains only.
  const suffix = name.startsWith('*.') ? name.slice(1) : name;
  return suffix.startsWith('.') ? host.endsWith(suffix) : host === suffix || host.endsWith(`.${suffix}`);
}

/**
 * The proxy setting for a request, as Go's net/http
 * (golang.org/x/net/http/httpproxy, what skopeo and podman use) reads the
 * environment, and curl much alike: HTTPS_PROXY for https, HTTP_PROXY for
 * plain http (`plain`), upper case first, then lower; none for `localhost`
 * or a loopback IP (127.0.0.0/8, ::1), whatever the variables say (a
 * per-node mirror on 127.0.0.1 never goes through a corporate proxy), nor
 * for a host NO_PROXY names. NO_PROXY is a list (commas or spaces) of `*`,
 * IPs and CIDRs (`10.0.0.0/8`, `fd00::/8`), matched against IP literals
 * only, and domains (`corp`: the host and its subdomains; `.corp` or
 * `*.corp`: subdomains only), matched against names only; IPs and domains
 * may carry a `:port` (the scheme's default where the host has none).
 */
function proxySetting(host: string, plain: boolean, env: NodeJS.ProcessEnv): ProxySetting | undefined {
  const proxy = plain ? setting(env, 'HTTP_PROXY', 'http_proxy') : setting(env, 'HTTPS_PROXY', 'https_proxy');
  if (!proxy) return undefined;
  const [name, given] = splitHostPort(host.trim().toLowerCase());
  const port = given || (plain ? '80' : '443');
  if (name === 'localhost' || (net.isIP(name) && LOOPBACK.check(name, family(name)))) return undefined;
  const noProxy = (setting(env, 'NO_PROXY', 'no_proxy')?.value ?? '')
    .toLowerCase()
    .split(/[,\s]+/)
    .filter(Boolean);
  if (noProxy.includes('*') || noProxy.some((entry) => excludes(entry, name, port))) return undefined;
  return proxy;
}

/** The proxy URL for a request to `host` (a URL's host: name or [v6], and port), plain HTTP or not; see proxySetting. */
export function proxyFor(host: string, plain: boolean, env: NodeJS.ProcessEnv = process.env): string | undefined {
  return proxySetting(host, plain, env)?.value;
}

/** A proxy to tunnel through, and the variable that named it (for messages). */
export interface Proxy {
  url: URL;
  variable: string;
}

/** A proxy value given where none can be used: not a URL, or a scheme other than http and https. */
export const PROXY_URL = 'ERR_PROXY_URL';

/** A proxy value as Go's parseProxy reads it: a URL, or `host[:port]` meaning http://host[:port] (as curl assumes too). */
export function parseProxy({ variable, value }: { variable: string; value: string }): Proxy {
  // Credentials stay out of messages.
  // Everything before the last '@' after the scheme: a password may hold '/' or '@' (raw, not percent-encoded).
  const at = value.lastIndexOf('@');
  const scheme = /^[a-z][a-z0-9+.-]*:\/\//i.exec(value)?.[0] ?? '';
  const shown = `${variable}=${at >= 0 ? `${scheme}***${value.slice(at)}` : value}`;
  let url: URL | undefined;
  try {
    url = new URL(value);
  } catch {}
  // `localhost:3128` parses as the scheme `localhost:`, with no host; a
  // value with `://` that fails is no URL (`http://http://p:99999` would parse).
  if (!url?.host && !value.includes('://')) {
    try {
      url = new URL(`http://${value}`);
    } catch {}
  }
  if (!url?.host) throw Object.assign(new Error(`${shown} is not a proxy URL (http://HOST:PORT, https://HOST:PORT or HOST:PORT)`), { code: PROXY_URL });
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    const why = `unsupported proxy scheme ${url.protocol.slice(0, -1)}: layercopy tunnels through HTTP proxies only (http:// or https://, with CONNECT)`;
    throw Object.assign(new Error(`${shown}: ${why}`), { code: PROXY_URL });
  }
  return { url, variable };
}

/** The proxy for a request to `target` (see proxySetting), or none; a proxy value that cannot be used throws ERR_PROXY_URL. */
export function proxyOf(target: URL, env: NodeJS.ProcessEnv = process.env): Proxy | undefined {
  const found = proxySetting(target.host, target.protocol === 'http:', env);
  return found && parseProxy(found);
}

/**
 * A keep-alive agent whose connections are tunnels through `proxy`
 * (named by the environment variable `variable`, for messages); `options`
 * are the registry's TLS (for https); a CONNECT unanswered for `idleMs` fails.
 * Every failure of the proxy's own carries `proxy` (its host), so that a
 * message names it and not the registry.
 */
export function tunnelAgent(proxy: URL, secure: boolean, options: https.AgentOptions, idleMs: number, variable?: string): http.Agent {
  const agent = secure ? new https.Agent(options) : new http.Agent({ keepAlive: true });
  agent.createConnection = (opts: http.ClientRequestArgs, callback?: (err: Error | null, stream: Duplex) => void) => {
    const host = opts.host ?? 'localhost';
    const authority = `${net.isIPv6(host) ? `[${host}]` : host}:${opts.port}`;
    // A request's own bound (a mirror's answer, transport.ts) holds for the tunnel too: the request's timer starts only once it has a socket.
    const limit = typeof opts.timeout === 'number' && opts.timeout > 0 ? Math.min(opts.timeout, idleMs) : idleMs;
    connectThrough(proxy, variable, authority, limit).then(
      (socket) => callback?.(null, secure ? tls.connect({ ...(opts as tls.ConnectionOptions), socket }) : socket),
      (error) => callback?.(error, undefined as unknown as Duplex),
    );
    return undefined;
  };
  return agent;
}
