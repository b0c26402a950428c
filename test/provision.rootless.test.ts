// Rootless provisioning: the one metadata policy for tar and directory
// layers (native/meta.c), the --owners and --devices modes, the summary's
// counts and --strict, run as nobody through the CLI (docs/design.md,
// "Owners and rootless").
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { provision } from '../src/index.js';
import { buildLayer, diffSnapshots, exists, isRoot, nobodyCanRun, scratch, snapshot } from './helpers.js';
import { rawTar } from './images/fixtures.js';
import { asNobody, asRoot, layerPair, openScratch, xattrsHex } from './rootless-fixtures.js';

const RC = 'user.rootlesscontainers';
const mode = (p: string) => fs.lstatSync(p).mode & 0o7777;
const same = (a: string, b: string) => diffSnapshots(snapshot(a, { atime: false }), snapshot(b, { atime: false }));

describe.runIf(nobodyCanRun)('as nobody: tar and directory layers agree [needs root, and a checkout user nobody can read]', () => {
  it('a setuid-root file keeps 4755 from a tar layer and from a directory layer alike (--owners xattr, the default)', async () => {
    const dir = openScratch();
    const l = layerPair(dir, 'l', { 'bin/passwd': { file: 'p', mode: 0o4755 }, 'bin/wall': { file: 'w', mode: 0o2755, gid: 5 } });
    const fromDir = await asNobody(['provision', '--json', l.dir, path.join(dir, 'a')]);
    const fromTar = await asNobody(['provision', '--json', l.tar, path.join(dir, 'b')]);
    expect([fromDir.exitCode, fromTar.exitCode], fromDir.stderr + fromTar.stderr).toEqual([0, 0]);
    expect(same(path.join(dir, 'a'), path.join(dir, 'b'))).toEqual([]);
    expect([mode(path.join(dir, 'a/bin/passwd')), mode(path.join(dir, 'a/bin/wall'))]).toEqual([0o4755, 0o2755]);
  });

  it('owners other than root are recorded in user.rootlesscontainers as umoci writes them, from both inputs', async () => {
    const dir = openScratch();
    const l = layerPair(dir, 'l', {
      'etc/shadow': { file: 's', mode: 0o644, gid: 42 },
      'home/u': { dir: true, mode: 0o755, uid: 1000, gid: 1000 },
      'home/u/f': { file: 'f', mode: 0o644, uid: 1000, gid: 1000 },
      'etc/hosts': 'h',
    });
    for (const [input, out] of [
      [l.dir, 'a'],
      [l.tar, 'b'],
    ]) {
      const r = await asNobody(['provision', '--json', input, path.join(dir, out)]);
      expect(r.exitCode, r.stderr).toBe(0);
      const x = (rel: string) => xattrsHex(path.join(dir, out, rel))[RC];
      // root:shadow -> uid "unchanged" (0xFFFFFFFF), gid 42; 1000:1000; root:root none.
      expect([x('etc/shadow'), x('home/u'), x('home/u/f'), x('etc/hosts')]).toEqual(['08ffffffff0f102a', '08e80710e807', '08e80710e807', undefined]);
      expect(r.json.rootless?.ownersRecorded).toEqual({ count: 3, paths: ['/etc/shadow', '/home/u', '/home/u/f'] });
      expect(fs.lstatSync(path.join(dir, out, 'home/u/f')).uid).toBe(65534);
    }
  });

  it('--owners drop: owners forgotten, setuid/setgid cleared, nothing recorded, both counted', async () => {
    const dir = openScratch();
    const l = layerPair(dir, 'l', { 'bin/passwd': { file: 'p', mode: 0o4755 }, 'bin/wall': { file: 'w', mode: 0o2755, gid: 5 }, 'home/f': { file: 'f', uid: 1000, gid: 1000 } });
    const fromDir = await asNobody(['provision', '--json', '--owners', 'drop', l.dir, path.join(dir, 'a')]);
    const fromTar = await asNobody(['provision', '--json', '--owners', 'drop', l.tar, path.join(dir, 'b')]);
    expect([fromDir.exitCode, fromTar.exitCode], fromDir.stderr + fromTar.stderr).toEqual([0, 0]);
    expect(same(path.join(dir, 'a'), path.join(dir, 'b'))).toEqual([]);
    expect([mode(path.join(dir, 'a/bin/passwd')), mode(path.join(dir, 'a/bin/wall'))]).toEqual([0o755, 0o755]);
    expect(xattrsHex(path.join(dir, 'a/home/f'))).toEqual({});
    for (const r of [fromDir, fromTar]) {
      expect(r.json.rootless?.specialBitsCleared).toEqual({ count: 2, paths: ['/bin/passwd', '/bin/wall'] });
      expect(r.json.rootless?.ownersDropped).toEqual({ count: 2, paths: ['/bin/wall', '/home/f'] });
    }
  });

  it('--owners keep: an owner this user cannot set is ERR_UNMAPPED_ID naming the file and the owner, and nothing is left', async () => {
    const dir = openScratch();
    const l = layerPair(dir, 'l', { 'home/f': { file: 'f', uid: 1000, gid: 1000 } });
    for (const input of [l.dir, l.tar]) {
      const r = await asNobody(['provision', '--json', '--owners', 'keep', input, path.join(dir, 'root')]);
      expect(r.exitCode).toBe(1);
      expect(r.json.error?.code).toBe('ERR_UNMAPPED_ID');
      expect(r.stderr).toMatch(/home\/f: owner 1000:1000 cannot be set: only root may give files away/);
      expect(fs.readdirSync(dir).filter((n) => n.includes('root'))).toEqual([]);
    }
  });

  it("--owners keep: a whiteout marker's owner is never set (it never reaches the rootfs): the error names the file whose owner cannot be", async () => {
    const dir = openScratch();
    const nobody = { uid: 65534, gid: 65534 };
    const lower = path.join(dir, 'lo.tar');
    fs.writeFileSync(
      lower,
      rawTar([
        { name: 'etc/', type: '5', mode: 0o755, ...nobody },
        { name: 'etc/gone', data: 'g', ...nobody },
      ]),
    );
    const upper = path.join(dir, 'up.tar');
    fs.writeFileSync(
      upper,
      rawTar([
        { name: 'etc/', type: '5', mode: 0o755, ...nobody },
        { name: 'etc/.wh.gone', data: '', uid: 0, gid: 0 },
        { name: 'home/', type: '5', mode: 0o755, ...nobody },
        { name: 'home/f', data: 'f', uid: 1000, gid: 1000 },
      ]),
    );
    for (const tar of [lower, upper]) fs.chmodSync(tar, 0o644);
    const r = await asNobody(['provision', '--json', '--owners', 'keep', lower, upper, path.join(dir, 'root')]);
    expect([r.exitCode, r.json.error?.code, r.json.error?.path]).toEqual([1, 'ERR_UNMAPPED_ID', `${upper}:/home/f`]);
  });

  it('a security.capability nobody may set is skipped and counted, a user.* xattr kept (--owners xattr)', async () => {
    const cap = Buffer.from('0100000200200000000000000000000000000000', 'hex');
    const dir = openScratch();
    const l = layerPair(dir, 'l', { ping: { file: 'p', mode: 0o755, xattrs: { 'security.capability': cap, 'user.keep': 'k' } } });
    for (const input of [l.dir, l.tar]) {
      const out = path.join(dir, input === l.dir ? 'a' : 'b');
      const r = await asNobody(['provision', '--json', input, out]);
      expect(r.exitCode, r.stderr).toBe(0);
      expect(xattrsHex(path.join(out, 'ping'))).toEqual({ 'user.keep': Buffer.from('k').toString('hex') });
      expect(r.json.rootless?.xattrsSkipped).toEqual({ count: 1, paths: ['/ping'] });
    }
  });
});

