import { type LayercopyCode, LayercopyError } from '../core/errors.js';
import type { PullSource } from './config.js';
import { type Credentials, NONE_FOUND } from './credentials.js';
import { type HttpResponse, isTransient, networkHint, networkReason, type RetryPolicy, retriable } from './http.js';

// How a registry client's failures are named: the image as given, the
// source (host/repository, a mirror said so), what was asked, and why —
// the HTTP status with what it means after the auth flow, or the network's
// reason with a hint. ERR_AUTH or ERR_REGISTRY (docs/errors.md).

export class Failures {
  /** The credentials each host's challenge was answered with (null: none found), for the error when they are refused. */
  readonly answered = new Map<string, Credentials | null>();
  readonly #opts: { label: string; fields: { layer: string; layerIndex: number } };
  readonly #retry: RetryPolicy;

  constructor(opts: { label: string; fields: { layer: string; layerIndex: number } }, retry: RetryPolicy) {
    this.#opts = opts;
    this.#retry = retry;
  }

  auth(source: PullSource, status: number, why: string): LayercopyError {
    return new LayercopyError(`${this.#opts.label}: ${where(source)}: HTTP ${status}: ${why}`, { code: 'ERR_AUTH', ...this.#opts.fields });
  }

  /** An HTTP status as an error: 401/403 (after the auth flow) ERR_AUTH, anything else ERR_REGISTRY. */
  http(source: PullSource, response: HttpResponse, what: string, tries = this.#retry.attempts): LayercopyError {
    const denied = response.status === 401 || response.status === 403;
    const code: LayercopyCode = denied ? 'ERR_AUTH' : 'ERR_REGISTRY';
    const retried = retriable(response.status) ? triesMade(tries) : '';
    const why = denied ? this.#refusal(source, response.status) : '';
    return new LayercopyError(`${this.#opts.label}: ${what} from ${where(source)}: HTTP ${response.status} ${response.statusText}${retried}${why}`, {
      code,
      ...this.#opts.fields,
    });
  }

  /** `tries`: the requests made, where the caller counted them (default: the policy's whole count, a read retried to its end). */
  network(source: PullSource, error: unknown, what: string, made = this.#retry.attempts): LayercopyError {
    if (error instanceof LayercopyError) return error;
    const tries = isTransient(error) ? triesMade(made) : '';
    return new LayercopyError(`${this.#opts.label}: ${what} from ${where(source)}: ${networkReason(error)}${networkHint(error, source.host)}${tries}`, {
      code: 'ERR_REGISTRY',
      ...this.#opts.fields,
      cause: error,
    });
  }

  /** What a 401 or 403 after the auth flow means: the credentials refused (and where they came from), or none found. */
  #refusal(source: PullSource, status: number): string {
    if (!this.answered.has(source.host)) return '';
    const creds = this.answered.get(source.host);
    if (!creds) return `: the registry wants credentials and none were found for it ${NONE_FOUND}`;
    const from = creds.origin ? ` from ${creds.origin}` : '';
    return status === 403 ? `: the credentials${from} may not pull ${source.repository}` : `: the registry refused the credentials${from}`;
  }
}

/** " (after N tries)" where there were several: a Retry-After past the time left, a mirror or a token request made one (it said 5). */
const triesMade = (n: number) => (n > 1 ? ` (after ${n} tries)` : '');

function where(source: PullSource): string {
  return `${source.host}/${source.repository}${source.mirror ? ' (a mirror)' : ''}`;
}
