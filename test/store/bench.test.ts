// layercopy bench with the store: --owners, --devices and --strict reach
// every provision bench times, and bench --store times a warm store beside
// its layers as directories and a cold store beside no store, leaving
// nothing behind.
import fs from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { shownRegistryArgs } from '../../src/cli/bench-store.js';
import { hasRegistry, pushImage, type Registry, startRegistry, testImage } from '../fixtures/registry.js';
import { buildLayer, isRoot, scratch } from '../helpers.js';
import { cli } from '../registry/pull-helpers.js';

const run = (args: string[]) => execa('node', [cli, ...args], { reject: false });
const quick = ['--runs', '1', '--strategy', 'merged', '--concurrency', '1', '--batch-size', 'auto'];

describe('layercopy bench and the store', () => {
  it.runIf(isRoot)('--owners drop --strict reaches the timed provisions: a setuid file fails them, and the bench [needs root: a root-owned setuid file]', async () => {
    const dir = scratch();
    const layer = buildLayer(path.join(dir, 'l'), { 'usr/bin/su': { file: 'x', mode: 0o4755 } });
    const plain = await run(['bench', ...quick, '--scratch', dir, '--json', layer]);
    expect(plain.exitCode, plain.stderr).toBe(0);
    expect(JSON.parse(plain.stdout).rows.find((r: { method: string }) => r.method === 'layercopy').policyArgs).toBeUndefined();
    const strict = await run(['bench', ...quick, '--owners', 'drop', '--strict', '--scratch', dir, '--json', layer]);
    expect(strict.exitCode).not.toBe(0);
    expect(strict.stderr).toMatch(/usr\/bin\/su: mode 4755 written 0755: setuid\/setgid cleared \(--owners drop\) \(--strict\)/);
    const devices = await run(['bench', ...quick, '--owners', 'drop', '--devices', 'skip', '--scratch', dir, '--json', layer]);
    expect(devices.exitCode, devices.stderr).toBe(0);
    expect(JSON.parse(devices.stdout).rows.find((r: { method: string }) => r.method === 'layercopy').policyArgs).toEqual(['--owners', 'drop', '--devices', 'skip']);
  });

  it('bench --store DIR IMAGE: warm, directories, cold and no store, each timed; the stores removed after', async () => {
    const dir = scratch();
    const image = testImage(path.join(dir, 'img'), { layers: 2, sizeMb: 1, seed: 71 });
    const stores = path.join(dir, 'stores');
    fs.mkdirSync(stores);
    const r = await run(['bench', '--store', stores, '--runs', '2', '--json', image]);
    expect(r.exitCode, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout);
    expect(report.rows.map((row: { method: string; runsMs: number[] }) => [row.method, row.runsMs.length])).toEqual([
      ['warm', 2],
      ['directories', 2],
      ['cold', 2],
      ['no store', 2],
    ]);
    expect(report.warmOverDirectories).toBeGreaterThan(0);
    expect(report.coldOverNoStore).toBeGreaterThan(0);
    expect(report.rows[1].command).toBe("layercopy provision STORE's layers as directories ROOTFS");
    expect(fs.readdirSync(stores)).toEqual([]);
    const text = await run(['bench', '--store', stores, '--runs', '1', image]);
    expect(text.stdout).toMatch(/^warm \/ directories \d+\.\d\d; cold \/ no store \d+\.\d\d/m);
  });

  it('bench --store IMAGE whose pull before the runs fails: its error and code, exit 1, no internal error, nothing left in DIR', async () => {
    const dir = scratch();
    const image = testImage(path.join(dir, 'img'), { layers: 1, sizeMb: 1, seed: 72 });
    const missing = `${image.slice(0, image.lastIndexOf(':'))}:nope`;
    const stores = path.join(dir, 'stores');
    fs.mkdirSync(stores);
    const r = await run(['bench', '--store', stores, '--runs', '1', '--json', missing]);
    expect([r.exitCode, JSON.parse(r.stdout).error.code]).toEqual([1, 'ERR_IMAGE_NOT_FOUND']);
    expect(r.stderr).toMatch(new RegExp(`^layercopy: bench --store: the pull of ${missing} before the runs failed: .*no image`));
    expect(r.stderr).not.toContain('internal error');
    expect(fs.readdirSync(stores)).toEqual([]);
  });

  it('bench --store usage: one image reference, a directory, no layercopy tuning flags', async () => {
    const dir = scratch();
    expect((await run(['bench', '--store', dir, dir])).stderr).toMatch(/bench --store takes one image reference/);
    expect((await run(['bench', '--store', path.join(dir, 'none'), 'oci:/x:y'])).stderr).toMatch(/--store .*none: not a directory/);
    const r = await run(['bench', '--store', dir, '--concurrency', '2', 'oci:/x:y']);
    expect([r.exitCode, r.stderr]).toEqual([2, "layercopy: --concurrency is not a bench --store option\nTry 'layercopy --help'."]);
  });
});

describe.skipIf(!hasRegistry)('bench --store of a docker:// image [needs docker-registry and skopeo]', () => {
  let registry: Registry;
  beforeAll(async () => {
    registry = await startRegistry();
    await pushImage(testImage(path.join(scratch(), 'image'), { layers: 1, sizeMb: 1, seed: 73 }), registry, 'bench/store:1');
  });
  afterAll(() => registry?.stop());

  it('each row that pulls reports the registry flags its runs were given (--tls-verify=false, --max-downloads)', async () => {
    const stores = scratch();
    const image = `docker://${registry.host}/bench/store:1`;
    const r = await run(['bench', '--store', stores, '--runs', '1', '--tls-verify=false', '--max-downloads', '2', '--json', image]);
    expect(r.exitCode, r.stderr).toBe(0);
    const commands = Object.fromEntries(JSON.parse(r.stdout).rows.map((row: { method: string; command: string }) => [row.method, row.command]));
    expect(commands).toEqual({
      warm: `layercopy provision --tls-verify=false --max-downloads 2 --store STORE ${image} ROOTFS`,
      directories: "layercopy provision STORE's layers as directories ROOTFS",
      cold: `layercopy provision --tls-verify=false --max-downloads 2 --store EMPTY ${image} ROOTFS`,
      'no store': `layercopy provision --tls-verify=false --max-downloads 2 ${image} ROOTFS`,
    });
  });
});

describe('bench --store report', () => {
  it('masks a --creds password in the command it shows, keeping the user name', () => {
    expect(shownRegistryArgs(['--creds', 'alice:s3cret:x', '--tls-verify=false'])).toEqual(['--creds', 'alice:***', '--tls-verify=false']);
  });
});
