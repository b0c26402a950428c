// The store's commands from the CLI: pull prints the manifest digest, images
// lists it, rmi and prune empty the store (prune says how much it freed),
// verify exits 1 on damage; --json on each; usage errors.
import fs from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { testImage } from '../fixtures/registry.js';
import { scratch } from '../helpers.js';
import { cli } from '../registry/pull-helpers.js';
import { held, MODE } from './helpers.js';

const run = (args: string[], env: Record<string, string> = {}) => execa('node', [cli, ...args], { reject: false, env, extendEnv: true });

describe('layercopy pull, images, rmi, prune, verify', () => {
  it('pull, images, verify, rmi, prune: each as text and as --json', async () => {
    const dir = scratch();
    const image = testImage(path.join(dir, 'img'), { layers: 2, sizeMb: 1, seed: 41 });
    const store = path.join(dir, 'store');
    const pulled = await run(['pull', '--store', store, image]);
    expect(pulled.exitCode, pulled.stderr).toBe(0);
    expect(pulled.stdout).toMatch(/^sha256:[0-9a-f]{64}$/);
    // $LAYERCOPY_STORE as --store.
    const again = await run(['pull', '--json', image], { LAYERCOPY_STORE: store });
    expect(JSON.parse(again.stdout)).toMatchObject({ reference: image, digest: pulled.stdout, platform: expect.any(String), store: { layersReused: 2, layersExtracted: 0 } });
    const list = await run(['images', '--json', '--store', store]);
    expect(JSON.parse(list.stdout)).toEqual([expect.objectContaining({ reference: image, digest: pulled.stdout })]);
    expect((await run(['images', '--store', store])).stdout).toContain(pulled.stdout.slice(0, 19));
    // -q: the digest alone, as images -q prints IDs (rmi takes it).
    expect((await run(['images', '-q', '--store', store])).stdout).toBe(pulled.stdout.slice(0, 19));
    const ok = await run(['verify', '--store', store]);
    expect([ok.exitCode, ok.stdout]).toEqual([0, 'checked 4 blobs, 2 layers, 1 reference: no damage']);
    const layer = held(store).layers[0];
    fs.chmodSync(path.join(store, `layers/${MODE}`, layer, 'rootfs/etc/layer'), 0o600);
    const bad = await run(['verify', '--json', '--store', store]);
    expect(bad.exitCode).toBe(1);
    expect(JSON.parse(bad.stdout).damaged).toEqual([
      { kind: 'layer', id: `sha256:${layer}`, path: path.join(store, `layers/${MODE}`, layer), mode: MODE, problems: ['etc/layer: mode 600, listed 644'] },
    ]);
    // Quiet: nothing on stdout, the damage on stderr, as errors are.
    const quiet = await run(['verify', '-q', '--store', store]);
    expect([quiet.exitCode, quiet.stdout, quiet.stderr]).toEqual([1, '', expect.stringMatching(/^checked 4 blobs, 2 layers, 1 reference: 1 damaged\ndamaged layer sha256:/)]);
    const rmi = await run(['rmi', '--store', store, image]);
    expect([rmi.exitCode, rmi.stdout]).toEqual([0, `untagged ${image}`]);
    const pruned = await run(['prune', '--store', store]);
    expect(pruned.exitCode).toBe(0);
    expect(pruned.stdout).toMatch(/^freed \d+(\.\d+)? MB: 4 blobs, 2 layers removed$/);
    expect(JSON.parse((await run(['prune', '--json', '--store', store])).stdout)).toMatchObject({ blobs: 0, layers: 0, bytes: 0 });
    const unknown = await run(['rmi', '--json', '--store', store, image]);
    expect([unknown.exitCode, JSON.parse(unknown.stdout).error.code]).toEqual([1, 'ERR_IMAGE_NOT_FOUND']);
  });

  it('usage: --pull needs a store; a store command takes only its options; a store refuses a directory of other things', async () => {
    const dir = scratch();
    const noStore = await run(['provision', '--pull', 'never', path.join(dir, 'l'), path.join(dir, 'r')], { LAYERCOPY_STORE: '' });
    expect([noStore.exitCode, noStore.stderr]).toEqual([2, "layercopy: --pull needs a store (--store DIR or $LAYERCOPY_STORE)\nTry 'layercopy --help'."]);
    const bad = await run(['provision', '--store', dir, '--pull', 'sometimes', path.join(dir, 'l'), path.join(dir, 'r')]);
    expect(bad.exitCode).toBe(2);
    expect(bad.stderr).toMatch(/--pull must be one of missing, always, never/);
    expect((await run(['prune', '--strategy', 'merged', '--store', dir])).stderr).toMatch(/--strategy is not an option of prune/);
    fs.writeFileSync(path.join(dir, 'other'), 'x');
    const notStore = await run(['images', '--json', '--store', dir]);
    expect([notStore.exitCode, JSON.parse(notStore.stdout).error.code]).toEqual([1, 'ERR_STORE']);
    expect(fs.readdirSync(dir)).toEqual(['other']);
  });

  it('a ROOTFS inside the --store directory, an empty one made for it too: refused (exit 2) before the store is made', async () => {
    const dir = scratch();
    const layer = path.join(dir, 'l');
    fs.mkdirSync(path.join(layer, 'etc'), { recursive: true });
    // An empty directory made for it: the store it becomes has no marker until it is opened.
    const store = path.join(dir, 'ns');
    fs.mkdirSync(store);
    const r = await run(['provision', '--store', store, layer, path.join(store, 'rootfs')]);
    expect([r.exitCode, r.stderr.split('\n')[0]]).toEqual([2, `layercopy: rootfs ${store}/rootfs lies inside the layercopy store ${store}; provision it elsewhere`]);
    expect(fs.readdirSync(store)).toEqual([]);
  });

  it('images, rmi, prune and verify of a --store that does not exist: ERR_STORE naming it, exit 1, nothing made', async () => {
    const missing = path.join(scratch(), 'typo', 'store');
    for (const args of [['images'], ['rmi', 'oci:/x:t'], ['prune'], ['verify'], ['verify', '--repair']]) {
      const r = await run([...args, '--json', '--store', missing]);
      expect([args, r.exitCode, JSON.parse(r.stdout).error?.code]).toEqual([args, 1, 'ERR_STORE']);
      expect(JSON.parse(r.stdout).error.message).toContain(`store ${missing}: does not exist`);
    }
    expect(fs.existsSync(path.dirname(missing))).toBe(false);
  });

  it('--pull never: a reference the store lacks fails with ERR_IMAGE_NOT_FOUND and nothing is fetched', async () => {
    const dir = scratch();
    const image = testImage(path.join(dir, 'img'), { layers: 1, sizeMb: 1, seed: 42 });
    const store = path.join(dir, 'store');
    const r = await run(['provision', '--json', '--store', store, '--pull', 'never', image, path.join(dir, 'root')]);
    expect(r.exitCode).toBe(1);
    expect(JSON.parse(r.stdout).error).toMatchObject({ code: 'ERR_IMAGE_NOT_FOUND', layerIndex: 0 });
    expect(held(store)).toEqual({ blobs: [], layers: [], locks: [], tmp: [] });
    const destroy = await run(['destroy', '--json', path.join(store, 'blobs')]);
    expect([destroy.exitCode, JSON.parse(destroy.stdout).error.code]).toEqual([2, 'ERR_INVALID_ARGUMENT']);
  });

  it('--pull never: a reference whose layer is neither extracted nor its blob there fails ERR_STORE naming the image and what to do', async () => {
    const { dir, image, store } = await incomplete(43);
    const r = await run(['provision', '--json', '--store', store, '--pull', 'never', image, path.join(dir, 'root')]);
    expect(r.exitCode).toBe(1);
    const error = JSON.parse(r.stdout).error;
    expect(error).toMatchObject({ code: 'ERR_STORE', layer: image, layerIndex: 0 });
    expect(
      error.message.endsWith(
        `not extracted in the store, and its blob is missing there; the reference is incomplete in the store (layercopy verify lists it): pull it again (layercopy pull ${image}), or use --pull missing`,
      ),
    ).toBe(true);
  });

  it('images marks a reference that lacks a blob or layer as incomplete (--json: incomplete: true), the others not', async () => {
    const { dir, image, store } = await incomplete(44);
    const whole = testImage(path.join(dir, 'img2'), { layers: 1, sizeMb: 1, seed: 45 });
    expect((await run(['pull', '--store', store, whole])).exitCode).toBe(0);
    const list = JSON.parse((await run(['images', '--json', '--store', store])).stdout) as { reference: string; incomplete?: boolean }[];
    expect(list.map((i) => [i.reference, i.incomplete])).toEqual([
      [whole, undefined],
      [image, true],
    ]);
    const text = (await run(['images', '--store', store])).stdout.split('\n');
    expect(text.at(-1)).toBe(`incomplete (its next pull fetches what is missing; layercopy verify lists it): ${image}`);
  });
});

/** A store holding `image` whose only layer is neither extracted nor its blob there (a pull killed before them, a repair). */
async function incomplete(seed: number) {
  const dir = scratch();
  const image = testImage(path.join(dir, 'img'), { layers: 1, sizeMb: 1, seed });
  const store = path.join(dir, 'store');
  expect((await run(['pull', '--store', store, image])).exitCode).toBe(0);
  fs.rmSync(path.join(store, 'layers', MODE, held(store).layers[0]), { recursive: true });
  const digest = JSON.parse(fs.readFileSync(path.join(store, 'refs.json'), 'utf8')).refs[0].digest as string;
  const manifest = JSON.parse(fs.readFileSync(path.join(store, 'blobs/sha256', digest.slice(7)), 'utf8'));
  fs.rmSync(path.join(store, 'blobs/sha256', manifest.layers[0].digest.slice(7)));
  return { dir, image, store };
}