describe.runIf(nobodyCanRun)('as nobody: device nodes by --devices [needs root, and a checkout user nobody can read]', () => {
  const spec = { 'dev/null': { chr: [1, 3] as [number, number], mode: 0o666 }, 'dev/sda': { blk: [8, 0] as [number, number], mode: 0o660, gid: 6 } };

  it('error: the first device node fails the provision (ERR_UNSUPPORTED_ENTRY, the path and what to do), nothing is left', async () => {
    const dir = openScratch();
    const l = layerPair(dir, 'l', spec);
    for (const input of [l.dir, l.tar]) {
      const r = await asNobody(['provision', '--json', '--devices', 'error', input, path.join(dir, 'root')]);
      expect(r.exitCode).toBe(1);
      expect(r.json.error?.code).toBe('ERR_UNSUPPORTED_ENTRY');
      expect(r.stderr).toMatch(/dev\/(null|sda): a (character|block) device \(\d+, \d+\): only real root can make one \(mknod: EPERM\); --devices empty/);
      expect(fs.readdirSync(dir).filter((n) => n.includes('root'))).toEqual([]);
    }
  });

  it('empty (the default as non-root): an empty file with the node permission bits, counted', async () => {
    const dir = openScratch();
    const l = layerPair(dir, 'l', spec);
    for (const [input, out] of [
      [l.dir, 'a'],
      [l.tar, 'b'],
    ]) {
      const r = await asNobody(['provision', '--json', input, path.join(dir, out)]);
      expect(r.exitCode, r.stderr).toBe(0);
      const st = fs.lstatSync(path.join(dir, out, 'dev/null'));
      expect([st.isFile(), st.size, st.mode & 0o7777]).toEqual([true, 0, 0o666]);
      expect(r.json.rootless?.devicesEmptied).toEqual({ count: 2, paths: ['/dev/null', '/dev/sda'] });
    }
    expect(same(path.join(dir, 'a'), path.join(dir, 'b'))).toEqual([]);
  });

  it.runIf(isRoot)('empty: a node with two names is one empty file with both, each name counted once [needs root: mknod]', async () => {
    const dir = openScratch();
    const l = layerPair(dir, 'l', { 'dev/null': { chr: [1, 3] as [number, number], mode: 0o666 }, 'dev/null2': { link: 'dev/null' } });
    const summary = await provision([l.dir], path.join(dir, 'root'), { devices: 'empty' });
    expect(summary.rootless.devicesEmptied).toEqual({ count: 2, paths: ['/dev/null', '/dev/null2'] });
    const a = fs.lstatSync(path.join(dir, 'root/dev/null'));
    const b = fs.lstatSync(path.join(dir, 'root/dev/null2'));
    expect([a.isFile(), a.size, a.nlink, b.ino]).toEqual([true, 0, 2, a.ino]);
  });

  it('skip: the node is left out, and what a lower layer has at its path stays hidden', async () => {
    const dir = openScratch();
    const lower = layerPair(dir, 'lower', { 'dev/null': 'a file below' });
    const l = layerPair(dir, 'l', spec);
    for (const [layers, out] of [
      [[lower.dir, l.dir], 'a'],
      [[lower.tar, l.tar], 'b'],
    ] as const) {
      const r = await asNobody(['provision', '--json', '--devices', 'skip', ...layers, path.join(dir, out)]);
      expect(r.exitCode, r.stderr).toBe(0);
      expect(fs.readdirSync(path.join(dir, out, 'dev'))).toEqual([]);
      expect(r.json.rootless?.devicesSkipped).toEqual({ count: 2, paths: ['/dev/null', '/dev/sda'] });
    }
  });
});

