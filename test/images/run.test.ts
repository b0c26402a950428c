// The order extractions go to the pool in (src/images/run.ts balance): the
// pool gives each new task to the worker with the fewest, so the order
// decides which layers share a worker.
import { describe, expect, it } from 'vitest';
import { balance } from '../../src/images/run.js';

/** Which sizes each worker gets when the pool hands tasks round-robin to the worker with the fewest (first of equals), two each. */
function dealt(order: number[], workers: number): number[][] {
  const got: number[][] = Array.from({ length: workers }, () => []);
  for (const size of order.slice(0, 2 * workers)) got.reduce((a, b) => (b.length < a.length ? b : a)).push(size);
  return got;
}

describe('balance', () => {
  it('the overlapping image on two workers: the largest with the smallest, the two middle ones together', () => {
    const order = balance([96, 130, 82, 0.3], (n) => n, 2);
    expect(order).toEqual([130, 96, 0.3, 82]);
    expect(dealt(order, 2)).toEqual([
      [130, 0.3],
      [96, 82],
    ]);
  });

  it('more layers than two per worker: the rest follow largest first', () => {
    expect(balance([1, 2, 3, 4, 5, 6, 7], (n) => n, 2)).toEqual([7, 6, 4, 5, 3, 2, 1]);
  });

  it('fewer layers than workers, or one layer', () => {
    expect(balance([5, 9], (n) => n, 4)).toEqual([9, 5]);
    expect(balance([5], (n) => n, 2)).toEqual([5]);
    expect(balance([], (n: number) => n, 2)).toEqual([]);
  });
});
