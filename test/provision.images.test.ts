// Provisioning from images: against umoci's unpack of the same OCI layout,
// and LAYER lists that mix directories, tarballs and image references.
import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import zlib from 'node:zlib';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { Pool } from '../src/copy/pool.js';
import { pumpsHere } from '../src/images/pumped.js';
import { type Progress, provision } from '../src/index.js';
import { provisionWith } from '../src/provision.js';
import { buildLayer, diffSnapshots, isRoot, scratch, snapshot } from './helpers.js';
import { hasUmoci, ociImage, rawTar, tarDir, tarOwners } from './images/fixtures.js';

const cli = fileURLToPath(new URL('../dist/src/cli.js', import.meta.url));

describe('images against umoci unpack', () => {
  it.runIf(isRoot && hasUmoci)('a three-layer image umoci built equals its umoci unpack, entry by entry [needs root and umoci]', async () => {
    const dir = scratch();
    const layout = path.join(dir, 'img');
    const umoci = (...args: string[]) => execFileSync('umoci', args, { cwd: dir, stdio: 'pipe' });
    umoci('init', '--layout', layout);
    umoci('new', '--image', `${layout}:t`);
    const layers: Record<string, Parameters<typeof buildLayer>[1]> = {
      base: {
        'etc/passwd': { file: 'root:x:0:0', mode: 0o644 },
        'etc/shadow': { file: 'root:*:', mode: 0o640, uid: 0, gid: 42 },
        'usr/bin/su': { file: 'su', mode: 0o4755 },
        'usr/bin/sulink': { link: 'usr/bin/su' },
        'usr/lib/libc.so.6': { symlink: 'libc-2.36.so' },
        'usr/lib/libc-2.36.so': 'libc',
        'var/cache/apt/pkgcache.bin': 'cache',
        'tmp/': { dir: true, mode: 0o1777 },
        'dev/null': { chr: [1, 3] },
        'run/fifo': { fifo: true },
        'home/app/': { dir: true, mode: 0o750, uid: 1000, gid: 1000 },
        'home/app/notes': { file: 'n', uid: 1000, gid: 1000, xattrs: { 'user.note': 'v' } },
      },
      packages: { 'usr/bin/python3': { file: 'py', mode: 0o755 }, 'usr/lib/libc-2.36.so': 'libc upgraded', 'etc/passwd': 'root:x:0:0\napp:x:1000:1000' },
      cleanup: { 'var/cache/apt/': { dir: true }, 'usr/bin/sulink': 'no longer a link' },
    };
    for (const [name, spec] of Object.entries(layers)) {
      const bundle = path.join(dir, `bundle-${name}`);
      umoci('unpack', '--image', `${layout}:t`, bundle);
      const rootfs = path.join(bundle, 'rootfs');
      if (name === 'cleanup') fs.rmSync(path.join(rootfs, 'var/cache/apt/pkgcache.bin'));
      const staged = buildLayer(path.join(dir, `spec-${name}`), spec);
      execFileSync('cp', ['-a', `${staged}/.`, rootfs]);
      umoci('repack', '--image', `${layout}:t`, bundle);
    }
    umoci('unpack', '--image', `${layout}:t`, path.join(dir, 'unpacked'));
    await provision([`oci:${layout}:t`], path.join(dir, 'root'));
    const theirs = snapshot(path.join(dir, 'unpacked', 'rootfs'), { atime: false });
    const ours = snapshot(path.join(dir, 'root'), { atime: false });
    expect(ours.size).toBeGreaterThan(15);
    expect(diffSnapshots(theirs, ours)).toEqual([]);
  });
});