describe.runIf(nobodyCanRun)('as nobody: nothing silent [needs root, and a checkout user nobody can read]', () => {
  it('--strict fails at the first change with ERR_UNSUPPORTED_ENTRY naming it, and leaves nothing', async () => {
    const dir = openScratch();
    const l = layerPair(dir, 'l', { 'dev/null': { chr: [1, 3], mode: 0o666 } });
    for (const input of [l.dir, l.tar]) {
      const r = await asNobody(['provision', '--json', '--strict', input, path.join(dir, 'root')]);
      expect(r.exitCode).toBe(1);
      expect(r.json.error).toMatchObject({ code: 'ERR_UNSUPPORTED_ENTRY', path: expect.stringMatching(/dev\/null$/) });
      expect(r.stderr).toMatch(/dev\/null: a character device \(1, 3\) written as an empty file \(--devices empty\) \(--strict\)/);
      expect(fs.readdirSync(dir).filter((n) => n.includes('root'))).toEqual([]);
    }
  });

  it('the text summary names what the modes changed', async () => {
    const dir = openScratch();
    const l = layerPair(dir, 'l', { 'dev/null': { chr: [1, 3], mode: 0o666 }, 'etc/shadow': { file: 's', gid: 42 } });
    const r = await asNobody(['provision', l.tar, path.join(dir, 'root')]);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/\n {2}rootless {2}--owners xattr, --devices empty: 1 owner recorded in user.rootlesscontainers, 1 device node written as an empty file\n/);
  });
});

