import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import type { Duplex } from 'node:stream';
import tls from 'node:tls';
import { TLS_FAILURE } from './tls.js';

// Requests through a forward proxy (HTTPS_PROXY, HTTP_PROXY, NO_PROXY: proxyFor): a tunnel
// opened with CONNECT for every connection, https and plain http alike (as
// Go's and undici's clients do for https), TLS to the registry inside it,
// so the proxy sees host and port only. The proxy URL's user:password is
// sent as Basic Proxy-Authorization.

/** A proxy's answer to CONNECT other than 200: a 4xx (refused, 407 wants credentials) is no network failure a retry cures. */
export const PROXY_REFUSED = 'ERR_PROXY_REFUSED';
/** An https:// proxy whose own certificate failed: told apart from the registry's (whose CA goes in --cert-dir). */
export const PROXY_TLS = 'ERR_PROXY_TLS';

function connectThrough(proxy: URL, authority: string, idleMs: number): Promise<net.Socket> {
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
    });
    // The registry request's own timer starts only once it has a socket,
    // which a tunnel gives it after CONNECT is answered: a proxy that takes
    // the connection and never answers would hang the pull.
    req.setTimeout(idleMs, () =>
      req.destroy(Object.assign(new Error(`no answer from the proxy ${proxy.host} to CONNECT ${authority} in ${idleMs / 1000} s`), { code: 'ETIMEDOUT' })),
    );
    req.once('connect', (res, socket, head) => {
      if (res.statusCode !== 200) {
        socket.destroy();
        const code = (res.statusCode ?? 0) < 500 ? PROXY_REFUSED : 'ERR_PROXY_FAILED';
        reject(Object.assign(new Error(`the proxy ${proxy.host} answered CONNECT ${authority} with ${res.statusCode} ${res.statusMessage ?? ''}`), { code }));
        return;
      }
      if (head.length > 0) socket.unshift(head);
      resolve(socket);
    });
    req.once('error', (error: Error & { code?: string }) => {
      if (!secure || !TLS_FAILURE.test(error.code ?? '')) return reject(error);
      // Node reads the CAs it trusts besides its own from NODE_EXTRA_CA_CERTS, at start-up.
      const why = `TLS to the proxy ${proxy.host} failed: ${error.code}: ${error.message} (the proxy's CA goes in NODE_EXTRA_CA_CERTS)`;
      reject(Object.assign(new Error(why, { cause: error }), { code: PROXY_TLS }));
    });
    req.end();
  });
}

/**
 * The proxy for a host, as curl and Go read the environment: HTTPS_PROXY
 * (or HTTP_PROXY where plain HTTP may be tried), lower case too; none for a
 * host NO_PROXY names (`*`, a host, a domain suffix such as `.corp` or
 * `corp`, with an optional port).
 */
export function proxyFor(host: string, allowHttp: boolean, env: NodeJS.ProcessEnv = process.env): string | undefined {
  const proxy = env.HTTPS_PROXY || env.https_proxy || (allowHttp ? env.HTTP_PROXY || env.http_proxy : undefined);
  if (!proxy) return undefined;
  const noProxy = (env.NO_PROXY ?? env.no_proxy ?? '').split(/[,\s]+/).filter(Boolean);
  const [name, port] = host.startsWith('[') ? [host.slice(0, host.indexOf(']') + 1), host.split(']:')[1]] : host.split(':');
  for (const entry of noProxy) {
    if (entry === '*') return undefined;
    const [ename, eport] = entry.startsWith('[') ? [entry.slice(0, entry.indexOf(']') + 1), entry.split(']:')[1]] : entry.split(':');
    if (eport !== undefined && eport !== port) continue;
    const domain = ename.replace(/^\*?\./, '');
    if (name === domain || name.endsWith(`.${domain}`)) return undefined;
  }
  return proxy;
}

/** A keep-alive agent whose connections are tunnels through `proxy`; `options` are the registry's TLS (for https); a CONNECT unanswered for `idleMs` fails. */
export function tunnelAgent(proxy: URL, secure: boolean, options: https.AgentOptions, idleMs: number): http.Agent {
  const agent = secure ? new https.Agent(options) : new http.Agent({ keepAlive: true });
  agent.createConnection = (opts: http.ClientRequestArgs, callback?: (err: Error | null, stream: Duplex) => void) => {
    const host = opts.host ?? 'localhost';
    const authority = `${net.isIPv6(host) ? `[${host}]` : host}:${opts.port}`;
    connectThrough(proxy, authority, idleMs).then(
      (socket) => callback?.(null, secure ? tls.connect({ ...(opts as tls.ConnectionOptions), socket }) : socket),
      (error) => callback?.(error, undefined as unknown as Duplex),
    );
    return undefined;
  };
  return agent;
}
