// The command npm links (dist/src/layercopy.cjs, from src/cli/layercopy.cjs).
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { buildLayer, scratch } from '../helpers.js';

const command = fileURLToPath(new URL('../../dist/src/layercopy.cjs', import.meta.url));

/** The command linked as npm links it: node_modules/.bin/layercopy, a relative symlink. */
function linked(): string {
  const bin = path.join(scratch(), 'node_modules/.bin');
  fs.mkdirSync(bin, { recursive: true });
  fs.symlinkSync(path.relative(bin, command), path.join(bin, 'layercopy'));
  return path.join(bin, 'layercopy');
}

/** The environment Node is started in by the command, seen by a preload before the CLI runs. */
async function startEnv(env: Record<string, string>, args = ['--version']): Promise<Record<string, string | null>> {
  const dir = scratch();
  const preload = path.join(dir, 'seen.cjs');
  const names = ['NODE_EXTRA_CA_CERTS', 'LAYERCOPY_EXTRA_CA_CERTS', 'GLIBC_TUNABLES', 'LAYERCOPY_GLIBC_TUNABLES'];
  const record = `Object.fromEntries(${JSON.stringify(names)}.map((n) => [n, process.env[n] ?? null]))`;
  fs.writeFileSync(preload, `require('fs').writeFileSync(${JSON.stringify(path.join(dir, 'start'))}, JSON.stringify(${record}))`);
  await execa(linked(), args, { reject: false, env: { PATH: process.env.PATH!, ...env, NODE_OPTIONS: `--require ${preload}` }, extendEnv: false });
  return JSON.parse(fs.readFileSync(path.join(dir, 'start'), 'utf8'));
}

