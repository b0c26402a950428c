// ID-mapped provisioning (issue: a rootfs for a user-namespaced container).
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { CopyBackend, type IdMap, provision } from '../src/index.js';
import { acl, buildLayer, diffSnapshots, type EntryInfo, enteredUserNamespace, type LayerSpec, native, scratch, snapshot } from './helpers.js';

const cli = fileURLToPath(new URL('../dist/src/cli.js', import.meta.url));
const fixturesAddon = fileURLToPath(new URL('../native/fixtures/build/Release/layercopy_fixtures.node', import.meta.url));
const isRoot = process.getuid?.() === 0;
const MAP: IdMap = { uid: [{ containerID: 0, hostID: 100000, size: 65536 }], gid: [{ containerID: 0, hostID: 200000, size: 65536 }] };
const mapUid = (id: number) => id + 100000;
const mapGid = (id: number) => id + 200000;

/** security.capability v2: CAP_NET_RAW (13) permitted + effective. */
const capV2 = () => {
  const b = Buffer.alloc(20);
  b.writeUInt32LE(0x02000001, 0);
  b.writeUInt32LE(1 << 13, 4);
  return b;
};
const aclIds = (b: Buffer) => {
  const out: string[] = [];
  for (let off = 4; off + 8 <= b.length; off += 8) {
    const tag = b.readUInt16LE(off);
    if (tag === 0x02) out.push(`u${b.readUInt32LE(off + 4)}`);
    if (tag === 0x08) out.push(`g${b.readUInt32LE(off + 4)}`);
  }
  return out.join(',');
};

function image(): LayerSpec[] {
  return [
    {
      'bin/ping': { file: 'ping', mode: 0o755, xattrs: { 'security.capability': capV2() } },
      'bin/su': { file: 'su', mode: 0o4755 },
      'bin/wall': { file: 'wall', mode: 0o2755, gid: 5 },
      'home/app': { dir: true, uid: 1000, gid: 1000, mode: 0o750 },
      'home/app/notes': {
        file: 'n',
        uid: 1000,
        gid: 1000,
        xattrs: {
          'system.posix_acl_access': acl([
            [0x01, 6],
            [0x02, 4, 33],
            [0x04, 4],
            [0x08, 4, 1000],
            [0x10, 4],
            [0x20, 0],
          ]),
        },
      },
      'home/app/link': { symlink: 'notes', uid: 1000, gid: 1000 },
      'var/www': { dir: true, uid: 33, gid: 33 },
      'var/www/pipe': { fifo: true, uid: 33, gid: 33 },
      'dev/null': { chr: [1, 3] },
    },
    { 'home/app': { dir: true, uid: 1000, gid: 1000, mode: 0o750 }, 'home/app/more': { file: 'm', uid: 1000, gid: 1000 }, '.wh.var': '' },
  ];
}

/** What the unmapped tree becomes under MAP, entry by entry (the test's own computation). */
function shifted(tree: Map<string, EntryInfo>): Map<string, EntryInfo> {
  const out = new Map<string, EntryInfo>();
  for (const [rel, e] of tree) {
    const xattrs = e.xattrs
      .split(',')
      .filter(Boolean)
      .map((kv) => {
        const [k, hex] = kv.split('=');
        const v = Buffer.from(hex, 'hex');
        if (k === 'security.capability') {
          const v3 = Buffer.concat([v, Buffer.alloc(4)]);
          v3.writeUInt32LE(0x03000001, 0);
          v3.writeUInt32LE(mapUid(0), 20);
          return `${k}=${v3.toString('hex')}`;
        }
        if (k.startsWith('system.posix_acl_')) {
          for (let off = 4; off + 8 <= v.length; off += 8) {
            const tag = v.readUInt16LE(off);
            if (tag === 0x02) v.writeUInt32LE(mapUid(v.readUInt32LE(off + 4)), off + 4);
            if (tag === 0x08) v.writeUInt32LE(mapGid(v.readUInt32LE(off + 4)), off + 4);
          }
        }
        return `${k}=${v.toString('hex')}`;
      })
      .join(',');
    out.set(rel, { ...e, uid: mapUid(e.uid), gid: mapGid(e.gid), xattrs });
  }
  return out;
}

