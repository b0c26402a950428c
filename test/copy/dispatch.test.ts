import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { INLINE_ENTRIES, LayerTasks, MOVE_WEIGHT, POOL_START_ENTRIES } from '../../src/copy/dispatch.js';
import { Pool } from '../../src/copy/pool.js';
import { packRels } from '../../src/core/paths.js';
import { buildLayer, exists, lstat, scratch } from '../helpers.js';

const pool = new Pool(2);
afterAll(() => pool.close());

function setup() {
  const dir = scratch();
  const layer = buildLayer(path.join(dir, 'layer'), { a: 'a', b: 'b', c: 'c' });
  const dst = buildLayer(path.join(dir, 'dst'), {});
  return { layer, dst, ctx: { layer, dir: layer, layerIndex: 0, rootfs: '/r' } };
}

/** A layer of `n` files f0…f(n-1) (each holding its name) and an empty destination. */
function files(n: number) {
  const dir = scratch();
  const names = Array.from({ length: n }, (_, i) => `f${i}`);
  const layer = buildLayer(path.join(dir, 'layer'), Object.fromEntries(names.map((name) => [name, name])));
  return { names, layer, dst: buildLayer(path.join(dir, 'dst'), {}) };
}

/** A copy task of regular files. */
const batchOf = (src: string, dst: string, rels: string[]) => ({
  op: 'copy' as const,
  src,
  dst,
  base: '',
  rels: packRels(rels),
  count: rels.length,
  types: 'f'.repeat(rels.length),
  defer: false,
});

/** A one-entry copy task. */
const copy = (src: string, dst: string, rel: string) => ({ op: 'copy' as const, src, dst, base: '', rels: packRels([rel]), count: 1, types: 'f', defer: false });

