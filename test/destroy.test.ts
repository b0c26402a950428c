import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { destroy } from '../dist/src/index.js';
import { buildLayer, diffSnapshots, exists, scratch, snapshot } from './helpers.js';

describe('destroy', () => {
  it('removes the rootfs without following symlinks to host paths', async () => {
    const dir = scratch();
    const host = buildLayer(path.join(dir, 'host'), { 'etc/passwd': 'root:x:0:0' });
    const before = snapshot(host);
    const root = buildLayer(path.join(dir, 'root'), { etc: { symlink: `${host}/etc` }, 'usr/bin': { dir: true, mode: 0o555 }, 'usr/bin/x': 'x', abs: { symlink: '/' } });
    expect(await destroy(root)).toEqual({ ok: true });
    expect(exists(root)).toBe(false);
    expect(diffSnapshots(before, snapshot(host))).toEqual([]);
  });

  it('also removes stale staging directories of that rootfs', async () => {
    const dir = scratch();
    fs.mkdirSync(path.join(dir, '.root.layercopy-999999999-deadbeef'));
    expect(await destroy(path.join(dir, 'root'))).toEqual({ ok: true });
    expect(fs.readdirSync(dir)).toEqual([]);
  });

  it.each(['/', '', '  '])('refuses %j and reports it instead of throwing', async (target) => {
    const result = await destroy(target);
    expect(result.ok).toBe(false);
    expect(result.error?.code).toBe('ERR_INVALID_ARGUMENT');
  });

  it('reports a failure instead of throwing', async () => {
    const dir = scratch();
    fs.writeFileSync(path.join(dir, 'file'), 'x');
    const result = await destroy(path.join(dir, 'file', 'root'));
    expect(result.ok).toBe(false);
    expect(result.error?.message).toMatch(/file\/root/);
  });
});
