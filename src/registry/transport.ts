import http from 'node:http';
import https from 'node:https';
import { abortError } from '../core/errors.js';
import { secureContext, type TlsConfig } from './tls.js';
import { proxyOf, tunnelAgent } from './tunnel.js';

// The HTTP client of a pull, on node:http and node:https. undici's fetch
// (WHATWG streams) took 0.56–0.61 CPU-s to receive and hash the 116 MB of
// the *usr* image, node:http 0.34–0.37 (docs/benchmarks.md), on two cores
// the extraction already keeps busy; loading undici also took ~60 ms of
// start-up. Keep-alive agents, one per TLS configuration and proxy (layers
// share connections); redirects followed here, Authorization dropped when
// one leaves the origin (blob stores behind S3 or a CDN reject it, and it
// must not leak to them).

/** A response: its status and headers, and its body to read once (or cancel). */
export interface HttpResponse {
  readonly status: number;
  readonly statusText: string;
  /** 2xx */
  readonly ok: boolean;
  readonly headers: { get(name: string): string | null };
  /** The body's bytes, as they arrive. */
  readonly body: AsyncIterable<Buffer>;
  /** Gives the body up: a small one is drained so that its connection serves again, a big one's connection is closed. */
  cancel(): Promise<void>;
  /** The body, whole; one larger than `limit` bytes fails (ERR_BODY_TOO_LARGE), its connection closed. */
  bytes(limit: number): Promise<Buffer>;
  /** The body, whole (as bytes() reads it), parsed as JSON. */
  json(limit: number): Promise<unknown>;
}

export interface RequestInit {
  method?: 'GET' | 'POST';
  headers?: Record<string, string>;
  /** A form (application/x-www-form-urlencoded), for POST. */
  form?: URLSearchParams;
  /** How long the answer (its headers) may take. Default IDLE_MS. */
  answerMs?: number;
  /** How long the body may be silent between bytes once answered. Default IDLE_MS. */
  bodyMs?: number;
}

// As undici's defaults (headersTimeout, bodyTimeout): a connection silent this long is given up (and retried).
export const IDLE_MS = 300_000;
// As fetch: more redirects than this is a loop.
const MAX_REDIRECTS = 20;
// A body at most this big is read to its end when cancelled (an error's, a 401's), keeping its connection.
const DRAIN_LIMIT = 64 << 10;
const USER_AGENT = 'layercopy';
// How a connection the server closed under a new request fails: reset, or closed before any answer ('socket hang up').
const STALE_CODES = new Set(['ECONNRESET', 'EPIPE', 'ECONNABORTED']);
const STALE = Symbol('stale connection');

/**
 * Connections this side ended (an abort, the pull closed), for a body read
 * off the socket by another thread (src/registry/receive.ts): it stops on
 * their close, and only on theirs. Stopped on any close, a reset by the
 * peer mid-blob was told as "provision aborted" and never resumed.
 */
export const ENDED_HERE = new WeakSet<object>();

function end(live: { req: http.ClientRequest; res?: http.IncomingMessage }, error?: Error): void {
  const socket = live.res?.socket ?? live.req.socket;
  if (socket) ENDED_HERE.add(socket);
  (live.res ?? live.req).destroy(error);
}
type StaleError = Error & { code?: string; [STALE]?: boolean };

/**
 * A TLS failure met while the request was being written is `EPROTO` with
 * OpenSSL's reason in the message only ("…:wrong version number:…", a
 * plain-HTTP port); it gets the code it has when met while reading
 * (ERR_SSL_WRONG_VERSION_NUMBER), which says it is no network failure a
 * retry cures, and what to do.
 */
function sslCode(error: Error & { code?: string }): Error {
  const reason = error.code === 'EPROTO' ? /SSL routines:[^:]*:([a-z0-9 ]+):/.exec(error.message)?.[1] : undefined;
  if (reason) error.code = `ERR_SSL_${reason.toUpperCase().replaceAll(' ', '_')}`;
  return error;
}