describe('LayerTasks', () => {
  it('the barrier waits for every task and reports each result once', async () => {
    const { layer, dst, ctx } = setup();
    const done: number[] = [];
    const tasks = new LayerTasks(pool, ctx, undefined);
    for (const rel of ['a', 'b', 'c']) await tasks.submit(copy(layer, dst, rel), 'copy', { onResult: (r) => done.push(r.done) });
    await tasks.barrier();
    expect(done).toEqual([1, 1, 1]);
    expect(['a', 'b', 'c'].every((n) => exists(path.join(dst, n)))).toBe(true);
  });

  it('a task a result submits (submitSoon) goes to the pool, not this thread, and the barrier waits for it even before any queue exists', async () => {
    const { layer, dst, ctx } = setup();
    const own = new Pool(1);
    try {
      // The first task runs inline; its result submits the next, which must
      // start the pool although the inline budget is not spent.
      const tasks = new LayerTasks(own, ctx, undefined, { entries: INLINE_ENTRIES, ms: 0 });
      const done: string[] = [];
      await tasks.submit(copy(layer, dst, 'a'), 'copy', { onResult: () => tasks.submitSoon(copy(layer, dst, 'b'), 'copy', { onResult: () => done.push('b') }) });
      await tasks.barrier();
      expect(done).toEqual(['b']);
      expect(exists(path.join(dst, 'b'))).toBe(true);
      expect(own.started).toBe(true);
    } finally {
      await own.close();
    }
  });

  it('the barrier throws the first failure as an error naming the layer, and later tasks do not run', async () => {
    const { layer, dst, ctx } = setup();
    const tasks = new LayerTasks(pool, ctx, undefined);
    await tasks.submit(copy(layer, dst, 'missing'), 'copy');
    await expect(tasks.barrier()).rejects.toMatchObject({ code: 'ENOENT', path: `${layer}/missing`, layerIndex: 0 });
    expect(tasks.stopped).toBe(true);
    await tasks.submit(copy(layer, dst, 'a'), 'copy');
    await expect(tasks.barrier()).rejects.toMatchObject({ code: 'ENOENT' });
    expect(exists(path.join(dst, 'a'))).toBe(false);
  });

  it('an aborted signal stops the tasks and the barrier throws an AbortError', async () => {
    const { layer, dst, ctx } = setup();
    const controller = new AbortController();
    const tasks = new LayerTasks(pool, ctx, controller.signal);
    controller.abort();
    await tasks.submit(copy(layer, dst, 'a'), 'copy');
    await expect(tasks.barrier()).rejects.toMatchObject({ name: 'AbortError', code: 'ABORT_ERR' });
    expect(exists(path.join(dst, 'a'))).toBe(false);
  });

  it("runs a provision's first entries on this thread, starts the pool part way through that budget and keeps running inline until it is spent", async () => {
    const { names, layer, dst } = files(POOL_START_ENTRIES + 2);
    const own = new Pool(1);
    try {
      // Entries only: on a loaded machine 511 inline copies can take longer than the time budget (INLINE_MS).
      const budget = { entries: INLINE_ENTRIES, ms: Number.NEGATIVE_INFINITY };
      const tasks = new LayerTasks(own, { layer, dir: layer, layerIndex: 0, rootfs: '/r' }, undefined, budget);
      const batch = (rels: string[]) => batchOf(layer, dst, rels);
      const copied: number[] = [];
      // Inline: the result is in before submit returns, with no thread started.
      await tasks.submit(batch(names.slice(0, POOL_START_ENTRIES - 1)), 'copy', { onResult: (r) => copied.push(r.done) });
      expect(copied).toEqual([POOL_START_ENTRIES - 1]);
      expect(own.started).toBe(false);
      await tasks.submit(batch(names.slice(POOL_START_ENTRIES - 1, POOL_START_ENTRIES + 1)), 'copy', { onResult: (r) => copied.push(r.done) });
      expect(own.started).toBe(true);
      await tasks.submit(batch(names.slice(POOL_START_ENTRIES + 1)), 'copy', { onResult: (r) => copied.push(r.done) });
      expect(copied).toEqual([POOL_START_ENTRIES - 1, 2, 1]);
      expect(budget.entries).toBe(INLINE_ENTRIES - names.length);
      await tasks.barrier();
      expect(names.every((n) => exists(path.join(dst, n)))).toBe(true);
    } finally {
      await own.close();
    }
  });

  it('while the pool has not started, entries linked into place (a scratch extraction moved) take 1/MOVE_WEIGHT of the budget and no time budget, a submitSoon too: no worker boots', async () => {
    const { names, layer, dst } = files(2 * POOL_START_ENTRIES);
    const own = new Pool(1);
    try {
      // The time budget spent from the start: only the entries bound what runs here.
      const budget = { entries: INLINE_ENTRIES, ms: Number.POSITIVE_INFINITY };
      const tasks = new LayerTasks(own, { layer, dir: layer, layerIndex: 0, rootfs: '/r' }, undefined, budget);
      const move = (rels: string[]) => ({ ...batchOf(layer, dst, rels), move: true });
      const half = names.length / 2;
      await tasks.submit(move(names.slice(0, half)), 'copy');
      tasks.submitSoon(move(names.slice(half)), 'copy');
      await tasks.barrier();
      expect(own.started).toBe(false);
      expect(budget.entries).toBe(INLINE_ENTRIES - 2 * Math.ceil(half / MOVE_WEIGHT));
      for (const n of [names[0], names[names.length - 1]]) expect(lstat(path.join(dst, n)).ino).toBe(lstat(path.join(layer, n)).ino);
    } finally {
      await own.close();
    }
  });

  it("a move within the budget runs on a thread of libuv's pool: submit returns before its result, the barrier waits for it; no worker boots", async () => {
    const { names, layer, dst } = files(200);
    const own = new Pool(1);
    try {
      const tasks = new LayerTasks(own, { layer, dir: layer, layerIndex: 0, rootfs: '/r' }, undefined, { entries: INLINE_ENTRIES, ms: 0 });
      const order: string[] = [];
      await tasks.submit({ ...batchOf(layer, dst, names), move: true }, 'copy', { onResult: (r) => order.push(`result ${r.done}`) });
      order.push('submitted');
      await tasks.barrier();
      expect(order).toEqual(['submitted', 'result 200']);
      expect(own.started).toBe(false);
      expect(names.every((n) => lstat(path.join(dst, n)).ino === lstat(path.join(layer, n)).ino)).toBe(true);
    } finally {
      await own.close();
    }
  });

  it("a move on libuv's pool that fails: the barrier throws its failure, naming the entry", async () => {
    const { layer, dst, ctx } = setup();
    const tasks = new LayerTasks(pool, ctx, undefined, { entries: pool.started ? 0 : INLINE_ENTRIES, ms: 0 });
    await tasks.submit({ ...batchOf(layer, dst, ['a', 'gone']), move: true }, 'copy');
    await expect(tasks.barrier()).rejects.toMatchObject({ code: 'ENOENT', path: expect.stringMatching(/gone$/) });
  });

  it("a big file's task (its size as priority) goes to the pool even while no worker runs: its hardlinked first name is copied, not linked", async () => {
    const { layer, dst, ctx } = setup();
    const own = new Pool(1);
    try {
      const tasks = new LayerTasks(own, ctx, undefined, { entries: INLINE_ENTRIES, ms: 0 });
      tasks.submitSoon({ ...copy(layer, dst, 'a'), move: true }, 'copy', { priority: 64 << 20 });
      await tasks.barrier();
      expect(own.started).toBe(true);
      expect(exists(path.join(dst, 'a'))).toBe(true);
    } finally {
      await own.close();
    }
  });

  it('a task submitted with a priority is queued at once, ahead of the tasks waiting, the highest first', async () => {
    const { names, layer, dst } = files(10);
    // One worker: tasks run one after the other, in the order the queue hands them over.
    const own = new Pool(1);
    try {
      const tasks = new LayerTasks(own, { layer, dir: layer, layerIndex: 0, rootfs: '/r' }, undefined);
      const order: string[] = [];
      const submit = (rel: string, priority?: number) => tasks.submit(copy(layer, dst, rel), 'copy', { onResult: () => order.push(rel), priority });
      // The queue holds 4 running tasks for one worker (2 per worker, twice over) and 4 waiting: none of these waits for room.
      for (const rel of names.slice(0, 8)) await submit(rel);
      await submit('f8', 1);
      await submit('f9', 2);
      await tasks.barrier();
      expect(order).toEqual(['f0', 'f1', 'f2', 'f3', 'f9', 'f8', 'f4', 'f5', 'f6', 'f7']);
    } finally {
      await own.close();
    }
  });
});
