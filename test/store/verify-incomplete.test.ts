// verify tells a reference that lacks layer blobs or layers (incomplete:
// its next pull fetches them) from damage: after verify --repair removed a
// damaged blob, a plain verify finds nothing damaged.
import fs from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import { beforeAll, describe, expect, it } from 'vitest';
import { pull, verify } from '../../src/index.js';
import { testImage } from '../fixtures/registry.js';
import { scratch } from '../helpers.js';
import { cli } from '../registry/pull-helpers.js';

describe('verify after verify --repair removed a damaged layer blob', () => {
  let store: string;
  let image: string;
  let blob: string;
  beforeAll(async () => {
    const dir = scratch();
    image = testImage(path.join(dir, 'img'), { layers: 1, sizeMb: 1, seed: 71 });
    store = path.join(dir, 'store');
    const digest = (await pull(image, { store })).digest;
    const manifest = JSON.parse(fs.readFileSync(path.join(store, 'blobs/sha256', digest.slice(7)), 'utf8'));
    blob = path.join(store, 'blobs/sha256', manifest.layers[0].digest.slice(7));
    const bytes = fs.readFileSync(blob);
    bytes[bytes.length >> 1] ^= 0xff;
    fs.writeFileSync(blob, bytes);
    await verify({ store, repair: true });
  });

  it('finds no damage and exits 0', async () => {
    const r = await execa('node', [cli, 'verify', '--json', '--store', store], { reject: false });
    expect([r.exitCode, JSON.parse(r.stdout).damaged]).toEqual([0, []]);
  });

  it('--json lists the reference as incomplete, naming the missing blob', async () => {
    const r = await execa('node', [cli, 'verify', '--json', '--store', store], { reject: false });
    expect(JSON.parse(r.stdout).incomplete).toEqual([{ kind: 'ref', id: image, path: path.join(store, 'refs.json'), missing: [`blob sha256:${path.basename(blob)} is missing`] }]);
  });

  it('the text says incomplete and that the next pull fetches what is missing', async () => {
    const r = await execa('node', [cli, 'verify', '--store', store], { reject: false });
    expect(r.stdout).toContain(`checked 2 blobs, 1 layer, 1 reference: no damage, 1 incomplete\nincomplete ref ${image}`);
    expect(r.stdout).toContain(`its next pull fetches what is missing (layercopy pull ${image})`);
  });

  it('verify --repair reports the reference incomplete after the removal it made', async () => {
    const again = scratch();
    const img = testImage(path.join(again, 'img'), { layers: 1, sizeMb: 1, seed: 72 });
    const s = path.join(again, 'store');
    const digest = (await pull(img, { store: s })).digest;
    const manifest = JSON.parse(fs.readFileSync(path.join(s, 'blobs/sha256', digest.slice(7)), 'utf8'));
    const file = path.join(s, 'blobs/sha256', manifest.layers[0].digest.slice(7));
    fs.appendFileSync(file, 'x');
    const r = await verify({ store: s, repair: true });
    expect(r.incomplete.map((i) => i.missing)).toEqual([[`blob ${manifest.layers[0].digest} is missing`]]);
  });
});