describe('the layercopy command', () => {
  it('runs the CLI beside the file its link leads to, with every argument as given', async () => {
    const dir = scratch();
    const layer = buildLayer(path.join(dir, 'a layer'), { 'etc/motd': 'hi' });
    const r = await execa(linked(), ['provision', '--quiet', layer, path.join(dir, 'the root')], { reject: false });
    expect([r.exitCode, r.stderr]).toEqual([0, '']);
    expect(fs.readFileSync(path.join(dir, 'the root/etc/motd'), 'utf8')).toBe('hi');
  });

  it('runs from a package whose path holds a space or non-ASCII letters (percent-encoded in its file: URL)', async () => {
    const root = path.resolve(command, '../../..');
    const pkg = path.join(scratch(), 'my tools', 'layercopy-é');
    fs.mkdirSync(pkg, { recursive: true });
    for (const name of ['package.json', 'binding.gyp']) fs.copyFileSync(path.join(root, name), path.join(pkg, name));
    fs.cpSync(path.join(root, 'dist'), path.join(pkg, 'dist'), { recursive: true });
    for (const name of ['node_modules', 'build']) fs.symlinkSync(path.join(root, name), path.join(pkg, name));
    const dir = scratch();
    const layer = buildLayer(path.join(dir, 'l0'), { 'etc/motd': 'hi' });
    const r = await execa(path.join(pkg, 'dist/src/layercopy.cjs'), ['provision', '--quiet', layer, path.join(dir, 'root')], { reject: false });
    expect([r.exitCode, r.stderr]).toEqual([0, '']);
    expect(fs.readFileSync(path.join(dir, 'root/etc/motd'), 'utf8')).toBe('hi');
  });

  it('runs with a PATH of node alone (no readlink), as `#!/usr/bin/env node` did', async () => {
    const bin = path.join(scratch(), 'node-only');
    fs.mkdirSync(bin);
    fs.symlinkSync(process.execPath, path.join(bin, 'node'));
    const r = await execa(linked(), ['--version'], { reject: false, env: { PATH: bin }, extendEnv: false });
    expect([r.exitCode, r.stderr]).toEqual([0, '']);
    expect(r.stdout).toMatch(/^\d+\.\d+\.\d+/);
  });

  it('passes the exit status on: a usage error is 2', async () => {
    const r = await execa(linked(), ['provision', '--concurrency', '0', 'a', 'b'], { reject: false });
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toMatch(/^layercopy: --concurrency /);
  });

  it('starts Node without NODE_EXTRA_CA_CERTS: moved aside for the CLI to read when it connects', async () => {
    expect(await startEnv({ NODE_EXTRA_CA_CERTS: '/etc/some-ca.pem' })).toMatchObject({ NODE_EXTRA_CA_CERTS: null, LAYERCOPY_EXTRA_CA_CERTS: '/etc/some-ca.pem' });
  });

  it("starts Node with glibc.malloc.mmap_threshold=2097152 in GLIBC_TUNABLES, the user's value kept beside it, or alone where it names the threshold", async () => {
    const MMAP = 'glibc.malloc.mmap_threshold=2097152';
    expect(await startEnv({}, ['provision', '--concurrency', '0', 'oci:/img:1', 'root'])).toMatchObject({ GLIBC_TUNABLES: MMAP, LAYERCOPY_GLIBC_TUNABLES: '' });
    expect(await startEnv({ GLIBC_TUNABLES: 'glibc.malloc.arena_max=2' })).toMatchObject({
      GLIBC_TUNABLES: `glibc.malloc.arena_max=2:${MMAP}`,
      LAYERCOPY_GLIBC_TUNABLES: 'glibc.malloc.arena_max=2',
    });
    expect(await startEnv({ GLIBC_TUNABLES: 'glibc.malloc.mmap_threshold=65536' })).toMatchObject({
      GLIBC_TUNABLES: 'glibc.malloc.mmap_threshold=65536',
      LAYERCOPY_GLIBC_TUNABLES: null,
    });
  });

  it("for a pull, glibc.malloc.hugetlb=1 instead, the user's value kept beside it, or alone where it names hugetlb", async () => {
    // A usage error: the CLI stops at once, after the preload saw the environment.
    const pull = ['provision', '--concurrency', '0', 'docker://127.0.0.1:1/app:1', 'root'];
    expect(await startEnv({}, pull)).toMatchObject({ GLIBC_TUNABLES: 'glibc.malloc.hugetlb=1', LAYERCOPY_GLIBC_TUNABLES: '' });
    expect(await startEnv({ GLIBC_TUNABLES: 'glibc.malloc.arena_max=2' }, pull)).toMatchObject({
      GLIBC_TUNABLES: 'glibc.malloc.arena_max=2:glibc.malloc.hugetlb=1',
      LAYERCOPY_GLIBC_TUNABLES: 'glibc.malloc.arena_max=2',
    });
    expect(await startEnv({ GLIBC_TUNABLES: 'glibc.malloc.hugetlb=0' }, pull)).toMatchObject({ GLIBC_TUNABLES: 'glibc.malloc.hugetlb=0', LAYERCOPY_GLIBC_TUNABLES: null });
  });

  it('what the CLI starts gets the environment as the user gave it', async () => {
    const dir = scratch();
    // The bench of a directory layer runs cp -a of the final tree: a cp first on PATH records its environment.
    const bin = path.join(dir, 'bin');
    fs.mkdirSync(bin);
    const cp = `#!/bin/sh\nenv | grep -E '^(NODE_EXTRA_CA_CERTS|GLIBC_TUNABLES|LAYERCOPY_EXTRA_CA_CERTS|LAYERCOPY_GLIBC_TUNABLES)=' | sort > ${dir}/cp-env\nexec /bin/cp "$@"\n`;
    fs.writeFileSync(path.join(bin, 'cp'), cp, { mode: 0o755 });
    const layer = buildLayer(path.join(dir, 'l0'), { a: 'a' });
    const r = await execa(linked(), ['bench', '--runs', '1', '--scratch', dir, layer], {
      reject: false,
      env: { PATH: `${bin}:${process.env.PATH}`, NODE_EXTRA_CA_CERTS: '/etc/some-ca.pem', GLIBC_TUNABLES: 'glibc.malloc.arena_max=2' },
    });
    expect(r.exitCode, r.stderr).toBe(0);
    expect(fs.readFileSync(path.join(dir, 'cp-env'), 'utf8')).toBe('GLIBC_TUNABLES=glibc.malloc.arena_max=2\nNODE_EXTRA_CA_CERTS=/etc/some-ca.pem\n');
  });
});
