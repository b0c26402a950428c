import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { isMainThread } from 'node:worker_threads';
import { afterEach, describe, expect, it } from 'vitest';
import { Pool, TASKS_PER_WORKER } from '../../src/copy/pool.js';
import { packRels } from '../../src/core/paths.js';
import { provisionWith } from '../../src/provision.js';
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

describe('Pool.runHere', () => {
  /** A worker module whose task says which thread ran it. */
  function whereModule(): string {
    const file = path.join(scratch(), 'where.cjs');
    fs.writeFileSync(
      file,
      "Object.defineProperty(exports, '__esModule', { value: true });\nconst { isMainThread } = require('node:worker_threads');\nexports.default = async (t) => { if (t.started) Atomics.store(t.started, 0, 1); await new Promise((r) => setTimeout(r, t.ms)); return { main: isMainThread }; };\n",
    );
    return pathToFileURL(file).href;
  }

  /** Runs the task here (as this thread) or on the pool (as the module's). */
  const where = (pool: Pool, file: string, ms: number) =>
    pool.runHere(
      async () => {
        await new Promise((r) => setTimeout(r, ms));
        return { main: isMainThread };
      },
      () => pool.runModule<{ ms: number }, { main: boolean }>(file, { ms }),
    );

  it('runs on this thread while the threads have not started, one task at a time; the others go to the pool', async () => {
    const pool = new Pool(2);
    try {
      const file = whereModule();
      expect(await Promise.all([where(pool, file, 50), where(pool, file, 0)])).toEqual([{ main: true }, { main: false }]);
      expect(pool.started).toBe(true);
    } finally {
      await pool.close();
    }
  });

  it('goes to the pool once its threads started', async () => {
    const pool = new Pool(1);
    try {
      pool.start();
      expect(await where(pool, whereModule(), 0)).toEqual({ main: false });
    } finally {
      await pool.close();
    }
  });

  it("a provision of one tar layer leaves the backend's pool unstarted", async () => {
    const dir = scratch();
    const tree = buildLayer(path.join(dir, 'tree'), { 'etc/a': 'a', 'etc/b': { symlink: 'a' } });
    execFileSync('tar', ['-C', tree, '-cf', path.join(dir, 'layer.tar'), '.']);
    const pool = new Pool(2);
    try {
      await provisionWith(pool, [path.join(dir, 'layer.tar')], path.join(dir, 'root'));
      expect(fs.readFileSync(path.join(dir, 'root', 'etc', 'a'), 'utf8')).toBe('a');
      expect(fs.readlinkSync(path.join(dir, 'root', 'etc', 'b'))).toBe('a');
      expect(pool.started).toBe(false);
    } finally {
      await pool.close();
    }
  });
});