describe.runIf(isRoot)('as root [needs root]', () => {
  it('a PAX user.* xattr on a symlink is skipped and counted, not a failure (the kernel holds user.* on files and directories only)', async () => {
    const dir = scratch();
    const tar = path.join(dir, 'l.tar');
    fs.writeFileSync(
      tar,
      rawTar([
        { name: 'target', data: 'x' },
        { name: 'link', type: '2', linkname: 'target', pax: { 'SCHILY.xattr.user.note': 'v' } },
      ]),
    );
    const summary = await provision([tar], path.join(dir, 'root'));
    expect(fs.readlinkSync(path.join(dir, 'root/link'))).toBe('target');
    expect(summary.rootless.xattrsSkipped).toEqual({ count: 1, paths: ['/link'] });
  });

  it("a whiteout marker's owner and mode are never set nor counted, however its layer is extracted: --owners drop --strict passes, the counts agree", async () => {
    const dir = scratch();
    const lower = path.join(dir, 'lower.tar');
    const upper = path.join(dir, 'upper.tar');
    fs.writeFileSync(
      lower,
      rawTar([
        { name: 'etc/', type: '5', mode: 0o755 },
        { name: 'etc/gone', data: 'g' },
      ]),
    );
    fs.writeFileSync(
      upper,
      rawTar([
        { name: 'etc/', type: '5', mode: 0o755 },
        { name: 'etc/.wh.gone', data: '', uid: 1000, gid: 1000, mode: 0o4755 },
      ]),
    );
    const base = buildLayer(path.join(dir, 'base'), { 'etc/gone': 'g' }, { mode: 0o755 });
    const ways = [
      [lower, upper],
      ['--strategy', 'layered', lower, upper],
      [base, upper],
      ['--store', path.join(dir, 'store'), lower, upper],
    ];
    for (const [i, args] of ways.entries()) {
      const r = await asRoot(['provision', '--json', '--owners', 'drop', '--strict', ...args, path.join(dir, `root${i}`)]);
      expect([r.exitCode, r.json.rootless?.ownersDropped?.count, r.json.rootless?.specialBitsCleared?.count], `${args.join(' ')}: ${r.stderr}`).toEqual([0, 0, 0]);
      expect(fs.readdirSync(path.join(dir, `root${i}/etc`))).toEqual([]);
    }
  });

  it('the defaults as root of the initial namespace: owners kept, devices made', async () => {
    const dir = scratch();
    const l = layerPair(dir, 'l', { 'dev/null': { chr: [1, 3], mode: 0o666 }, f: { file: 'f', uid: 1000, gid: 1000 } });
    const summary = await provision([l.tar], path.join(dir, 'root'));
    expect([summary.rootless.owners, summary.rootless.devices]).toEqual(['keep', 'error']);
    expect(fs.lstatSync(path.join(dir, 'root/dev/null')).isCharacterDevice()).toBe(true);
    expect(fs.lstatSync(path.join(dir, 'root/f')).uid).toBe(1000);
    expect(exists(path.join(dir, 'root/f'))).toBe(true);
  });
});
