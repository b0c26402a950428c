import { abortError, LayercopyError } from '../core/errors.js';
import { TLS_FAILURE } from './tls.js';
import type { HttpResponse } from './transport.js';
import { PROXY_REFUSED, PROXY_TLS, PROXY_URL } from './tunnel.js';

// The policy side of a pull's HTTP (the requests are transport.ts, the
// proxies tunnel.ts): which failures are worth another try, and retries: a
// reset connection, 429 and 5xx are tried again with backoff, Retry-After
// honoured, bounded in count and in time.

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

/** Whether the policy allows another try after `attempt` tries, the first begun at `started` (Date.now()). */
export const triesLeft = (policy: RetryPolicy, attempt: number, started: number) => attempt < policy.attempts && Date.now() - started <= policy.budgetMs;

export type { HttpResponse };

/** A status worth another try: too many requests, and server errors but 501 (never implemented: no use asking again). */
export const retriable = (status: number) => status === 429 || status === 408 || (status >= 500 && status !== 501);

/** Network failures: a connection reset, refused, cut or timed out; what a retry may cure. */
export function isNetworkError(error: unknown): boolean {
  if (error instanceof LayercopyError) return false;
  const e = error as { name?: string; cause?: { code?: string }; code?: string };
  // A proxy value that cannot be used is the environment's fault, met before any connection:
  // no plain-HTTP fallback after https (which would go elsewhere, and hide it), no retry.
  if (e?.name === 'AbortError' || e?.code === PROXY_URL || NOT_NETWORK.has(e?.code ?? '')) return false;
  return typeof e?.code === 'string' || typeof e?.cause?.code === 'string';
}

// Node's refusals of what a server sent or named (a token with a CR LF for a header, a redirect or realm to file:),
// and a body past its bound: no connection failed, and another try gets the same (they were retried 5 times).
const NOT_NETWORK = new Set(['ERR_INVALID_PROTOCOL', 'ERR_INVALID_CHAR', 'ERR_INVALID_HTTP_TOKEN', 'ERR_UNESCAPED_CHARACTERS', 'ERR_BODY_TOO_LARGE']);

// A bad redirect (a loop, a POST sent elsewhere, a Location that is no URL), a proxy refusing or its certificate: no retry
// cures them, nor plain HTTP (TLS failures, not retried either, may still be a plain-HTTP port: plainHttpMayAnswer).
const PERMANENT = new Set([PROXY_REFUSED, PROXY_TLS, 'ERR_TOO_MANY_REDIRECTS', 'ERR_REDIRECT_REFUSED', 'ERR_INVALID_URL']);

/** The code of a network failure ('ECONNRESET', 'ERR_SSL_WRONG_VERSION_NUMBER'), its own or its cause's. */
const errorCode = (error: unknown) => {
  const e = error as { code?: unknown; cause?: { code?: unknown } };
  const code = typeof e?.code === 'string' ? e.code : e?.cause?.code;
  return typeof code === 'string' ? code : '';
};

/** A failure worth another try: the network's, not TLS's. */
export const isTransient = (error: unknown) => isNetworkError(error) && !TLS_FAILURE.test(errorCode(error)) && !PERMANENT.has(errorCode(error));

// The server's TLS alert that it wants (or refused) a client certificate: OpenSSL's name for it, by TLS version.
const CLIENT_CERT_ALERT = /^ERR_SSL_(SSLV3|TLSV1|TLSV13)_ALERT_(BAD_CERTIFICATE|CERTIFICATE_REQUIRED|HANDSHAKE_FAILURE|UNKNOWN_CA)$/;

/**
 * Whether a failure over https may be a plain-HTTP port, worth asking again
 * over http where TLS may be skipped: not a host that does not answer
 * (ETIMEDOUT: http would wait as long again), nor a server that spoke TLS
 * and sent an alert (its answer over http is a 400 that hides the alert),
 * nor a proxy's failure: http goes through HTTP_PROXY, or direct where
 * that is unset, around the proxy the user set, and the proxy's own error
 * would be lost.
 */
export function plainHttpMayAnswer(error: unknown): boolean {
  const code = errorCode(error);
  // A proxy's failure, and the failures no retry cures (a proxy refusing, a redirect loop or refused), are final.
  const final = typeof (error as { proxy?: unknown })?.proxy === 'string' || PERMANENT.has(code);
  return isNetworkError(error) && !final && code !== 'ETIMEDOUT' && !/^ERR_SSL_.*_ALERT_/.test(code);
}

/**
 * Where TLS failed or nothing listened, what to do about it; `host` names the
 * registry's certs.d directory. A proxy's refusal is not the registry's: its
 * own message names the proxy.
 */
export function networkHint(error: unknown, host = 'HOST:PORT', mirror = false): string {
  const code = errorCode(error);
  const e = error as { proxy?: unknown; address?: unknown; port?: unknown };
  if (code === 'ECONNREFUSED' && typeof e?.proxy !== 'string' && typeof e?.address === 'string')
    return ` (nothing listens at ${e.address.includes(':') ? `[${e.address}]` : e.address}:${e.port}: is the ${mirror ? 'mirror' : 'registry'} running, at that host and port?)`;
  if (code === 'ERR_SSL_WRONG_VERSION_NUMBER' || code === 'ERR_SSL_PACKET_LENGTH_TOO_LONG')
    return mirror
      ? ' (the mirror speaks plain HTTP? insecure = true in its [[registry.mirror]] table allows it)'
      : ' (the registry speaks plain HTTP? --tls-verify=false allows it)';
  if (CLIENT_CERT_ALERT.test(code)) return ` (the registry asks for a client certificate it trusts: NAME.cert and NAME.key in --cert-dir or /etc/containers/certs.d/${host}/)`;
  if (TLS_FAILURE.test(code)) return ` (the registry's certificate: its CA goes in --cert-dir or /etc/containers/certs.d/${host}/ as *.crt; --tls-verify=false skips the check)`;
  return '';
}

/** Why a fetch failed at the network level, in a few words ("ECONNREFUSED", "other side closed"). */
export function networkReason(error: unknown): string {
  const e = error as { code?: string; message?: string; proxy?: string; cause?: { code?: string; message?: string } };
  // The transport's own failures (src/registry/transport.ts, tunnel.ts) say what happened in their message (a proxy's, the proxy).
  const own = e?.proxy || e?.code?.startsWith('ERR_PROXY') || e?.code === 'ERR_TOO_MANY_REDIRECTS' || e?.code === 'ERR_REDIRECT_REFUSED' || e?.code === 'ETIMEDOUT';
  if (own && e.message) return e.message;
  return e?.code ?? e?.cause?.code ?? e?.cause?.message ?? e?.message ?? String(error);
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