describe('LAYER lists that mix inputs', () => {
  it.runIf(isRoot)("an image of no layers with an ID map: the empty root is container root's, mapped [needs root: chown]", async () => {
    const dir = scratch();
    const layout = `oci:${ociImage(path.join(dir, 'img'), { layers: [] })}:latest`;
    const idMap = { uid: [{ containerID: 0, hostID: 100000, size: 65536 }], gid: [{ containerID: 0, hostID: 200000, size: 65536 }] };
    await provision([layout], path.join(dir, 'mapped'), { idMap });
    const st = fs.lstatSync(path.join(dir, 'mapped'));
    // Before: 0:0, host root's, where a layer's root would have been shifted.
    expect([st.uid, st.gid, st.mode & 0o7777]).toEqual([100000, 200000, 0o755]);
    const outside = { uid: [{ containerID: 1, hostID: 100001, size: 10 }] };
    await expect(provision([layout], path.join(dir, 'outside'), { idMap: outside })).rejects.toMatchObject({ code: 'ERR_UNMAPPED_ID' });
    expect(fs.existsSync(path.join(dir, 'outside'))).toBe(false);
  });

  it('an image of no layers (a scratch image): an empty 0755 rootfs, as umoci unpacks it; beside a layer, that layer alone', async () => {
    const dir = scratch();
    const layout = `oci:${ociImage(path.join(dir, 'img'), { layers: [] })}:latest`;
    // Before: "N-API call failed" (ERR_SYSTEM), the walk given no layer.
    const summary = await provision([layout], path.join(dir, 'empty'));
    expect([summary.layers, summary.entries, summary.images.length]).toEqual([0, 0, 1]);
    const st = fs.lstatSync(path.join(dir, 'empty'));
    expect([st.isDirectory(), st.mode & 0o7777, fs.readdirSync(path.join(dir, 'empty'))]).toEqual([true, 0o755, []]);
    const l0 = buildLayer(path.join(dir, 'l0'), { 'etc/a': 'a' });
    await provision([l0], path.join(dir, 'alone'));
    await provision([layout, l0], path.join(dir, 'both'));
    expect(diffSnapshots(snapshot(path.join(dir, 'alone'), { atime: false }), snapshot(path.join(dir, 'both'), { atime: false }))).toEqual([]);
    expect(fs.readdirSync(dir).filter((n) => n.includes('layercopy'))).toEqual([]);
  });

  it('a directory, a gzip tarball and an image reference, in order, equal the same layers as directories', async () => {
    const dir = scratch();
    const l0 = buildLayer(path.join(dir, 'l0'), { 'etc/a': 'a', 'etc/b': 'b', 'opt/x': 'x' });
    const l1 = buildLayer(path.join(dir, 'l1'), { 'etc/.wh.a': '', 'etc/c': 'c' });
    const l2 = buildLayer(path.join(dir, 'l2'), { 'opt/.wh..wh..opq': '', 'opt/y': 'y' });
    const tarball = path.join(dir, 'l1.tgz');
    execFileSync('tar', ['--format=posix', ...tarOwners, '--numeric-owner', '-C', l1, '-czf', tarball, '.']);
    const layout = ociImage(path.join(dir, 'img'), { layers: [tarDir(l2)] });
    await provision([l0, l1, l2], path.join(dir, 'dirs'));
    const summary = await provision([l0, tarball, `oci:${layout}:latest`], path.join(dir, 'mixed'));
    expect(summary.perLayer.map((l) => l.layer)).toEqual([l0, tarball, `oci:${layout}:latest`]);
    expect(diffSnapshots(snapshot(path.join(dir, 'dirs'), { atime: false }), snapshot(path.join(dir, 'mixed'), { atime: false }))).toEqual([]);
    expect(fs.readdirSync(dir).filter((n) => n.includes('layercopy'))).toEqual([]);
  });

  it('oci-archive: a tar of a layout provisions as the layout does, its blobs read out of the archive by offset', async () => {
    const dir = scratch();
    const l0 = buildLayer(path.join(dir, 'l0'), { 'etc/a': 'a', 'usr/bin/x': { file: 'x', mode: 0o755 } });
    const l1 = buildLayer(path.join(dir, 'l1'), { 'etc/.wh.a': '', 'etc/b': 'b' });
    const layout = ociImage(path.join(dir, 'img'), { layers: [tarDir(l0), tarDir(l1)], ref: 'v1' });
    const archive = path.join(dir, 'img.tar');
    execFileSync('tar', ['-C', layout, '-cf', archive, '.']);
    await provision([`oci:${layout}:v1`], path.join(dir, 'layout'));
    const summary = await provision([`oci-archive:${archive}:v1`], path.join(dir, 'archive'));
    expect(summary.perLayer[0].layer).toMatch(/^oci-archive:.*img\.tar:v1$/);
    expect(diffSnapshots(snapshot(path.join(dir, 'layout'), { atime: false }), snapshot(path.join(dir, 'archive'), { atime: false }))).toEqual([]);
    const missing = await provision([`oci-archive:${archive}:v2`], path.join(dir, 'none')).catch((e) => e);
    expect(missing.message).toMatch(/no image named 'v2'; the layout holds: v1 /);
  });

  it('progress: each tarball layer reports its bytes read, up to its size, before the copy starts', async () => {
    const dir = scratch();
    const big = buildLayer(path.join(dir, 'big'), Object.fromEntries(Array.from({ length: 8 }, (_, i) => [`f${i}`, crypto.randomBytes(512 * 1024)])));
    const small = buildLayer(path.join(dir, 'small'), { a: 'a' });
    const [t1, t2] = [big, small].map((d, i) => {
      const file = path.join(dir, `l${i}.tgz`);
      execFileSync('tar', ['-C', d, '-czf', file, '.']);
      return file;
    });
    const events: Progress[] = [];
    await provision([t1, t2], path.join(dir, 'root'), { onProgress: (p) => events.push(p) });
    const extract = events.filter((e) => e.phase === 'extract');
    for (const [layerIndex, file] of [t1, t2].entries()) {
      const mine = extract.filter((e) => e.layerIndex === layerIndex);
      expect(mine.at(-1), file).toMatchObject({ layer: file, layers: 2, read: fs.statSync(file).size, size: fs.statSync(file).size });
      expect(mine.map((e) => e.read)).toEqual([...mine.map((e) => e.read!)].sort((a, b) => a - b));
    }
    const lastExtract = events.map((e) => e.phase).lastIndexOf('extract');
    expect(events.findIndex((e) => e.phase !== 'extract')).toBeGreaterThan(lastExtract);
  });

  it.each([
    ['a gzip tarball (its CRC checked)', false],
    ['an OCI image (inflated raw)', true],
  ])('an abort while extracting %s stops it: AbortError, and no rootfs, staging or scratch left', async (_what, image) => {
    const dir = scratch();
    // The first event (0 bytes read) comes as the extraction starts: aborted there, it stops at its next chunk.
    const plain = rawTar(Array.from({ length: 5000 }, (_, i) => ({ name: `d${i % 50}/f${i}`, data: crypto.randomBytes(600).toString('latin1') })));
    const tar = zlib.gzipSync(plain);
    const file = path.join(dir, 'l.tgz');
    fs.writeFileSync(file, tar);
    const layer = image ? `oci:${ociImage(path.join(dir, 'img'), { layers: [plain] })}` : file;
    const controller = new AbortController();
    const extract: Progress[] = [];
    const error = await provision([layer], path.join(dir, 'root'), {
      signal: controller.signal,
      onProgress: (p) => {
        if (p.phase !== 'extract') return;
        extract.push(p);
        controller.abort();
      },
    }).catch((e) => e);
    expect(error).toMatchObject({ name: 'AbortError', code: 'ABORT_ERR' });
    expect(extract.at(-1)!.read).toBeLessThan(tar.length);
    expect(fs.readdirSync(dir).filter((n) => n.includes('layercopy') || n === 'root')).toEqual([]);
  });

  it('a transport layercopy does not read (containers-storage:) is named, with the way round it', async () => {
    const dir = scratch();
    const r = await provision(['containers-storage:alpine:3'], path.join(dir, 'root')).catch((e) => e);
    expect(r).toMatchObject({ code: 'ERR_INVALID_ARGUMENT', layerIndex: 0 });
    expect(r.message).toMatch(
      /the containers-storage: transport is not read by layercopy; copy the image to an OCI layout first \(skopeo copy containers-storage:alpine:3 oci:DIR:TAG\)/,
    );
  });

  it('docker: without // is named, with how a registry reference is written', async () => {
    const dir = scratch();
    const r = await provision(['docker:alpine'], path.join(dir, 'root')).catch((e) => e);
    expect(r).toMatchObject({ code: 'ERR_INVALID_ARGUMENT', layerIndex: 0, message: expect.stringMatching(/is written docker:\/\/\[HOST\[:PORT\]\/\]REPOSITORY/) });
  });

  it('an unknown word before a colon, with no such path: both named, with the transports there are', async () => {
    const dir = scratch();
    const r = await provision(['ocj:img:t'], path.join(dir, 'root')).catch((e) => e);
    expect(r).toMatchObject({ code: 'ERR_INVALID_ARGUMENT', layerIndex: 0 });
    expect(r.message).toMatch(/^layer 1 \(.*\/ocj:img:t\): does not exist, and ocj: is not a transport layercopy reads \(oci:, oci-archive:, docker-archive:, docker:\)$/);
  });

  it.each(['quay.io/podman/stable:latest', '127.0.0.1:5000/app:1', 'localhost/app'])('%s, a registry reference with no such path: did you mean docker://', async (given) => {
    const dir = scratch();
    const r = await provision([given], path.join(dir, 'root')).catch((e) => e);
    expect(r).toMatchObject({ code: 'ERR_INVALID_ARGUMENT', layerIndex: 0 });
    expect(r.message).toMatch(new RegExp(`: does not exist; did you mean docker://${given.replaceAll('.', '\\.')}\\?$`));
  });

  it('a directory whose name has a colon is still a directory', async () => {
    const dir = scratch();
    const l0 = buildLayer(path.join(dir, 'oci:weird'), { a: 'a' });
    await provision([l0], path.join(dir, 'root'));
    expect(fs.readdirSync(path.join(dir, 'root'))).toEqual(['a']);
  });
});