/** Runs `script` (Node, CommonJS) as root of a fresh user namespace mapped 0:100000:65536 / 0:200000:65536. */
async function inUserNamespace(script: string): Promise<string> {
  // The namespace is made by host uid 100000 (which the map makes its root),
  // and sh waits for the map before it execs node: a process gets its
  // capabilities in the namespace at execve, as uid 0 only once the map exists.
  const child = execa(
    'setpriv',
    ['--reuid=100000', '--regid=200000', '--clear-groups', 'unshare', '-U', '--', 'sh', '-c', 'read go; exec "$0" -e "$1"', process.execPath, script],
    { stdin: 'pipe' },
  );
  await enteredUserNamespace(child.pid!);
  // Written from outside (root in the parent namespace): no newuidmap needed.
  fs.writeFileSync(`/proc/${child.pid}/uid_map`, '0 100000 65536\n');
  fs.writeFileSync(`/proc/${child.pid}/gid_map`, '0 200000 65536\n');
  child.stdin!.end('go\n');
  return (await child).stdout;
}

describe.runIf(isRoot)('ID-mapped provisioning [needs root: owners, user namespaces]', () => {
  it.each(['merged', 'layered'] as const)('%s: the mapped tree is the unmapped tree chowned by the map, capabilities and ACLs rewritten', async (strategy) => {
    const dir = scratch();
    const layers = image().map((spec, i) => buildLayer(path.join(dir, `l${i}`), spec));
    await provision(layers, path.join(dir, 'plain'), { strategy });
    await provision(layers, path.join(dir, 'mapped'), { strategy, idMap: MAP });
    expect(diffSnapshots(shifted(snapshot(path.join(dir, 'plain'))), snapshot(path.join(dir, 'mapped')))).toEqual([]);
    const root = fs.lstatSync(path.join(dir, 'mapped'));
    expect([root.uid, root.gid]).toEqual([100000, 200000]);
    const su = fs.lstatSync(path.join(dir, 'mapped', 'bin/su'));
    expect(su.mode & 0o7777).toBe(0o4755);
  });

  it("seen from inside a user namespace with that mapping, owners, the capability and ACL entries are the layers' own", async () => {
    const dir = scratch();
    const layers = image().map((spec, i) => buildLayer(path.join(dir, `l${i}`), spec));
    const rootfs = path.join(dir, 'mapped');
    await provision(layers, rootfs, { idMap: MAP });
    fs.chmodSync(dir, 0o755);
    // Where the namespace's root can read it, whatever the checkout's modes (a 0700 home).
    const addon = path.join(dir, 'fixtures.node');
    fs.copyFileSync(fixturesAddon, addon);
    fs.chmodSync(addon, 0o755);
    const out = await inUserNamespace(`
      const fs = require('fs');
      const x = require(${JSON.stringify(addon)});
      const r = {};
      for (const rel of ['', 'bin/ping', 'bin/su', 'bin/wall', 'home/app', 'home/app/notes', 'home/app/link', 'home/app/more', 'dev/null']) {
        const p = ${JSON.stringify(rootfs)} + '/' + rel;
        const st = fs.lstatSync(p);
        const xa = st.isSymbolicLink() ? {} : x.lgetxattrs(p);
        r[rel] = { uid: st.uid, gid: st.gid, mode: st.mode & 0o7777, cap: xa['security.capability'] ? xa['security.capability'].toString('hex') : undefined, acl: xa['system.posix_acl_access'] ? xa['system.posix_acl_access'].toString('hex') : undefined };
      }
      process.stdout.write(JSON.stringify(r));`);
    const seen = JSON.parse(out);
    expect(seen['']).toMatchObject({ uid: 0, gid: 0 });
    expect(seen['bin/su']).toMatchObject({ uid: 0, gid: 0, mode: 0o4755 });
    expect(seen['bin/wall']).toMatchObject({ uid: 0, gid: 5, mode: 0o2755 });
    expect(seen['home/app']).toMatchObject({ uid: 1000, gid: 1000 });
    expect(seen['home/app/link']).toMatchObject({ uid: 1000, gid: 1000 });
    expect(seen['home/app/more']).toMatchObject({ uid: 1000, gid: 1000 });
    expect(seen['dev/null']).toMatchObject({ uid: 0, gid: 0 });
    // The kernel presents a v3 capability whose root ID is the namespace's root as v2: effective there.
    expect(seen['bin/ping'].cap).toBe(capV2().toString('hex'));
    expect(aclIds(Buffer.from(seen['home/app/notes'].acl, 'hex'))).toBe('u33,g1000');
    // From the host: v3 with root ID 100000; ACL entries shifted.
    const hostCap = native.lgetxattrs(path.join(rootfs, 'bin/ping'))['security.capability'];
    expect([hostCap.length, hostCap.readUInt32LE(0) >>> 24, hostCap.readUInt32LE(20)]).toEqual([24, 3, 100000]);
    expect(aclIds(native.lgetxattrs(path.join(rootfs, 'home/app/notes'))['system.posix_acl_access'])).toBe(`u${mapUid(33)},g${mapGid(1000)}`);
  });

  it('getcap inside the namespace shows the capability [needs getcap: libcap2-bin]', async (ctx) => {
    const getcap = ['/usr/sbin/getcap', '/sbin/getcap'].find((p) => fs.existsSync(p));
    if (!getcap) ctx.skip();
    const dir = scratch();
    const layers = image().map((spec, i) => buildLayer(path.join(dir, `l${i}`), spec));
    await provision(layers, path.join(dir, 'mapped'), { idMap: MAP });
    fs.chmodSync(dir, 0o755);
    const out = await inUserNamespace(
      `process.stdout.write(require('child_process').execFileSync(${JSON.stringify(getcap)}, [${JSON.stringify(path.join(dir, 'mapped', 'bin/ping'))}]).toString())`,
    );
    expect(out).toMatch(/cap_net_raw[=+]e?p/);
  });

  it('an ID outside every range fails naming the entry and the ID; nothing is left', async () => {
    const dir = scratch();
    const l1 = buildLayer(path.join(dir, 'l1'), { ok: 'x', 'srv/data': { file: 'd', uid: 70000 } });
    await expect(provision([l1], path.join(dir, 'root'), { idMap: MAP })).rejects.toMatchObject({
      code: 'ERR_UNMAPPED_ID',
      path: `${l1}/srv/data`,
      message: expect.stringMatching(/uid 70000 is outside every --uid-map range/),
    });
    const r = await execa('node', [cli, 'provision', '--json', '--uid-map', '0:100000:65536', l1, path.join(dir, 'root')], { reject: false });
    expect(r.exitCode).toBe(1);
    expect(JSON.parse(r.stdout).error).toMatchObject({ code: 'ERR_UNMAPPED_ID', path: `${l1}/srv/data` });
    expect(fs.readdirSync(dir)).toEqual(['l1']);
  });

  it('a uid map alone leaves gids as they are; several ranges are allowed', async () => {
    const dir = scratch();
    const l1 = buildLayer(path.join(dir, 'l1'), { a: { file: 'a', uid: 5, gid: 7 }, b: { file: 'b', uid: 1000, gid: 1000 } });
    const r = await execa('node', [cli, 'provision', '--quiet', '--uid-map', '0:100000:1000', '--uid-map', '1000:300000:10', l1, path.join(dir, 'root')], { reject: false });
    expect(r.exitCode, r.stderr).toBe(0);
    const st = (n: string) => fs.lstatSync(path.join(dir, 'root', n));
    expect([st('a').uid, st('a').gid, st('b').uid, st('b').gid]).toEqual([100005, 7, 300000, 1000]);
  });

  it("a shared CopyBackend applies each provision's own map", async () => {
    const dir = scratch();
    const l1 = buildLayer(path.join(dir, 'l1'), { f: { file: 'f', uid: 1, gid: 2 } });
    const backend = new CopyBackend({ concurrency: 2 });
    try {
      await Promise.all([
        backend.provision([l1], path.join(dir, 'a'), { idMap: { uid: [{ containerID: 0, hostID: 10000, size: 100 }] } }),
        backend.provision([l1], path.join(dir, 'b'), { idMap: { uid: [{ containerID: 0, hostID: 20000, size: 100 }] } }),
        backend.provision([l1], path.join(dir, 'c')),
      ]);
    } finally {
      await backend.close();
    }
    expect(['a', 'b', 'c'].map((n) => fs.lstatSync(path.join(dir, n, 'f')).uid)).toEqual([10001, 20001, 1]);
  });
});

