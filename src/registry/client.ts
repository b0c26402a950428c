import { abortError, LayercopyError } from '../core/errors.js';
import type { PullSource } from './config.js';
import { type Credentials, NONE_FOUND } from './credentials.js';
import { Failures } from './failures.js';
import { backoff, DEFAULT_RETRY, type HttpResponse, isTransient, networkHint, networkReason, plainHttpMayAnswer, type RetryPolicy, retriable, sleep, triesLeft } from './http.js';
import type { TlsConfig } from './tls.js';
import { parseChallenge, requestToken, type Token } from './token.js';
import { IDLE_MS, Transport } from './transport.js';

// A registry's distribution API (v2) for one repository, from its sources
// in order: the mirrors (registries.conf), then the registry itself. Auth
// as the registry asks (WWW-Authenticate): Bearer tokens from its realm
// (fetched again when one expires mid-pull), or Basic.

export interface ClientOptions {
  /** The credentials for a source (a mirror has its own entries in the auth files). */
  credentials: (source: PullSource) => Promise<Credentials | undefined>;
  /** The TLS configuration for a host (the registry's, a mirror's, a token realm's). */
  tls: (host: string) => TlsConfig;
  retry?: RetryPolicy;
  /** How long a mirror may take to answer a request (default MIRROR_TIMEOUT_MS). */
  mirrorTimeoutMs?: number;
  signal?: AbortSignal;
  /** Names the image in errors: the argument as given, and its position. */
  label: string;
  fields: { layer: string; layerIndex: number };
}

// A mirror that takes longer to answer is passed over: a per-node mirror (Spegel, Dragonfly) answers in milliseconds, and one
// that accepts connections and never answers held a pull for 300 s over https and 300 s more over http (the registry's own bound).
const MIRROR_TIMEOUT_MS = 15_000;

export class RegistryClient {
  readonly #sources: PullSource[];
  readonly #passedOver = new Map<string, string>(); // mirrors passed over, and why, for the summary (a mirror down, or plain HTTP without insecure)
  // The requests #fromSource made for a response or failure it gave, for "(after N tries)".
  readonly #tries = new WeakMap<object, number>();
  // The source each response get() gave came from (leaveMirror, idleMsOf).
  readonly #sourceOf = new WeakMap<HttpResponse, number>();
  readonly #opts: ClientOptions;
  readonly #retry: RetryPolicy;
  #current = 0; // the source that last answered: later requests start there
  /** Authorization per source host; a Bearer token per realm and scope. */
  readonly #auth = new Map<string, string>();
  readonly #tokens = new Map<string, Token>();
  /** The scheme each host answered on (http only where TLS may be skipped). */
  readonly #scheme = new Map<string, 'https' | 'http'>();
  readonly #tlsConfigs = new Map<string, TlsConfig>(); // each host's TLS files, read once
  readonly #transport: Transport;
  readonly #fail: Failures;

  constructor(sources: PullSource[], opts: ClientOptions) {
    this.#sources = sources;
    this.#opts = opts;
    this.#retry = opts.retry ?? DEFAULT_RETRY;
    this.#fail = new Failures(opts, this.#retry);
    this.#transport = new Transport((host) => this.#tls(host), opts.signal);
  }