describe('a filesystem that refuses the links from scratch into the rootfs', () => {
  // No filesystem here refuses linkat (vfat is not in this kernel), so an
  // LD_PRELOAD shim makes every linkat fail with the errno given, and
  // counts the refusals. The layer has no hardlinks: the tar reader links
  // those in scratch with linkat too. A second layer above it: one tar
  // layer alone is extracted straight into the rootfs, nothing linked.
  it.for([
    ['EPERM', 1],
    ['EOPNOTSUPP', 95],
    ['EXDEV', 18],
  ] as const)('%s: each survivor is copied instead, the same tree as with links [needs cc, for an LD_PRELOAD shim]', async ([, errno], ctx) => {
    const dir = scratch();
    const shim = path.join(dir, 'refuse-link.c');
    fs.writeFileSync(
      shim,
      `
      #define _GNU_SOURCE
      #include <errno.h>
      #include <fcntl.h>
      #include <stdlib.h>
      #include <unistd.h>
      int linkat(int olddirfd, const char *oldpath, int newdirfd, const char *newpath, int flags) {
        int fd = open(getenv("REFUSE_LOG"), O_WRONLY | O_APPEND | O_CREAT, 0600);
        if (fd >= 0) { (void)!write(fd, "r", 1); close(fd); }
        errno = atoi(getenv("REFUSE_ERRNO"));
        return -1;
      }`,
    );
    const so = path.join(dir, 'refuse-link.so');
    const cc = await execa('cc', ['-shared', '-fPIC', '-o', so, shim], { reject: false });
    if (cc.exitCode !== 0) ctx.skip();
    const layer = path.join(dir, 'layer.tar.gz');
    fs.writeFileSync(
      layer,
      zlib.gzipSync(
        rawTar([
          { name: './', type: '5', mode: 0o755 },
          { name: 'etc/', type: '5', mode: 0o755 },
          { name: 'etc/conf', data: 'x'.repeat(100_000), mode: 0o640, mtime: 1_500_000_000 },
          { name: 'empty', data: '' },
          { name: 'link', type: '2', linkname: 'etc/conf' },
          { name: 'fifo', type: '6', mode: 0o600 },
        ]),
      ),
    );
    const top = path.join(dir, 'top.tar');
    fs.writeFileSync(
      top,
      rawTar([
        { name: 'opt/', type: '5', mode: 0o755 },
        { name: 'opt/top', data: 't' },
      ]),
    );
    const log = path.join(dir, 'refusals');
    const r = await execa('node', [cli, 'provision', layer, top, path.join(dir, 'copied')], {
      reject: false,
      env: { LD_PRELOAD: [process.env.LD_PRELOAD, so].filter(Boolean).join(' '), REFUSE_ERRNO: String(errno), REFUSE_LOG: log },
    });
    expect(r.exitCode, r.stderr).toBe(0);
    expect(fs.readFileSync(log, 'utf8').length).toBeGreaterThanOrEqual(4);
    await provision([layer, top], path.join(dir, 'linked'));
    const copied = snapshot(path.join(dir, 'copied'), { atime: false });
    expect(copied.size).toBeGreaterThanOrEqual(5);
    expect(diffSnapshots(snapshot(path.join(dir, 'linked'), { atime: false }), copied)).toEqual([]);
    expect(fs.readFileSync(path.join(dir, 'copied', 'etc/conf'), 'utf8')).toBe('x'.repeat(100_000));
  });
});

