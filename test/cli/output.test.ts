import { describe, expect, it } from 'vitest';
import { formatProgress } from '../../src/cli/output.js';

describe('the progress line', () => {
  const p = { phase: 'copy' as const, layerIndex: 1, layers: 4, layer: '/l', entries: 123456, bytes: 98_700_000 };
  it('shows the phase, layer, totals and elapsed time', () => {
    expect(formatProgress(p, 2500, 200)).toBe('copy · layer 2/4 · 123,456 entries · 98.7 MB · 2.5 s');
  });
  it('while extracting: the layer, its bytes read of its size, and all bytes read', () => {
    const e = { phase: 'extract' as const, layerIndex: 0, layers: 2, layer: 'x.tgz', entries: 0, bytes: 60_000_000, read: 45_000_000, size: 130_000_000 };
    expect(formatProgress(e, 1200, 200)).toBe('extract · layer 1/2 · 45.0 MB of 130.0 MB read · 60.0 MB in all · 1.2 s');
  });
  it.each([40, 20, 5])('fits a %i-column terminal (no wrap, so no stacked lines)', (columns) => {
    expect(formatProgress(p, 2500, columns).length).toBeLessThanOrEqual(Math.max(10, columns - 1));
  });
});