describe('ID map validation', () => {
  it.each([
    [['--uid-map', '0:100000'], /--uid-map must be CONTAINER:HOST:COUNT/],
    [['--uid-map', '0:100000:0'], /--uid-map 0:100000:0 \(size\) must be at least 1/],
    [['--uid-map', '0:1:10', '--uid-map', '5:100:10'], /--uid-map 5:100:10 overlaps --uid-map 0:1:10 in container IDs/],
    [['--gid-map', '0:100:10', '--gid-map', '50:105:10'], /--gid-map 50:105:10 overlaps --gid-map 0:100:10 in host IDs/],
    [['--gid-map', '0:4294967295:2'], /runs past ID 4294967295/],
  ])('%j is a usage error naming the flag', async (flags, message) => {
    const dir = scratch();
    const l1 = buildLayer(path.join(dir, 'l1'), { a: 'a' });
    const r = await execa('node', [cli, 'provision', ...flags, l1, path.join(dir, 'root')], { reject: false });
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toMatch(message);
  });

  it('the library names the option', async () => {
    await expect(provision(['/tmp'], '/tmp/x-never', { idMap: { uid: [] } })).rejects.toMatchObject({
      code: 'ERR_INVALID_OPTION',
      message: expect.stringMatching(/options\.idMap\.uid must be a non-empty array/),
    });
  });
});
