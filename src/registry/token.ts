// A 401's challenge (WWW-Authenticate) and the Bearer token its realm
// gives for it (the distribution token spec), for the registry client
// (src/registry/client.ts).
import { JSON_LIMIT } from '../images/regular.js';
import type { PullSource } from './config.js';
import { type Credentials, NONE_FOUND } from './credentials.js';
import type { Failures } from './failures.js';
import { type HttpResponse, isNetworkError } from './http.js';
import type { Transport } from './transport.js';

export interface Token {
  header: string;
  /** When it stops being good (ms since the epoch). */
  expires: number;
}

/** `Bearer realm="…",service="…",scope="…"` (RFC 7235 auth-params; quoted values may hold commas). */
export function parseChallenge(header: string): { scheme: string; params: Record<string, string> } | undefined {
  const m = /^\s*([A-Za-z]+)\s*(.*)$/s.exec(header);
  if (!m) return undefined;
  const params: Record<string, string> = {};
  for (const p of m[2].matchAll(/([A-Za-z_]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))/g)) params[p[1].toLowerCase()] = p[2] !== undefined ? p[2].replace(/\\(.)/g, '$1') : p[3];
  return { scheme: m[1].toLowerCase(), params };
}

/** A token from `realm` for `scope`, with the source's credentials where it has some (Basic, or an identity token's refresh). */
export async function requestToken(
  transport: Transport,
  fail: Failures,
  ask: { source: PullSource; creds: Credentials | undefined; realm: string; service: string | undefined; scope: string },
): Promise<Token> {
  const { source, creds, realm, service, scope } = ask;
  let url: URL;
  try {
    url = new URL(realm);
    if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new Error(url.protocol);
  } catch {
    throw fail.auth(source, 401, `the registry's token realm ${JSON.stringify(realm)} is not an http or https URL`);
  }
  if (service) url.searchParams.set('service', service);
  url.searchParams.set('scope', scope);
  const headers: Record<string, string> = {};
  if (creds && 'username' in creds) {
    url.searchParams.set('account', creds.username);
    headers.authorization = `Basic ${Buffer.from(`${creds.username}:${creds.password}`).toString('base64')}`;
  }
  let response: HttpResponse;
  try {
    if (creds && 'identityToken' in creds) {
      // An identity token is an OAuth2 refresh token (docker login's).
      const form = new URLSearchParams({ grant_type: 'refresh_token', refresh_token: creds.identityToken, service: service ?? '', scope, client_id: 'layercopy' });
      response = await transport.request(realm, { method: 'POST', form });
    } else {
      response = await transport.request(url.href, { headers });
    }
  } catch (error) {
    throw fail.network(source, error, `a token from ${url.origin}`, 1);
  }
  if (response.status === 401 || response.status === 403)
    throw fail.auth(
      source,
      response.status,
      creds
        ? `the token server ${url.origin} refused the credentials${creds.origin ? ` from ${creds.origin}` : ''}`
        : `the token server ${url.origin} gives no token without credentials, and none were found for the registry ${NONE_FOUND}`,
    );
  if (!response.ok) throw fail.http(source, response, `a token from ${url.origin}`, 1);
  let json: { token?: unknown; access_token?: unknown; expires_in?: number };
  try {
    json = ((await response.json(JSON_LIMIT)) ?? {}) as typeof json;
  } catch (error) {
    // A cut or an abort is told as such (a cut was "answered without a token"); a body too large or not JSON holds no token.
    if (isNetworkError(error) || (error as { name?: string }).name === 'AbortError') throw fail.network(source, error, `a token from ${url.origin}`, 1);
    throw fail.auth(source, response.status, `the token server ${url.origin} answered without a token (${(error as Error).message})`);
  }
  const token = json.token ?? json.access_token;
  if (!token || typeof token !== 'string') throw fail.auth(source, response.status, `the token server ${url.origin} answered without a token`);
  // A token without expires_in is good for 60 s (the distribution token spec).
  return { header: `Bearer ${token}`, expires: Date.now() + (json.expires_in ?? 60) * 1000 - 5_000 };
}
