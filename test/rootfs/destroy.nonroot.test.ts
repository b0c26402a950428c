import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildLayer, exists, listTree, lstat, nobodyCanRun, scratch } from '../helpers.js';

const cli = fileURLToPath(new URL('../../dist/src/cli.js', import.meta.url));
const native = fileURLToPath(new URL('../../dist/src/core/native.cjs', import.meta.url));
const asNobody = (cmd: string, args: string[]) => execa('setpriv', ['--reuid=nobody', '--regid=nogroup', '--clear-groups', cmd, ...args], { reject: false });
const NOBODY = 65534;

/**
 * A rootfs of nobody's with a directory of root's (0700) two levels down,
 * beside files and a directory nobody may remove: what a non-root destroy
 * meets in a tree another user wrote into.
 */
function treeWithForeignDir(dir: string, name: string): string {
  const root = buildLayer(path.join(dir, name), {
    'a/f': { file: 'x', uid: NOBODY },
    'a/b/locked/secret': 's',
    'a/b/locked': { dir: true, mode: 0o700 },
    'a/b': { dir: true, uid: NOBODY },
    a: { dir: true, uid: NOBODY },
    'z/g': { file: 'y', uid: NOBODY },
    z: { dir: true, uid: NOBODY },
  });
  fs.chownSync(root, NOBODY, 0);
  return root;
}

describe.runIf(nobodyCanRun)('destroy as non-root meeting a directory it cannot open [needs root to set up, runs as nobody]', () => {
  let dir: string;
  beforeAll(() => {
    dir = scratch();
    fs.chmodSync(dir, 0o777);
  });

  it('the error names the directory that failed and the syscall, not ROOTFS', async () => {
    const root = treeWithForeignDir(dir, 'names');
    const r = await asNobody('node', [cli, 'destroy', root]);
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toContain(`layercopy: destroy ${root}: open ${root}/a/b/locked failed: EACCES (permission denied)`);
  });

  it('the error says ROOTFS is partly removed and what to do', async () => {
    const root = treeWithForeignDir(dir, 'says');
    const r = await asNobody('node', [cli, 'destroy', root]);
    expect(r.stderr).toContain(`${root} is partly removed`);
    expect(r.stderr).toContain('run destroy again');
  });

  it('--json carries the failing path and syscall', async () => {
    const root = treeWithForeignDir(dir, 'json');
    const r = await asNobody('node', [cli, 'destroy', '--json', root]);
    const { error } = JSON.parse(r.stdout);
    expect([error.code, error.path, error.syscall]).toEqual(['EACCES', `${root}/a/b/locked`, 'open']);
  });

  it('removes everything else it can (best effort, as rm -rf): only the directory, its contents and its ancestors stay', async () => {
    const root = treeWithForeignDir(dir, 'rest');
    await asNobody('node', [cli, 'destroy', root]);
    expect(listTree(root)).toEqual(['a', 'a/b', 'a/b/locked', 'a/b/locked/secret']);
    const locked = lstat(path.join(root, 'a/b/locked'));
    expect([locked.isDirectory(), Number(locked.mode & 0o7777n), Number(locked.uid)]).toEqual([true, 0o700, 0]);
  });

  it('counts the other entries that stayed', async () => {
    const root = treeWithForeignDir(dir, 'count');
    buildLayer(path.join(root, 'y'), { 'q/r': 'r', q: { dir: true, mode: 0o700 } }); // root's too, beside the first
    fs.chownSync(path.join(root, 'y'), NOBODY, 0);
    const r = await asNobody('node', [cli, 'destroy', root]);
    expect(r.stderr).toMatch(/ and 1 other entry stay,/);
  });

  it('the native remover names the path from the root it was given when the entry lies deeper (removeEntry of a/b)', async () => {
    const root = treeWithForeignDir(dir, 'deep');
    const script = `const fd = require('fs').openSync(${JSON.stringify(root)}, 'r'); process.stdout.write(JSON.stringify(require(${JSON.stringify(native)}).native.removeEntry(fd, 'a/b', true)))`;
    const r = await asNobody('node', ['-e', script]);
    expect(JSON.parse(r.stdout)).toMatchObject({ errno: 13, syscall: 'open', rel: 'a/b/locked' });
  });

  it('a 0000 directory of its own (as a rootless extraction writes one) is opened up and removed, as its owner could', async () => {
    const root = buildLayer(path.join(dir, 'zero'), {
      'a/sealed/in/f': { file: 'x', uid: NOBODY },
      'a/sealed/in': { dir: true, mode: 0o000, uid: NOBODY },
      'a/sealed': { dir: true, mode: 0o000, uid: NOBODY },
      a: { dir: true, uid: NOBODY },
    });
    fs.chownSync(root, NOBODY, 0);
    const r = await asNobody('node', [cli, 'destroy', root]);
    expect([r.exitCode, r.stderr, exists(root)]).toEqual([0, '', false]);
  });

  it('ROOTFS itself 0000 and its own: removed too', async () => {
    const root = buildLayer(path.join(dir, 'zero-top'), { f: { file: 'x', uid: NOBODY } });
    fs.chownSync(root, NOBODY, 0);
    fs.chmodSync(root, 0o000);
    const r = await asNobody('node', [cli, 'destroy', root]);
    expect([r.exitCode, r.stderr, exists(root)]).toEqual([0, '', false]);
  });
});
