// A store's pull from a registry (src/store/pull.ts): the blobs the store
// lacks are asked for as soon as the manifest is read, beside the config,
// and only those.
import path from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { images, pull } from '../../src/index.js';
import { heldConfigRegistry } from '../fixtures/held-config.js';
import { scratch } from '../helpers.js';
import { rawTar, sha } from '../images/fixtures.js';

let stop: (() => void) | undefined;
afterEach(() => stop?.());

it("a cold pull asks for the layers' blobs before the config has answered; a pull of an image sharing a layer asks only for the blob the store lacks", async () => {
  const base = rawTar([{ name: 'base', data: 'base\n', mode: 0o644 }]);
  const app = rawTar([{ name: 'app', data: 'app\n', mode: 0o644 }]);
  const r = await heldConfigRegistry([base]);
  stop = r.stop;
  const store = path.join(scratch(), 'store');
  const options = { store, platform: 'linux/amd64', registry: { tlsVerify: false } };
  await pull(`docker://${r.host}/app/x:1`, options);
  expect(r.seen).toEqual([`blobs/${r.configDigest}`, `blobs/${sha(base)}`, 'config answered']);
  expect((await images({ store })).map((i) => i.reference)).toEqual([`docker://${r.host}/app/x:1`]);
  r.stop();

  const two = await heldConfigRegistry([base, app]);
  stop = two.stop;
  await pull(`docker://${two.host}/app/x:1`, options);
  // base is in the store already: asked for neither ahead nor after.
  expect(two.seen).toEqual([`blobs/${two.configDigest}`, `blobs/${sha(app)}`, 'config answered']);
});

it('an image that names one blob twice: asked for once (the store fetches it once)', async () => {
  const twice = rawTar([{ name: 'twice', data: 'twice\n', mode: 0o644 }]);
  const r = await heldConfigRegistry([twice, twice]);
  stop = r.stop;
  const store = path.join(scratch(), 'store');
  await pull(`docker://${r.host}/app/x:1`, { store, platform: 'linux/amd64', registry: { tlsVerify: false } });
  expect(r.seen).toEqual([`blobs/${r.configDigest}`, `blobs/${sha(twice)}`, 'config answered']);
});
