import tls from 'node:tls';
import { Agent, type Dispatcher, fetch, ProxyAgent } from 'undici';
import { abortError, LayercopyError } from '../core/errors.js';
import type { TlsConfig } from './tls.js';

// The HTTP side of a pull: one dispatcher per host with that host's TLS
// (containers-certs.d CAs, a client certificate, --tls-verify=false),
// proxies from HTTPS_PROXY/HTTP_PROXY/NO_PROXY (Node's own fetch ignores
// them; undici's EnvHttpProxyAgent is experimental and warns on stderr), and retries: a reset connection, 429 and 5xx are tried again with
// backoff, Retry-After honoured, bounded in count and in time.

export interface RetryPolicy {
  /** Tries per request, the first included. */
  attempts: number;
  /** No retry starts later than this after the first try. */
  budgetMs: number;
  /** The first backoff; doubled each time, capped at 5 s. */
  baseMs: number;
}

// containers/image tries 5 times (pkg/docker: maxRetries = 5 with exponential backoff); so do we.
export const DEFAULT_RETRY: RetryPolicy = { attempts: 5, budgetMs: 60_000, baseMs: 200 };

/**
 * The dispatchers of one pull, one per TLS configuration (requests with the
 * same one share it: keep-alive across layers); closed when the pull ends,
 * so that no socket outlives it.
 */
export class Dispatchers {
  readonly #all = new Map<string, Dispatcher>();

  /** The dispatcher for a host (host[:port]) with its TLS configuration: through the proxy the environment names for it, or direct. */
  for(config: TlsConfig, host: string): Dispatcher {
    const proxy = proxyFor(host, config.allowHttp);
    const key = JSON.stringify([config.ca, config.cert, config.key, config.verify, proxy]);
    let d = this.#all.get(key);
    if (!d) {
      // Extra CAs are added to Node's own, not put in their place.
      const connect = {
        ca: config.ca?.length ? [...tls.rootCertificates, ...config.ca] : undefined,
        cert: config.cert,
        key: config.key,
        rejectUnauthorized: config.verify,
      };
      // Through a proxy the registry's TLS is requestTls (undici's ProxyAgent tunnels with CONNECT).
      d = proxy ? new ProxyAgent({ uri: proxy, requestTls: connect }) : new Agent({ connect });
      this.#all.set(key, d);
    }
    return d;
  }

  async close(): Promise<void> {
    const all = [...this.#all.values()];
    this.#all.clear();
    await Promise.all(all.map((d) => d.destroy().catch(() => undefined)));
  }
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

export type HttpResponse = Awaited<ReturnType<typeof fetch>>;

/** A status worth another try: too many requests, and server errors but 501 (never implemented: no use asking again). */
export const retriable = (status: number) => status === 429 || status === 408 || (status >= 500 && status !== 501);

/** Network failures: a connection reset, refused, cut or timed out; what a retry may cure. */
export function isNetworkError(error: unknown): boolean {
  if (error instanceof LayercopyError) return false;
  const e = error as { name?: string; cause?: { code?: string }; code?: string };
  if (e?.name === 'AbortError') return false;
  return e?.name === 'TypeError' || typeof e?.cause?.code === 'string' || typeof e?.code === 'string';
}

// TLS failures (a certificate not trusted, a plain-HTTP port): no retry cures them.
const TLS_FAILURE = /^(ERR_SSL_|ERR_TLS_|CERT_|UNABLE_TO_|DEPTH_ZERO_|SELF_SIGNED_|HOSTNAME_MISMATCH|ERR_INVALID_URL)/;

/** The code of the failure a fetch's TypeError carries ('ECONNRESET', 'ERR_SSL_WRONG_VERSION_NUMBER'). */
const causeCode = (error: unknown) => (error as { cause?: { code?: string } })?.cause?.code ?? '';

/** A failure worth another try: the network's, not TLS's. */
export const isTransient = (error: unknown) => isNetworkError(error) && !TLS_FAILURE.test(causeCode(error));

/** Where TLS failed, what to do about it. */
export function tlsHint(error: unknown): string {
  const code = causeCode(error);
  if (code === 'ERR_SSL_WRONG_VERSION_NUMBER' || code === 'ERR_SSL_PACKET_LENGTH_TOO_LONG') return ' (the registry speaks plain HTTP? --tls-verify=false allows it)';
  if (TLS_FAILURE.test(code)) return " (the registry's certificate: its CA goes in --cert-dir or /etc/containers/certs.d/HOST/ as *.crt; --tls-verify=false skips the check)";
  return '';
}

/** Why a fetch failed at the network level, in a few words ("ECONNREFUSED", "other side closed"). */
export function networkReason(error: unknown): string {
  const e = error as { message?: string; cause?: { code?: string; message?: string } };
  return e?.cause?.code ?? e?.cause?.message ?? e?.message ?? String(error);
}

/** The wait a 429/503 asks for (Retry-After: seconds or an HTTP date), in ms, capped at 30 s; undefined where none. */
export function retryAfter(response: HttpResponse | undefined): number | undefined {
  const value = response?.headers.get('retry-after');
  if (!value) return undefined;
  const seconds = Number(value);
  const ms = Number.isFinite(seconds) ? seconds * 1000 : Date.parse(value) - Date.now();
  return Number.isFinite(ms) ? Math.min(Math.max(ms, 0), 30_000) : undefined;
}

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(abortError(signal.reason));
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(abortError(signal?.reason));
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** The backoff before try `attempt` (1: the second try). */
export function backoff(policy: RetryPolicy, attempt: number, response?: HttpResponse): number {
  return retryAfter(response) ?? Math.min(policy.baseMs * 2 ** (attempt - 1), 5_000);
}

export interface RequestInit {
  method?: 'GET' | 'HEAD' | 'POST';
  headers?: Record<string, string>;
  signal?: AbortSignal;
}

/**
 * One HTTP request, redirects followed (fetch drops Authorization when a
 * redirect leaves the origin: blob stores behind S3 or a CDN reject it).
 * No retry here: the caller decides what a status means.
 */
export function request(url: string, dispatcher: Dispatcher, init: RequestInit & { body?: URLSearchParams } = {}): Promise<HttpResponse> {
  return fetch(url, { method: init.method ?? 'GET', headers: init.headers, body: init.body, signal: init.signal, redirect: 'follow', dispatcher });
}
