import { describe, expect, it } from 'vitest';
import { formatProgress } from '../../src/cli/output.js';

describe('the progress line', () => {
  const p = { phase: 'copy' as const, layerIndex: 1, layers: 4, layer: '/l', entries: 123456, bytes: 98_700_000 };
  it('shows the phase, layer, totals and elapsed time', () => {
    expect(formatProgress(p, 2500, 200)).toBe('copy · layer 2/4 · 123,456 entries · 98.7 MB · 2.5 s');
  });
  it.each([40, 20, 5])('fits a %i-column terminal (no wrap, so no stacked lines)', (columns) => {
    expect(formatProgress(p, 2500, columns).length).toBeLessThanOrEqual(Math.max(10, columns - 1));
  });
});
