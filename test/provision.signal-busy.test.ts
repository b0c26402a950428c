import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { Pool } from '../src/copy/pool.js';
import { provisionWith } from '../src/provision.js';
import { scratch } from './helpers.js';
import { ociImage, rawTar } from './images/fixtures.js';

describe('a signal that arrives while the main thread is busy applying layers', () => {
  // The layers above a pumped base are applied on this thread while no
  // worker has started (src/copy/dispatch.ts): a signal's handler can run
  // only when the event loop turns. A Ctrl-C handler aborting the signal is
  // simulated with SIGUSR2, raised from a progress event of the copy phase.
  it('aborts the provision before the rootfs is committed: nothing left', async () => {
    const dir = scratch();
    const base = rawTar([{ name: 'etc/', type: '5' }, ...Array.from({ length: 20 }, (_, i) => ({ name: `etc/f${i}`, data: 'x' }))]);
    const above = rawTar([
      { name: '.wh.etc', data: '' },
      { name: 'top', data: 'y' },
    ]);
    const layout = ociImage(path.join(dir, 'img'), { layers: [base, above], compression: 'gzip' });
    const controller = new AbortController();
    const onSignal = () => controller.abort(new Error('received SIGUSR2'));
    process.on('SIGUSR2', onSignal);
    let raised = false;
    const pool = new Pool(2);
    try {
      const result = await provisionWith(pool, [`oci:${layout}:latest`], path.join(dir, 'root'), {
        signal: controller.signal,
        onProgress: (p) => {
          if (p.phase !== 'copy' || raised) return;
          raised = true;
          process.kill(process.pid, 'SIGUSR2');
        },
      }).then(
        () => 'committed',
        (error: { code?: string }) => error.code,
      );
      expect(raised).toBe(true);
      expect(result).toBe('ABORT_ERR');
      expect(fs.readdirSync(dir)).toEqual(['img']);
    } finally {
      process.off('SIGUSR2', onSignal);
      await pool.close();
    }
  });
});
