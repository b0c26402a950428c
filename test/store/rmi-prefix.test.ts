// rmi takes the short digest `images` prints: a unique prefix of a manifest
// digest (6 hex digits at least, as docker); a prefix that begins several
// digests is an error naming each, and drops nothing.
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { pull } from '../../src/index.js';
import { readRefs } from '../../src/store/refs.js';
import { testImage } from '../fixtures/registry.js';
import { scratch } from '../helpers.js';
import { cli } from '../registry/pull-helpers.js';

const run = (args: string[]) => execa('node', [cli, ...args], { reject: false });
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/**
 * Tags `a` and `b` in the layout of `image`: the same image under two
 * manifests that differ only in an annotation, chosen so that their digests
 * share their first 6 hex digits (a birthday search: a few thousand tries).
 */
function twoTagsSharingAPrefix(image: string): { a: string; b: string; prefix: string } {
  const layout = image.slice(4, image.lastIndexOf(':'));
  const index = JSON.parse(fs.readFileSync(path.join(layout, 'index.json'), 'utf8'));
  const manifest = JSON.parse(fs.readFileSync(path.join(layout, 'blobs/sha256', index.manifests[0].digest.slice(7)), 'utf8'));
  const seen = new Map<string, Buffer>();
  for (let n = 0; ; n++) {
    const bytes = Buffer.from(JSON.stringify({ ...manifest, annotations: { n: String(n) } }));
    const hex = sha(bytes);
    const other = seen.get(hex.slice(0, 6));
    if (other) {
      const entries = [other, bytes].map((b, i) => {
        fs.writeFileSync(path.join(layout, 'blobs/sha256', sha(b)), b);
        return { ...index.manifests[0], digest: `sha256:${sha(b)}`, size: b.length, annotations: { 'org.opencontainers.image.ref.name': 'ab'[i] } };
      });
      fs.writeFileSync(path.join(layout, 'index.json'), JSON.stringify({ ...index, manifests: entries }));
      return { a: `oci:${layout}:a`, b: `oci:${layout}:b`, prefix: hex.slice(0, 6) };
    }
    seen.set(hex.slice(0, 6), bytes);
  }
}

describe('rmi by a prefix of the manifest digest', () => {
  it('drops the reference named by the short digest images prints', async () => {
    const dir = scratch();
    const image = testImage(path.join(dir, 'img'), { layers: 1, sizeMb: 1, seed: 81 });
    const store = path.join(dir, 'store');
    const { digest } = await pull(image, { store });
    const r = await run(['rmi', '--store', store, digest.slice(0, 19)]);
    expect([r.exitCode, r.stdout, readRefs({ root: store })]).toEqual([0, `untagged ${image}`, []]);
  });

  it('takes the hex digits without sha256:', async () => {
    const dir = scratch();
    const image = testImage(path.join(dir, 'img'), { layers: 1, sizeMb: 1, seed: 82 });
    const store = path.join(dir, 'store');
    const { digest } = await pull(image, { store });
    const r = await run(['rmi', '--store', store, digest.slice(7, 15)]);
    expect([r.exitCode, readRefs({ root: store })]).toEqual([0, []]);
  });

  it('refuses a prefix under 6 hex digits (exit 2), dropping nothing', async () => {
    const dir = scratch();
    const image = testImage(path.join(dir, 'img'), { layers: 1, sizeMb: 1, seed: 83 });
    const store = path.join(dir, 'store');
    const { digest } = await pull(image, { store });
    const r = await run(['rmi', '--store', store, digest.slice(0, 12)]);
    expect([r.exitCode, r.stderr]).toEqual([2, expect.stringContaining('too short for a digest prefix: give at least 6 hex digits')]);
    expect(readRefs({ root: store }).map((x) => x.ref)).toEqual([image]);
  });

  it("an invalid docker:// reference is named as rmi's, not as a provision's layer 1 (exit 2), dropping nothing", async () => {
    const dir = scratch();
    const image = testImage(path.join(dir, 'img'), { layers: 1, sizeMb: 1, seed: 85 });
    const store = path.join(dir, 'store');
    await pull(image, { store });
    const r = await run(['rmi', '--store', store, 'docker://127.0.0.1:5000/Bad/Name:1']);
    expect([r.exitCode, r.stderr]).toEqual([2, 'layercopy: rmi (docker://127.0.0.1:5000/Bad/Name:1): repository name must be lowercase ("Bad/Name")']);
    expect(readRefs({ root: store }).map((x) => x.ref)).toEqual([image]);
  });

  it('an ambiguous prefix is an error naming each candidate with its reference, and drops nothing', async () => {
    const dir = scratch();
    const image = testImage(path.join(dir, 'img'), { layers: 1, sizeMb: 1, seed: 84 });
    const { a, b, prefix } = twoTagsSharingAPrefix(image);
    const store = path.join(dir, 'store');
    const da = (await pull(a, { store })).digest;
    const db = (await pull(b, { store })).digest;
    const r = await run(['rmi', '--json', '--store', store, `sha256:${prefix}`]);
    const { error } = JSON.parse(r.stdout);
    expect([r.exitCode, error.code]).toEqual([2, 'ERR_INVALID_ARGUMENT']);
    expect(error.message).toContain(`sha256:${prefix} is ambiguous`);
    for (const [d, ref] of [
      [da, a],
      [db, b],
    ])
      expect(error.message).toContain(`${d} (${ref})`);
    expect(readRefs({ root: store }).length).toBe(2);
  });
});
