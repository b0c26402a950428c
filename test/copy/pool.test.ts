import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Pool, TASKS_PER_WORKER } from '../../src/copy/pool.js';
import { packRels } from '../../src/core/paths.js';
import { buildLayer, exists, scratch } from '../helpers.js';

const faultyWorker = new URL('../fixtures/faulty-worker.cjs', import.meta.url).href;
const copy = (src: string, dst: string, rel: string) => ({ op: 'copy' as const, src, dst, base: '', rels: packRels([rel]), count: 1, types: 'f', defer: false });

describe('Pool', () => {
  afterEach(() => {
    delete process.env.LAYERCOPY_FAULT;
  });

  it('a task waiting behind one whose worker dies runs again on another worker; the one that was running fails', async () => {
    expect(TASKS_PER_WORKER).toBeGreaterThan(1);
    // Workers read LAYERCOPY_FAULT when they start: set it before the pool exists.
    // die: the thread exits inside boom's call, before the task behind it starts.
    process.env.LAYERCOPY_FAULT = 'die:boom';
    // One worker: both tasks are handed to it at once, the second waits in its port.
    const pool = new Pool(1, faultyWorker);
    try {
      const dir = scratch();
      const layer = buildLayer(path.join(dir, 'layer'), { boom: 'x', a: 'a' });
      const dst = buildLayer(path.join(dir, 'dst'), {});
      const [crashed, waiting] = await Promise.allSettled([pool.run(copy(layer, dst, 'boom')), pool.run(copy(layer, dst, 'a'))]);
      expect(crashed.status).toBe('rejected');
      expect(waiting).toMatchObject({ status: 'fulfilled', value: { done: 1 } });
      expect(exists(path.join(dst, 'a'))).toBe(true);
      expect(exists(path.join(dst, 'boom'))).toBe(false);
    } finally {
      await pool.close();
    }
  });
});
