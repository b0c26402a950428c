// kill -9 of a pull of a local image (oci:): the blobs are copied out of the
// layout into spool files the extractions follow, as a registry's are
// downloaded. Killed while the first layer extracts, and again once it is in
// place: no partial entry, and the next provision is whole and removes the
// leftovers.
import path from 'node:path';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { provision, verify } from '../../src/index.js';
import { testImage } from '../fixtures/registry.js';
import { diffSnapshots, scratch } from '../helpers.js';
import { cli } from '../registry/pull-helpers.js';
import { held, tree } from './helpers.js';

describe('kill -9 of an oci: pull', () => {
  it.each([
    ['while its first layer extracts', (store: string) => held(store).tmp.some((n) => n.endsWith('-build')) && held(store).layers.length === 0],
    ['after a layer is in place, another still extracting', (store: string) => held(store).layers.length >= 1 && held(store).layers.length < 3],
  ])('%s: no partial entry; the next provision is whole and removes the leftovers', async (_when, ready) => {
    const dir = scratch();
    const image = testImage(path.join(dir, 'img'), { layers: 3, sizeMb: 8, seed: 81 });
    const store = path.join(dir, 'store');
    const child = execa('node', [cli, 'pull', '--store', store, '--concurrency', '1', image], { reject: false });
    const deadline = Date.now() + 20_000;
    while (!ready(store) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 2));
    child.kill('SIGKILL');
    await child;
    expect(ready(store)).toBe(true);
    expect(held(store).tmp.length).toBeGreaterThan(0);
    // What is in layers/ and blobs/ is whole; the reference lacks what the pull did not finish.
    expect((await verify({ store })).damaged.filter((d) => d.kind !== 'ref')).toEqual([]);
    const kept = held(store).layers.length;
    const after = await provision([image], path.join(dir, 'after'), { store });
    expect(after.store).toMatchObject({ layersReused: kept, layersExtracted: 3 - kept });
    await provision([image], path.join(dir, 'straight'));
    expect(diffSnapshots(tree(path.join(dir, 'straight')), tree(path.join(dir, 'after')))).toEqual([]);
    expect(held(store).tmp).toEqual([]);
    expect((await verify({ store })).damaged).toEqual([]);
  });
});
