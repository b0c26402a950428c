// The order a provision's downloads start in and the requests sent ahead
// of them (src/registry/download-order.ts).
import { describe, expect, it } from 'vitest';
import { downloadOrder, requestEarly } from '../../src/registry/download-order.js';

describe('requestEarly', () => {
  it("the first `max` downloads' requests, in the order the downloads start (small first); none of the others, none twice", () => {
    const sent: string[] = [];
    const layer = (label: string, size: number) => ({ tar: { file: '', label, size }, download: async () => {}, request: () => void sent.push(label) });
    const layers = [layer('base', 90 << 20), { tar: { file: '', label: 'local', size: 1 } }, layer('app', 30 << 20), layer('cleanup', 534), layer('big', 400 << 20)];
    requestEarly(layers, 2);
    expect(sent).toEqual(['cleanup', 'big']);
    sent.length = 0;
    requestEarly(layers, 6);
    expect(sent).toEqual(['cleanup', 'big', 'base', 'app']);
  });
});

describe('downloadOrder', () => {
  it('small layers (1 MiB or less) first, then the largest; layers without a download left out', () => {
    const layer = (size: number, download = true) => ({ tar: { file: '', label: '', size }, ...(download ? { download: true } : {}) });
    expect(downloadOrder([layer(90 << 20), layer(1, false), layer(30 << 20), layer(534), layer(400 << 20), layer(1 << 20)])).toEqual([5, 3, 4, 0, 2]);
  });
});
