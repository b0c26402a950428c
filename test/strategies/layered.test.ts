import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { provision } from '../../src/index.js';
import { scratch } from '../helpers.js';

describe('the layered walk', () => {
  it('gives the event loop turns: an abort asked while it walks a deep tree ends it there, before the bad marker at the bottom', async () => {
    const dir = scratch();
    // 1,500 directories deep (each costs more the deeper it lies: the walk takes seconds), an invalid marker at the bottom.
    const bottom = path.join(dir, 'layer', ...Array(1500).fill('d'));
    fs.mkdirSync(bottom, { recursive: true });
    fs.writeFileSync(path.join(bottom, '.wh.'), '');
    const controller = new AbortController();
    // A timer is what a signal's handler is: it runs only when the event loop turns.
    const timer = setTimeout(() => controller.abort(new Error('asked')), 50);
    const outcome = await provision([path.join(dir, 'layer')], path.join(dir, 'root'), { signal: controller.signal, strategy: 'layered' }).then(
      () => 'committed',
      (error: { code?: string }) => error.code,
    );
    clearTimeout(timer);
    // Without turns the walk ran to the marker first: ERR_INVALID_WHITEOUT.
    expect(outcome).toBe('ABORT_ERR');
    expect(fs.readdirSync(dir)).toEqual(['layer']);
  });
});
