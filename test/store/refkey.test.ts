// A docker:// reference is one image however it is typed: `app` is
// `app:latest` (and `alpine` is `docker.io/library/alpine:latest`), as
// podman's and containers-storage's names are; refs.json keys it so, and
// reads a store that kept references as typed. An invalid reference is a
// usage error with --pull never too. rmi finds a reference by the digest
// it was pulled by, and names the platform where a reference holds several.
import fs from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hostPlatform, showPlatform } from '../../src/images/oci.js';
import { readRefs } from '../../src/store/refs.js';
import { hasRegistry, missingRegistryTools, pushImage, type Registry, startFaultProxy, startRegistry, testImage } from '../fixtures/registry.js';
import { scratch } from '../helpers.js';
import { addImage, indexOf, rawTar, writeIndex } from '../images/fixtures.js';
import { cli, isolated } from '../registry/pull-helpers.js';

const why = hasRegistry ? '' : ` (skipped: ${missingRegistryTools.join(', ')} not on PATH)`;
const run = (args: string[]) => execa('node', [cli, ...args], { reject: false, env: isolated(), extendEnv: true });

describe.skipIf(!hasRegistry)(`docker:// references in the store, normalized${why}`, () => {
  let registry: Registry;
  let index: string;
  const other = { os: 'linux', architecture: hostPlatform().architecture === 's390x' ? 'ppc64le' : 's390x' };
  beforeAll(async () => {
    registry = await startRegistry();
    await pushImage(testImage(path.join(scratch(), 'app'), { layers: 1, sizeMb: 0.01, seed: 91 }), registry, 'app:latest');
    const layout = path.join(scratch(), 'multi');
    const here = addImage(layout, { layers: [rawTar([{ name: 'here', data: 'host' }])], platform: hostPlatform() });
    const there = addImage(layout, { layers: [rawTar([{ name: 'there', data: other.architecture }])], platform: other });
    const idx = indexOf(layout, [here, there]);
    index = idx.digest;
    writeIndex(layout, [{ ...idx, ref: 'latest' }]);
    await pushImage(`oci:${layout}:latest`, registry, 'multi:1', { all: true });
  });
  afterAll(() => registry?.stop());

  it('pulled as app, found as app:latest: provision --pull never, a default provision without a request, rmi; images shows app:latest', async () => {
    const proxy = await startFaultProxy(registry.url);
    try {
      const dir = scratch();
      const store = path.join(dir, 'store');
      const flags = ['--tls-verify=false', '--store', store];
      const pulled = await run(['pull', ...flags, `docker://${proxy.host}/app`]);
      expect(pulled.exitCode, pulled.stderr).toBe(0);
      const never = await run(['provision', ...flags, '--pull', 'never', `docker://${proxy.host}/app:latest`, path.join(dir, 'never')]);
      expect(never.exitCode, never.stderr).toBe(0);
      const before = proxy.requests().length;
      const warm = await run(['provision', ...flags, `docker://${proxy.host}/app:latest`, path.join(dir, 'warm')]);
      expect(warm.exitCode, warm.stderr).toBe(0);
      expect(proxy.requests().slice(before)).toEqual([]);
      const list = JSON.parse((await run(['images', '--json', '--store', store])).stdout);
      expect(list.map((i: { reference: string }) => i.reference)).toEqual([`docker://${proxy.host}/app:latest`]);
      const rmi = await run(['rmi', '--store', store, `docker://${proxy.host}/app:latest`]);
      expect([rmi.exitCode, rmi.stdout, rmi.stderr]).toEqual([0, `untagged docker://${proxy.host}/app:latest`, '']);
      expect(readRefs({ root: store })).toEqual([]);
    } finally {
      await proxy.stop();
    }
  });

  it('a store whose refs.json kept references as typed: read normalized, duplicates merged by last use', async () => {
    const dir = scratch();
    const store = path.join(dir, 'store');
    const ref = `docker://${registry.host}/app`;
    const pulled = await run(['pull', '--tls-verify=false', '--store', store, ref]);
    expect(pulled.exitCode, pulled.stderr).toBe(0);
    // As a store written before kept them: the reference as typed, twice over (app and app:latest).
    const file = path.join(store, 'refs.json');
    const refs = JSON.parse(fs.readFileSync(file, 'utf8'));
    const [record] = refs.refs;
    refs.refs = [
      { ...record, ref, lastUsed: '2026-01-01T00:00:00.000Z' },
      { ...record, ref: `${ref}:latest`, lastUsed: '2026-02-01T00:00:00.000Z' },
    ];
    fs.writeFileSync(file, JSON.stringify(refs));
    const list = JSON.parse((await run(['images', '--json', '--store', store])).stdout);
    expect(list).toEqual([expect.objectContaining({ reference: `${ref}:latest`, lastUsed: '2026-02-01T00:00:00.000Z' })]);
    const never = await run(['provision', '--store', store, '--pull', 'never', ref, path.join(dir, 'never')]);
    expect(never.exitCode, never.stderr).toBe(0);
    expect(readRefs({ root: store }).map((r) => r.ref)).toEqual([`${ref}:latest`]);
    // docker://alpine as typed is docker.io/library/alpine:latest (no request made: rmi reads refs.json alone).
    fs.writeFileSync(file, JSON.stringify({ ...refs, refs: [{ ...record, ref: 'docker://alpine' }] }));
    const hub = await run(['rmi', '--store', store, 'docker://docker.io/library/alpine:latest']);
    expect([hub.exitCode, hub.stdout, hub.stderr]).toEqual([0, 'untagged docker://docker.io/library/alpine:latest', '']);
  });

  it('--pull never: an invalid reference is a usage error (exit 2), not "not in the store"', async () => {
    const dir = scratch();
    const r = await run(['provision', '--store', path.join(dir, 'store'), '--pull', 'never', `docker://${registry.host}/Bad`, path.join(dir, 'root')]);
    expect([r.exitCode, r.stderr]).toEqual([2, expect.stringContaining('repository name must be lowercase ("Bad")')]);
    // Checked before the store is opened: a mistyped reference makes no store.
    expect(fs.existsSync(path.join(dir, 'store'))).toBe(false);
    // pull too, before it makes the store.
    const p = await run(['pull', '--store', path.join(dir, 'other'), `docker://${registry.host}/Bad`]);
    expect([p.exitCode, p.stderr, fs.existsSync(path.join(dir, 'other'))]).toEqual([2, expect.stringContaining('repository name must be lowercase ("Bad")'), false]);
  });

  it("rmi by an index's digest finds a reference pulled by its tag (the store records the index a tag named)", async () => {
    const dir = scratch();
    const store = path.join(dir, 'store');
    const tagged = `docker://${registry.host}/multi:1`;
    const pulled = await run(['pull', '--tls-verify=false', '--store', store, tagged]);
    expect(pulled.exitCode, pulled.stderr).toBe(0);
    expect(readRefs({ root: store }).map((r) => [r.ref, r.index])).toEqual([[tagged, index]]);
    const rmi = await run(['rmi', '--store', store, `docker://${registry.host}/multi@${index}`]);
    expect([rmi.exitCode, rmi.stdout, rmi.stderr]).toEqual([0, `untagged ${tagged}`, '']);
    expect(readRefs({ root: store })).toEqual([]);
  });

  it('rmi by the index digest pulled by drops every platform; by one platform manifest digest, it names the platform', async () => {
    const dir = scratch();
    const store = path.join(dir, 'store');
    const ref = `docker://${registry.host}/multi@${index}`;
    const flags = ['--tls-verify=false', '--store', store];
    const here = await run(['pull', ...flags, ref]);
    const there = await run(['pull', ...flags, '--platform', showPlatform(other), ref]);
    expect([here.exitCode, there.exitCode], here.stderr + there.stderr).toEqual([0, 0]);
    const one = await run(['rmi', '--store', store, `docker://${registry.host}/multi@${there.stdout}`]);
    expect([one.exitCode, one.stdout, one.stderr]).toEqual([0, `untagged ${ref} (${showPlatform(other)})`, '']);
    expect(readRefs({ root: store }).map((r) => [r.ref, r.digest])).toEqual([[ref, here.stdout]]);
    const both = [`untagged ${ref} (${showPlatform(hostPlatform())})`, `untagged ${ref} (${showPlatform(other)})`].sort();
    // The index digest alone (as skopeo inspect or the registry names it), and as docker://REPO@INDEX: every platform it was pulled for.
    for (const name of [index, ref]) {
      expect((await run(['pull', ...flags, '--platform', showPlatform(other), ref])).exitCode).toBe(0);
      const all = await run(['rmi', '--store', store, name]);
      expect([all.exitCode, all.stdout.split('\n').sort(), all.stderr]).toEqual([0, both, '']);
      expect((await run(['pull', ...flags, ref])).exitCode).toBe(0);
    }
    expect(readRefs({ root: store }).map((r) => r.ref)).toEqual([ref]);
  });
});