describe('an image whose gzip layers the native helper pumps', () => {
  it.runIf(pumpsHere())(
    'is provisioned without a worker booted: extracted from the main thread, the layer above applied and scratch removed there; nothing left beside the rootfs',
    async () => {
      const dir = scratch();
      const base = rawTar([
        { name: 'etc/', type: '5', mode: 0o755 },
        { name: 'etc/a', data: 'a'.repeat(5000), mode: 0o644 },
        { name: 'etc/gone', data: 'gone', mode: 0o644 },
        { name: 'usr/', type: '5', mode: 0o755 },
        { name: 'usr/b', data: 'b'.repeat(5000), mode: 0o644 },
      ]);
      const above = rawTar([
        { name: 'etc/.wh.gone', data: '', mode: 0o644 },
        { name: 'usr/c', data: 'c', mode: 0o644 },
      ]);
      const layout = ociImage(path.join(dir, 'img'), { layers: [base, above], compression: 'gzip' });
      const pool = new Pool(2);
      try {
        await provisionWith(pool, [`oci:${layout}:latest`], path.join(dir, 'root'));
        expect(pool.started).toBe(false);
        expect(fs.readdirSync(path.join(dir, 'root', 'etc'))).toEqual(['a']);
        expect(fs.readFileSync(path.join(dir, 'root', 'usr', 'c'), 'utf8')).toBe('c');
        expect(fs.readdirSync(dir).sort()).toEqual(['img', 'root']);
      } finally {
        await pool.close();
      }
    },
  );
});