class NodeResponse implements HttpResponse {
  readonly status: number;
  readonly statusText: string;
  readonly ok: boolean;
  readonly headers: { get(name: string): string | null };
  constructor(readonly body: http.IncomingMessage) {
    this.status = body.statusCode ?? 0;
    this.statusText = body.statusMessage ?? '';
    this.ok = this.status >= 200 && this.status < 300;
    this.headers = {
      get: (name) => {
        const value = body.headers[name.toLowerCase()];
        return value === undefined ? null : Array.isArray(value) ? value.join(', ') : value;
      },
    };
  }

  async cancel(): Promise<void> {
    if (this.body.complete || this.body.destroyed) return;
    const length = Number(this.body.headers['content-length']);
    if (Number.isFinite(length) && length <= DRAIN_LIMIT) this.body.resume();
    else this.body.destroy();
  }

  async bytes(limit: number): Promise<Buffer> {
    const chunks: Buffer[] = [];
    let bytes = 0;
    for await (const chunk of this.body) {
      bytes += chunk.length;
      // A token's or a tag list's endless body held 5.7 GB after 15 s.
      if (bytes > limit) {
        this.body.destroy();
        throw Object.assign(new Error(`its body is larger than ${limit} bytes`), { code: 'ERR_BODY_TOO_LARGE' });
      }
      chunks.push(chunk);
    }
    return Buffer.concat(chunks);
  }

  async json(limit: number): Promise<unknown> {
    return JSON.parse((await this.bytes(limit)).toString('utf8'));
  }
}

/**
 * A pull's connections: its agents (one per TLS configuration and proxy:
 * keep-alive across layers), its requests in flight (an abort of `signal`
 * ends them all, through one listener), closed when the pull ends so that
 * no socket outlives it.
 */
