import { abortError, LayercopyError } from '../core/errors.js';
import type { RegistryClient } from './client.js';
import { backoff, type HttpResponse, isTransient, sleep, triesLeft } from './http.js';

/**
 * get(), its body then read whole, at most `limit` bytes (a manifest, a
 * config). A connection cut while the body streams in is tried again as
 * get() tries a failed request (within the client's retry policy), then
 * ERR_REGISTRY naming the registry and what was read. A 404 comes back
 * unread (`data` undefined) for the caller to name what is missing.
 */
export async function getWhole(
  client: RegistryClient,
  path: string,
  init: { accept?: string; what: string },
  limit: number,
  tooLarge: () => LayercopyError,
): Promise<{ response: HttpResponse; data?: Buffer }> {
  const started = Date.now();
  for (let attempt = 1; ; attempt++) {
    const response = await client.get(path, init);
    if (response.status === 404) return { response };
    try {
      return { response, data: await response.bytes(limit) };
    } catch (error) {
      if ((error as { code?: string }).code === 'ERR_BODY_TOO_LARGE') throw tooLarge();
      if (error instanceof LayercopyError) throw error;
      if (client.signal?.aborted) throw abortError(client.signal.reason);
      // A mirror passed over is no try of the registry's.
      if (isTransient(error) && client.leaveMirror(response, error)) {
        attempt--;
        continue;
      }
      if (!isTransient(error) || !triesLeft(client.retry, attempt, started)) throw client.readFailure(response, error, init.what, attempt);
      await sleep(backoff(client.retry, attempt), client.signal);
    }
  }
}
