import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { beforeAll, describe, expect, it } from 'vitest';
import { destroy } from '../../src/index.js';
import { buildLayer, diffSnapshots, exists, scratch, snapshot } from '../helpers.js';

describe('destroy', () => {
  it('removes the rootfs without following symlinks to host paths', async () => {
    const dir = scratch();
    const host = buildLayer(path.join(dir, 'host'), { 'etc/passwd': 'root:x:0:0' });
    const before = snapshot(host);
    const root = buildLayer(path.join(dir, 'root'), { etc: { symlink: `${host}/etc` }, 'usr/bin': { dir: true, mode: 0o555 }, 'usr/bin/x': 'x', abs: { symlink: '/' } });
    expect(await destroy(root)).toEqual({ ok: true, removed: true, staleRemoved: [] });
    expect(exists(root)).toBe(false);
    expect(diffSnapshots(before, snapshot(host))).toEqual([]);
  });

  it('also removes stale staging directories of that rootfs', async () => {
    const dir = scratch();
    fs.mkdirSync(path.join(dir, '.root.layercopy-999999999-deadbeef'));
    expect(await destroy(path.join(dir, 'root'))).toEqual({ ok: true, removed: false, staleRemoved: [path.join(dir, '.root.layercopy-999999999-deadbeef')] });
    expect(fs.readdirSync(dir)).toEqual([]);
  });

  it.each(['/', '', '  '])('refuses %j and reports it instead of throwing', async (target) => {
    const result = await destroy(target);
    expect(result.ok).toBe(false);
    expect(result.ok ? undefined : result.error.code).toBe('ERR_INVALID_ARGUMENT');
  });

  // Each resolves inside the scratch directory: a test that fails must not remove more than that.
  it.each(['a/b/.', 'a/b/..', 'a/b/./', 'a/b/../'])('refuses %j (a path ending in . or ..), removing nothing', async (given) => {
    const dir = scratch();
    fs.mkdirSync(path.join(dir, 'a', 'b'), { recursive: true });
    const result = await destroy(`${dir}/${given}`); // not path.join: it would normalize the dots away
    expect(result.ok ? undefined : result.error.code).toBe('ERR_INVALID_ARGUMENT');
    expect(result.ok ? '' : result.error.message).toMatch(/ends in '\.\.?'/);
    expect(fs.existsSync(path.join(dir, 'a', 'b'))).toBe(true);
  });

  it('refuses a regular file (a path inside a layer, mistyped) and leaves it', async () => {
    const dir = scratch();
    const file = path.join(dir, 'hostname');
    fs.writeFileSync(file, 'x');
    const result = await destroy(file);
    expect(result.ok ? undefined : result.error.code).toBe('ERR_INVALID_ARGUMENT');
    expect(result.ok ? '' : result.error.message).toMatch(/is a regular file, not a rootfs directory/);
    expect(fs.readFileSync(file, 'utf8')).toBe('x');
  });

  it('refuses a symbolic link and leaves it and its target', async () => {
    const dir = scratch();
    fs.mkdirSync(path.join(dir, 'real'));
    fs.symlinkSync('real', path.join(dir, 'link'));
    const result = await destroy(path.join(dir, 'link'));
    expect(result.ok ? undefined : result.error.code).toBe('ERR_INVALID_ARGUMENT');
    expect(fs.lstatSync(path.join(dir, 'link')).isSymbolicLink()).toBe(true);
    expect(fs.statSync(path.join(dir, 'real')).isDirectory()).toBe(true);
  });

  it.runIf(process.getuid?.() === 0)('refuses a ROOTFS that is a mount point (a bind mount of other data), emptying nothing [needs root: mount namespace]', async () => {
    const dir = scratch();
    buildLayer(path.join(dir, 'important'), { 'sub/f': 'data' });
    fs.mkdirSync(path.join(dir, 'R'));
    const cli = new URL('../../dist/src/cli.js', import.meta.url).pathname;
    const script = 'mount --bind "$2" "$3" && node "$1" destroy "$3"';
    const r = await execa('unshare', ['-m', '--propagation', 'private', 'sh', '-c', script, 'sh', cli, path.join(dir, 'important'), path.join(dir, 'R')], { reject: false });
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toMatch(/is a mount point, not a provisioned rootfs/);
    expect(fs.readFileSync(path.join(dir, 'important', 'sub', 'f'), 'utf8')).toBe('data');
  });

  it('reports a failure instead of throwing', async () => {
    const dir = scratch();
    fs.writeFileSync(path.join(dir, 'file'), 'x');
    const result = await destroy(path.join(dir, 'file', 'root'));
    expect(result.ok).toBe(false);
    expect(result.ok ? '' : result.error.message).toMatch(/file\/root/);
  });
});

describe.runIf(process.getuid?.() === 0)('destroy with mounts still in the rootfs (private mount namespace) [needs root: mount namespaces]', () => {
  type Facts = {
    first: { ok: boolean; code?: string; message?: string };
    hostUnchanged: boolean;
    tmpfsFileKept: boolean;
    left: string[];
    cli: { status: number; stderr?: string };
    second: { ok: boolean };
    rootfsGone: boolean;
    hostUnchangedAtEnd: boolean;
  };
  let r: Facts;
  beforeAll(async () => {
    const harness = fileURLToPath(new URL('../fixtures/mounts.mjs', import.meta.url));
    const mountPoint = fs.mkdtempSync(path.join(os.tmpdir(), 'layercopy-mnt-'));
    try {
      const out = await execa('unshare', [
        '-m',
        'sh',
        '-c',
        'mount --make-rprivate / && mount -o remount,bind,ro / && mount -t tmpfs -o size=64m tmpfs "$1" && exec node "$2" "$1"',
        'sh',
        mountPoint,
        harness,
      ]);
      r = JSON.parse(out.stdout);
    } finally {
      fs.rmdirSync(mountPoint);
    }
  }, 60_000);

  it('never enters a bind mount or another filesystem: the host volume keeps its files and modes', () => {
    expect(r.hostUnchanged).toBe(true);
    expect(r.tmpfsFileKept).toBe(true);
  });

  it('removes everything else, and fails with ERR_MOUNT_POINT naming the mount', () => {
    expect(r.first).toMatchObject({ ok: false, code: 'ERR_MOUNT_POINT' });
    expect(r.first.message).toMatch(/rootfs\/(mnt\/vol|run\/tmp) is a mount point/);
    expect(r.left).toEqual(['mnt', 'mnt/vol', 'run', 'run/tmp']);
  });

  it('the CLI exits 1 naming the mount; after unmounting, destroy completes', () => {
    expect(r.cli.status).toBe(1);
    expect(r.cli.stderr).toMatch(/is a mount point/);
    expect(r.second.ok).toBe(true);
    expect(r.rootfsGone).toBe(true);
    expect(r.hostUnchangedAtEnd).toBe(true);
  });
});

describe('destroy off the main thread', () => {
  it('timers keep firing while a large tree is removed', async () => {
    const dir = scratch();
    const spec: Record<string, string> = {};
    for (let i = 0; i < 3000; i++) spec[`d${i % 30}/f${i}`] = 'x';
    const root = buildLayer(path.join(dir, 'root'), spec);
    let ticks = 0;
    const timer = setInterval(() => ticks++, 1);
    const result = await destroy(root);
    clearInterval(timer);
    expect(result).toEqual({ ok: true, removed: true, staleRemoved: [] });
    expect(ticks).toBeGreaterThan(0);
  });
});