  get #mirrorMs(): number {
    return this.#opts.mirrorTimeoutMs ?? MIRROR_TIMEOUT_MS;
  }

  /** How long the body of `response` (a get()'s) may be silent between bytes: its source's bound, a mirror's or IDLE_MS. */
  idleMsOf(response: HttpResponse): number {
    return this.#sources[this.#sourceOf.get(response) ?? this.#current].mirror ? this.#mirrorMs : IDLE_MS;
  }

  /**
   * The body of `response` (a get()'s) began and did not finish (cut, or
   * silent): where a mirror sent it, that mirror is passed over for the
   * next source, as one that fails before its answer is, and true is
   * returned (the caller asks again, where it left off); the registry
   * itself is tried again by the caller as before. Known by the response,
   * not by the source answering now: downloads at once each have theirs.
   * A mirror cut mid-body was asked 5 times, and one silent after its
   * headers held the pull 300 s, the registry never asked.
   */
  leaveMirror(response: HttpResponse | undefined, error: unknown): boolean {
    const i = response === undefined ? undefined : this.#sourceOf.get(response);
    if (i === undefined || !this.#sources[i].mirror || i === this.#sources.length - 1) return false;
    const why = (error as { code?: string })?.code === 'ERR_BODY_ENDED_EARLY' ? 'its body ended early' : networkReason(error);
    this.#passedOver.set(this.#sources[i].host, `${why} while sending a body`);
    this.#current = Math.max(this.#current, i + 1);
    return true;
  }

  /**
   * The source that sent `response` (host[:port], whether it is a mirror)
   * and the sources passed over before it; without one, the source that
   * answered last. By the response: blob requests sent beside the config's
   * may pass a mirror over (a 404 for a blob) before the config comes back
   * from it, and the image was then said to come from the registry.
   */
  servedBy(response?: HttpResponse): { host: string; mirror: boolean; passedOver: { host: string; why: string }[] } {
    const i = (response && this.#sourceOf.get(response)) ?? this.#current;
    const { host, mirror } = this.#sources[i];
    const before = new Set(this.#sources.slice(0, i).map((s) => s.host));
    return { host, mirror, passedOver: [...this.#passedOver].filter(([h]) => before.has(h)).map(([host, why]) => ({ host, why })) };
  }

  /** Ends the pull's connections. */
  close(): Promise<void> {
    return this.#transport.close();
  }

  #tls(host: string): TlsConfig {
    let config = this.#tlsConfigs.get(host);
    if (!config) {
      config = this.#opts.tls(host);
      this.#tlsConfigs.set(host, config);
    }
    return config;
  }

  /**
   * GET /v2/REPOSITORY/PATH ('manifests/latest', 'blobs/sha256:…') from the first source that answers it. A mirror that fails or
   * lacks it (404) is passed over for the next source; the registry's own answer is final, told with what the mirrors said.
   * `range`: from that byte on (a resumed blob). Resolves with a 2xx response; 404 from the registry itself resolves too (the
   * caller names what was missing); anything else throws ERR_AUTH or ERR_REGISTRY.
   */
  async get(path: string, init: { accept?: string; range?: number; what: string }): Promise<HttpResponse> {
    for (let i = this.#current; i < this.#sources.length; i++) {
      const source = this.#sources[i];
      const last = i === this.#sources.length - 1;
      try {
        const response = await this.#fromSource(source, path, init);
        if (response.ok || (response.status === 404 && last)) {
          // Never back to a source passed over meanwhile by a request that went out at the same time.
          this.#current = Math.max(this.#current, i);
          this.#sourceOf.set(response, i);
          return response;
        }
        await response.cancel();
        const error = this.#fail.http(source, response, init.what, this.#tries.get(response));
        if (last) throw error;
        this.#passedOver.set(source.host, `HTTP ${response.status} for ${init.what}`);
      } catch (error) {
        if (error instanceof LayercopyError && error.code === 'ABORT_ERR') throw error;
        if (last) throw this.#told(this.#fail.network(source, error, init.what, this.#tries.get(error as object) ?? 1));
        this.#passedOver.set(source.host, error instanceof LayercopyError ? error.message : `${networkReason(error)}${networkHint(error, source.host, true)}`);
      }
    }
    throw new LayercopyError(`${this.#opts.label}: ${init.what}: no source answered`, { code: 'ERR_REGISTRY', ...this.#opts.fields }); // the last one throws first
  }

  /** The retry policy get() follows, for a caller that retries what it reads of a response (src/registry/whole.ts). */
  get retry(): RetryPolicy {
    return this.#retry;
  }

  /** A failure reading what `response` sent, named by the source that sent it, as get() names its own (ERR_REGISTRY: the registry, what, why). */
  readFailure(response: HttpResponse, error: unknown, what: string, tries?: number): LayercopyError {
    return this.#fail.network(this.#sources[this.#sourceOf.get(response) ?? this.#current], error, what, tries);
  }

  /** The signal the pull stops on. */
  get signal(): AbortSignal | undefined {
    return this.#opts.signal;
  }

  /** A GET of `path` as it would go now to the source that last answered (URL, Authorization held, TLS files): the bench's download floor. */
  prepared(path: string): { url: string; authorization?: string; tls: TlsConfig } {
    const source = this.#sources[this.#current];
    const url = this.#url(source, this.#scheme.get(source.host) ?? 'https', path);
    const authorization = this.#auth.get(source.host);
    return { url, tls: this.#tls(source.host), ...(authorization ? { authorization } : {}) };
  }

  #url(source: PullSource, scheme: string, path: string): string {
    // Per-node mirrors (Spegel, Dragonfly) serve several registries: ?ns= says which.
    const ns = source.mirror && source.ns ? `?ns=${encodeURIComponent(source.ns)}` : '';
    return `${scheme}://${source.host}/v2/${source.repository}/${path}${ns}`;
  }

  /** One source: its scheme found, auth as it asks, retried while it answers 429/5xx or the connection fails. */
  async #fromSource(source: PullSource, path: string, init: { accept?: string; range?: number; what: string }): Promise<HttpResponse> {
    const tls = this.#tls(source.host);
    const started = Date.now();
    let authTried = false;
    for (let attempt = 1; ; attempt++) {
      const headers: Record<string, string> = {};
      if (init.accept) headers.accept = init.accept;
      if (init.range) headers.range = `bytes=${init.range}-`;
      const auth = this.#auth.get(source.host);
      if (auth) headers.authorization = auth;
      let response: HttpResponse | undefined;
      try {
        response = await this.#send(source, tls, path, headers);
      } catch (error) {
        if (this.#opts.signal?.aborted) throw abortError(this.#opts.signal.reason);
        // A mirror that cannot be reached is passed over at once for the next source (as containers/image does), not retried.
        if (!isTransient(error) || source.mirror || !triesLeft(this.#retry, attempt, started)) {
          if (typeof error === 'object' && error !== null) this.#tries.set(error, attempt);
          throw error;
        }
        await sleep(backoff(this.#retry, attempt), this.#opts.signal);
        continue;
      }
      if (response.status === 401 && !authTried) {
        authTried = true;
        await response.cancel();
        await this.#authenticate(source, response);
        attempt--;
        continue;
      }
      if (retriable(response.status) && triesLeft(this.#retry, attempt, started)) {
        await response.cancel();
        await sleep(backoff(this.#retry, attempt, response), this.#opts.signal);
        continue;
      }
      this.#tries.set(response, attempt);
      return response;
    }
  }

  /** https, or where TLS may be skipped (insecure, --tls-verify=false) http when https fails to connect, as containers/image does. */
  async #send(source: PullSource, tls: TlsConfig, path: string, headers: Record<string, string>): Promise<HttpResponse> {
    const known = this.#scheme.get(source.host);
    const transport = this.#transport;
    const bound = source.mirror ? this.#mirrorMs : undefined;
    const init = { headers, answerMs: bound, bodyMs: bound };
    if (known === 'http' || (known === undefined && !tls.allowHttp)) return transport.request(this.#url(source, known ?? 'https', path), init);
    try {
      const response = await transport.request(this.#url(source, 'https', path), init);
      this.#scheme.set(source.host, 'https');
      return response;
    } catch (error) {
      if (known === 'https' || !plainHttpMayAnswer(error)) throw error;
      const response = await transport.request(this.#url(source, 'http', path), init);
      this.#scheme.set(source.host, 'http');
      return response;
    }
  }

  /** Answers a 401's challenge: a Bearer token from its realm, or Basic credentials. */
  async #authenticate(source: PullSource, response: HttpResponse): Promise<void> {
    const challenge = parseChallenge(response.headers.get('www-authenticate') ?? '');
    const creds = await this.#opts.credentials(source);
    this.#fail.answered.set(source.host, creds ?? null);
    if (challenge?.scheme === 'basic') {
      if (!creds || !('username' in creds)) throw this.#fail.auth(source, 401, `the registry asks for a user name and password, and none were found for it ${NONE_FOUND}`);
      this.#auth.set(source.host, `Basic ${Buffer.from(`${creds.username}:${creds.password}`).toString('base64')}`);
      return;
    }
    if (challenge?.scheme !== 'bearer' || !challenge.params.realm)
      throw this.#fail.auth(source, 401, `unsupported authentication challenge '${response.headers.get('www-authenticate') ?? ''}'`);
    const scope = challenge.params.scope ?? `repository:${source.repository}:pull`;
    // Per source: a token got with the registry's credentials was sent to a
    // mirror that answered with the registry's own realm, service and scope.
    const key = `${source.host} ${challenge.params.realm} ${challenge.params.service ?? ''} ${scope}`;
    const cached = this.#tokens.get(key);
    // A token that a 401 just refused is spent, whatever its expiry said: ask again.
    if (cached && cached.header !== this.#auth.get(source.host) && cached.expires > Date.now()) {
      this.#auth.set(source.host, cached.header);
      return;
    }
    const token = await requestToken(this.#transport, this.#fail, { source, creds, realm: challenge.params.realm, service: challenge.params.service, scope });
    this.#tokens.set(key, token);
    this.#auth.set(source.host, token.header);
  }

  /** The registry's own failure, with the mirrors passed over before it and why: a mirror's 404 says as much about a pull as the registry being down. */
  #told(error: LayercopyError): LayercopyError {
    if (this.#passedOver.size > 0) error.message += `; passed over before it: ${[...this.#passedOver].map(([host, why]) => `${host} (${why})`).join(', ')}`;
    return error;
  }
}