export class Transport {
  readonly #agents = new Map<string, http.Agent>();
  readonly #live = new Set<{ req: http.ClientRequest; res?: http.IncomingMessage }>();
  readonly #tls: (host: string) => TlsConfig;
  readonly #signal: AbortSignal | undefined;
  // Closed: a request sent later (a blob's retry after its backoff, a redirect followed, the next source after a mirror)
  // opened a socket nothing tracked or closed, held until its idle bound, after the pull had failed.
  #closed = false;
  readonly #onAbort = () => {
    const error = abortError(this.#signal?.reason);
    for (const live of this.#live) end(live, error);
  };

  constructor(tlsFor: (host: string) => TlsConfig, signal?: AbortSignal) {
    this.#tls = tlsFor;
    this.#signal = signal;
    signal?.addEventListener('abort', this.#onAbort, { once: true });
  }

  /** One request, redirects followed. No retry here: the caller decides what a status or a failure means. */
  async request(url: string, init: RequestInit = {}): Promise<HttpResponse> {
    let target = new URL(url);
    let method = init.method ?? 'GET';
    let form = init.form;
    const headers: Record<string, string> = { 'user-agent': USER_AGENT, ...init.headers };
    for (let redirects = 0; ; redirects++) {
      const response = await this.#once(target, method, headers, form, init.answerMs, init.bodyMs);
      const location = response.headers.get('location');
      if (![301, 302, 303, 307, 308].includes(response.status) || !location) return response;
      await response.cancel();
      if (redirects >= MAX_REDIRECTS) throw Object.assign(new Error(`more than ${MAX_REDIRECTS} redirects from ${url}`), { code: 'ERR_TOO_MANY_REDIRECTS' });
      let next: URL;
      try {
        next = new URL(location, target);
      } catch {
        throw Object.assign(new Error(`${target.origin} redirected to ${JSON.stringify(location)}, which is no URL`), { code: 'ERR_INVALID_URL' });
      }
      if (next.protocol !== 'https:' && next.protocol !== 'http:')
        throw Object.assign(new Error(`${target.origin} redirected to ${JSON.stringify(location)}: only http and https are followed`), { code: 'ERR_REDIRECT_REFUSED' });
      // A 303, or a 301/302 to a POST, is fetched with GET (RFC 9110 15.4).
      if (response.status === 303 || (method === 'POST' && response.status <= 302)) {
        method = 'GET';
        form = undefined;
      }
      // Credentials stay with their origin (as fetch and containers/image do
      // for the header). A form is one too: the token request's password or
      // refresh_token, which fetch would post again to the new origin.
      if (next.origin !== target.origin) {
        delete headers.authorization;
        if (form)
          throw Object.assign(new Error(`${target.origin} redirected a POST of credentials to another origin (${next.origin}): not followed`), { code: 'ERR_REDIRECT_REFUSED' });
      }
      target = next;
    }
  }

  /**
   * A request sent on a kept-alive connection that the server closed as it
   * went out (its idle timeout) fails before any answer: Node's documented
   * race (http: `request.reusedSocket`). A GET is sent again, once, as
   * Go's net/http does (the failed socket is gone; the agent gives another
   * or a new one), instead of counting as the source's failure: a mirror
   * would be passed over for it.
   */
  async #once(url: URL, method: string, headers: Record<string, string>, form: URLSearchParams | undefined, answerMs = IDLE_MS, bodyMs = IDLE_MS): Promise<HttpResponse> {
    try {
      return await this.#send(url, method, headers, form, answerMs, bodyMs);
    } catch (error) {
      if (!(error as StaleError)[STALE]) throw error;
      return this.#send(url, method, headers, form, answerMs, bodyMs);
    }
  }

  #send(url: URL, method: string, headers: Record<string, string>, form: URLSearchParams | undefined, answerMs: number, bodyMs: number): Promise<HttpResponse> {
    if (this.#signal?.aborted) return Promise.reject(abortError(this.#signal.reason));
    if (this.#closed) return Promise.reject(abortError('the pull ended'));
    const body = form?.toString();
    const all = body === undefined ? headers : { ...headers, 'content-type': 'application/x-www-form-urlencoded', 'content-length': String(Buffer.byteLength(body)) };
    const secure = url.protocol === 'https:';
    return new Promise((resolve, reject) => {
      const req = (secure ? https : http).request(url, { method, headers: all, agent: this.#agent(url, secure), timeout: answerMs });
      const live: { req: http.ClientRequest; res?: http.IncomingMessage } = { req };
      this.#live.add(live);
      let limit = answerMs;
      req.setTimeout(limit, () => req.destroy(Object.assign(new Error(`no answer from ${url.host} in ${limit / 1000} s`), { code: 'ETIMEDOUT' })));
      req.on('error', (error: StaleError) => {
        if (!live.res) this.#live.delete(live);
        // A GET only: a POST (a token request's credentials) may have reached the server; it is not sent twice.
        if (method === 'GET' && req.reusedSocket && !live.res && STALE_CODES.has(error.code ?? '') && !this.#signal?.aborted) error[STALE] = true;
        reject(sslCode(error));
      });
      req.once('response', (res) => {
        live.res = res;
        // Answered: the body gets its bound between bytes.
        if (limit !== bodyMs) {
          limit = bodyMs;
          req.setTimeout(limit);
        }
        // The reader of the body gets its errors; this keeps one arriving while nobody reads from being an uncaught exception.
        res.on('error', () => undefined);
        res.once('close', () => this.#live.delete(live));
        resolve(new NodeResponse(res));
      });
      req.end(body);
    });
  }

  /** The agent for a URL: its host's TLS configuration, through the proxy the environment names for it, or direct. */
  #agent(url: URL, secure: boolean): http.Agent {
    const config = this.#tls(url.host);
    const proxy = proxyOf(url);
    const key = JSON.stringify([secure, proxy?.url.href, proxy?.variable, config.ca, config.cert, config.key, config.verify]);
    let agent = this.#agents.get(key);
    if (!agent) {
      const options: https.AgentOptions = secure ? { keepAlive: true, secureContext: secureContext(config), rejectUnauthorized: config.verify } : {};
      agent = proxy ? tunnelAgent(proxy.url, secure, options, IDLE_MS, proxy.variable) : secure ? new https.Agent(options) : new http.Agent({ keepAlive: true });
      this.#agents.set(key, agent);
    }
    return agent;
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#signal?.removeEventListener('abort', this.#onAbort);
    for (const live of this.#live) end(live);
    this.#live.clear();
    for (const agent of this.#agents.values()) agent.destroy();
    this.#agents.clear();
  }
}
