import { describe, expect, it } from 'vitest';
import { pidRuns } from '../../src/core/processes.js';
import { zombie } from '../fixtures/zombie.js';

describe('pidRuns', () => {
  it('this process runs; a pid nothing holds does not', () => {
    expect([pidRuns(process.pid), pidRuns(999_999_999)]).toEqual([true, false]);
  });

  it('a killed process its parent has not reaped yet (a zombie) does not run', async () => {
    const z = await zombie();
    try {
      expect(pidRuns(z.pid)).toBe(false);
    } finally {
      z.stop();
    }
  });
});
