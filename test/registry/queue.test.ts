// The downloads' queue module (src/registry/queue.ts), loaded once on first need.
import { describe, expect, it } from 'vitest';
import { loadQueue } from '../../src/registry/queue.js';

describe('the downloads queue', () => {
  it('is loaded once: every caller gets the same class, which runs at most its concurrency at once', async () => {
    const first = loadQueue();
    expect(loadQueue()).toBe(first);
    const PQueue = await first;
    const queue = new PQueue({ concurrency: 2 });
    let running = 0;
    let most = 0;
    const job = async () => {
      most = Math.max(most, ++running);
      await new Promise((resolve) => setTimeout(resolve, 5));
      running--;
    };
    await Promise.all(Array.from({ length: 6 }, () => queue.add(job)));
    expect(most).toBe(2);
  });
});
