import { describe, expect, it } from 'vitest';
import { abortDeepWalk } from '../fixtures/deep-abort.js';

describe('the layered walk', () => {
  it('gives the event loop turns: an abort asked while it walks a deep tree ends it there, before the bad marker at the bottom', async () => {
    const { outcome, left } = await abortDeepWalk('layered');
    // Without turns the walk ran to the marker first: ERR_INVALID_WHITEOUT.
    expect(outcome).toBe('ABORT_ERR');
    expect(left).toEqual(['layer']);
  });
});
