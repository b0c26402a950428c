// One tar layer alone is extracted straight into the staging directory
// (src/images/extract-all.ts, TAR_DIRECT in native/tar.c), not into a
// scratch directory that the plan links from: the same tree, times, modes,
// hardlinks and xattrs as umoci and as the planned path, the same counts,
// the same refusals, and nothing left after a failure.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Progress } from '../src/core/options.js';
import { provision } from '../src/index.js';
import { buildLayer, diffSnapshots, isRoot, scratch, snapshot } from './helpers.js';
import { hasUmoci, ociImage, type RawEntry, rawTar } from './images/fixtures.js';

const T = 1_600_000_000;
const dirs = (...names: string[]): RawEntry[] => names.map((name) => ({ name, type: '5', mode: 0o755, mtime: T }));
/** Nothing of the provision beside the rootfs: no staging or scratch directory. */
const leftovers = (dir: string) => fs.readdirSync(dir).filter((n) => n.includes('layercopy'));

describe('one tar layer, straight into the rootfs', () => {
  it.runIf(isRoot && hasUmoci)('a one-layer image umoci built equals its umoci unpack: tree, modes, owners, ns times, xattrs, hardlinks [needs root and umoci]', async () => {
    const dir = scratch();
    const layout = path.join(dir, 'img');
    const umoci = (...args: string[]) => execFileSync('umoci', args, { cwd: dir, stdio: 'pipe' });
    umoci('init', '--layout', layout);
    umoci('new', '--image', `${layout}:t`);
    const bundle = path.join(dir, 'bundle');
    umoci('unpack', '--image', `${layout}:t`, bundle);
    const staged = buildLayer(path.join(dir, 'spec'), {
      'etc/passwd': { file: 'root:x:0:0', mode: 0o644 },
      'etc/shadow': { file: 'root:*:', mode: 0o640, uid: 0, gid: 42 },
      'usr/bin/su': { file: 'su', mode: 0o4755 },
      'usr/bin/sulink': { link: 'usr/bin/su' },
      'usr/lib/libc.so.6': { symlink: 'libc-2.36.so' },
      'usr/lib/libc-2.36.so': 'libc',
      'tmp/': { dir: true, mode: 0o1777 },
      'dev/null': { chr: [1, 3] },
      'run/fifo': { fifo: true },
      'srv/ro/': { dir: true, mode: 0o555 },
      'srv/ro/f': { file: 'f', mode: 0o444 },
      'home/app/': { dir: true, mode: 0o750, uid: 1000, gid: 1000 },
      'home/app/notes': { file: 'n', uid: 1000, gid: 1000, xattrs: { 'user.note': 'v' } },
    });
    execFileSync('cp', ['-a', `${staged}/.`, path.join(bundle, 'rootfs')]);
    umoci('repack', '--image', `${layout}:t`, bundle);
    umoci('unpack', '--image', `${layout}:t`, path.join(dir, 'unpacked'));
    const summary = await provision([`oci:${layout}:t`], path.join(dir, 'root'));
    // Nothing was walked or linked: the layer went straight into the rootfs.
    expect(summary.timings.walkMs).toBe(0);
    const ours = snapshot(path.join(dir, 'root'), { atime: false });
    expect(diffSnapshots(snapshot(path.join(dir, 'unpacked', 'rootfs'), { atime: false }), ours)).toEqual([]);
    expect(ours.get('usr/bin/su')?.links).toBe('usr/bin/su|usr/bin/sulink');
    expect(fs.lstatSync(path.join(dir, 'root', 'usr/bin/su')).ino).toBe(fs.lstatSync(path.join(dir, 'root', 'usr/bin/sulink')).ino);
  });

  it('equals the same layer planned over an empty layer: tree and counts, with names given twice, hardlinks and markers', async () => {
    const dir = scratch();
    const layer = path.join(dir, 'layer.tar');
    fs.writeFileSync(
      layer,
      rawTar([
        ...dirs('./', 'etc/', 'usr/', 'usr/bin/', 'var/'),
        { name: 'etc/a', data: 'first', mode: 0o600, mtime: T },
        { name: 'etc/a', data: 'given again', mode: 0o640, mtime: T + 1 },
        { name: 'usr/bin/tool', data: 'tool!', mode: 0o755, mtime: T },
        { name: 'usr/bin/alias', type: '1', linkname: 'usr/bin/tool' },
        { name: 'usr/bin/alias2', type: '1', linkname: 'usr/bin/tool' },
        // The first name of the group replaced: the other two still share an inode.
        { name: 'usr/bin/tool', type: '2', linkname: 'alias', mtime: T },
        { name: 'var/file-then-link', data: 'x', mtime: T },
        { name: 'var/file-then-link', type: '2', linkname: '../etc/a', mtime: T },
        { name: 'var/.wh.gone', data: '', mtime: T },
        { name: '.wh..wh..opq', data: '', mtime: T },
        { name: 'var/fifo', type: '6', mode: 0o640, mtime: T },
      ]),
    );
    const empty = buildLayer(path.join(dir, 'empty'), {});
    fs.utimesSync(empty, T, T);
    const direct = await provision([layer], path.join(dir, 'direct'));
    const planned = await provision([empty, layer], path.join(dir, 'planned'));
    expect(direct.timings.walkMs).toBe(0);
    expect(diffSnapshots(snapshot(path.join(dir, 'planned'), { atime: false }), snapshot(path.join(dir, 'direct'), { atime: false }))).toEqual([]);
    // whiteouts: the opaque marker hides the empty layer's root below it, and nothing where there is no layer below.
    const counts = ({ entries, bytes, directories, hardlinks, replaced }: (typeof direct.perLayer)[number]) => ({ entries, bytes, directories, hardlinks, replaced });
    expect(counts(direct.perLayer[0])).toEqual(counts(planned.perLayer[1]));
    expect(direct).toMatchObject({ hardlinks: 1, whiteouts: 0 });
    expect(fs.existsSync(path.join(dir, 'direct', 'var/.wh.gone'))).toBe(false);
  });

  it('a layer that replaces one of its own directories by a file is read again through scratch: the file, counted once', async () => {
    const dir = scratch();
    const layer = path.join(dir, 'layer.tar');
    fs.writeFileSync(layer, rawTar([...dirs('./', 'a/', 'a/b/'), { name: 'a/b/c', data: 'c', mtime: T }, { name: 'a', data: 'now a file', mode: 0o644, mtime: T }]));
    const summary = await provision([layer], path.join(dir, 'root'));
    expect(fs.readdirSync(path.join(dir, 'root'))).toEqual(['a']);
    expect(fs.readFileSync(path.join(dir, 'root', 'a'), 'utf8')).toBe('now a file');
    expect(summary).toMatchObject({ entries: 1, directories: 0, bytes: 10 });
    expect(leftovers(dir)).toEqual([]);
  });

  it('the directories a marker is in stand with no header of their own, as on the planned path (a/.wh..wh..opq, b/c/.wh.x, d/.wh..wh.plnk, e/.wh..wh.plnk/x)', async () => {
    const dir = scratch();
    const layer = path.join(dir, 'layer.tar');
    fs.writeFileSync(
      layer,
      rawTar([
        ...dirs('./'),
        { name: 'a/.wh..wh..opq', data: '', mtime: T },
        { name: 'b/c/.wh.x', data: '', mtime: T },
        { name: 'd/.wh..wh.plnk', data: '', mtime: T },
        { name: 'e/.wh..wh.plnk/x', data: '', mtime: T },
      ]),
    );
    const empty = buildLayer(path.join(dir, 'empty'), {});
    const direct = await provision([layer], path.join(dir, 'direct'));
    const planned = await provision([empty, layer], path.join(dir, 'planned'));
    for (const rel of ['a', 'b', 'b/c', 'd', 'e']) expect([rel, fs.lstatSync(path.join(dir, 'direct', rel)).isDirectory()]).toEqual([rel, true]);
    expect(fs.readdirSync(path.join(dir, 'direct', 'a'))).toEqual([]);
    expect(direct.perLayer[0]).toMatchObject({ entries: planned.perLayer[1].entries, directories: planned.perLayer[1].directories });
  });

  it.each([
    ['a directory named as a marker', [...dirs('./', '.wh.d/')]],
    ['a marker with an entry below it', [...dirs('./'), { name: '.wh.d/x', data: 'x' }]],
    ['a symlink named as a marker', [...dirs('./'), { name: 'etc/.wh.s', type: '2' as const, linkname: 'x' }]],
    ['a marker naming nothing', [...dirs('./'), { name: 'etc/.wh.', data: '' }]],
    ['a marker naming the parent', [...dirs('./'), { name: 'etc/.wh..', data: '' }]],
  ])('%s: ERR_INVALID_WHITEOUT, and no rootfs or staging left', async (_what, entries) => {
    const dir = scratch();
    const layer = path.join(dir, 'layer.tar');
    fs.writeFileSync(layer, rawTar([{ name: 'first', data: 'written before the failure' }, ...entries]));
    await expect(provision([layer], path.join(dir, 'root'))).rejects.toMatchObject({ code: 'ERR_INVALID_WHITEOUT' });
    expect(fs.existsSync(path.join(dir, 'root'))).toBe(false);
    expect(leftovers(dir)).toEqual([]);
  });

  // The same bad entry as an image's one layer and as the higher of two:
  // the same code, fields and message, the layer's label aside.
  it.each([
    ['a hardlink to a name not in the layer', [{ name: 'l', type: '1' as const, linkname: 'nope' }]],
    ['a name climbing out', [{ name: '../escape', data: 'x' }]],
    ['a directory named as a marker', [...dirs('etc/.wh.d/')]],
    ['a marker naming nothing', [{ name: 'etc/.wh.', data: '' }]],
  ])('%s: refused as in a two-layer image, named the same way', async (_what, entries) => {
    const dir = scratch();
    const bad = rawTar([...dirs('./', 'etc/'), ...entries]);
    const one = `oci:${ociImage(path.join(dir, 'one'), { layers: [bad] })}:latest`;
    const two = `oci:${ociImage(path.join(dir, 'two'), { layers: [rawTar(dirs('./', 'usr/')), bad] })}:latest`;
    const refusal = async (ref: string) => {
      const e = await provision([ref], path.join(dir, `root-${ref.length}-${ref.includes('one')}`)).then(
        () => undefined,
        (error) => error,
      );
      // "oci:PATH:latest layer 2/2 (sha256:…)" names the layer in each.
      const label = /oci:\S+ layer \d\/\d \(sha256:[0-9a-f]+…\)/g;
      return {
        code: e?.code,
        layerIndex: e?.layerIndex,
        digest: e?.digest,
        arg: e?.layer === ref,
        message: e?.message.replace(label, 'LABEL'),
        path: e?.path?.replace(label, 'LABEL'),
      };
    };
    const direct = await refusal(one);
    expect(direct.code).toMatch(/^ERR_/);
    expect(direct).toEqual(await refusal(two));
  });

  it('a bad marker in a blob that is not its digest: ERR_DIGEST_MISMATCH, as when the plan finds the marker', async () => {
    const dir = scratch();
    const tar = rawTar([...dirs('./'), { name: 'f', data: 'original' }, { name: 'etc/.wh.', data: '' }]);
    const layout = ociImage(path.join(dir, 'img'), { layers: [tar], compression: 'none' });
    // One byte of f's data changed: the tar still reads, the blob is not its digest.
    const blobs = path.join(layout, 'blobs', 'sha256');
    const blob = fs.readdirSync(blobs).find((name) => fs.readFileSync(path.join(blobs, name)).equals(tar));
    const corrupt = Buffer.from(tar);
    corrupt[corrupt.indexOf('original')] = 0x4f;
    fs.writeFileSync(path.join(blobs, blob ?? 'missing'), corrupt);
    await expect(provision([`oci:${layout}:latest`], path.join(dir, 'root'))).rejects.toMatchObject({ code: 'ERR_DIGEST_MISMATCH' });
    expect(leftovers(dir)).toEqual([]);
  });

  // What stands at a marker's name when the tar ends is judged, as in a
  // scratch directory, where a name given again replaces what it was.
  it.each([
    ['a directory, then a file', [...dirs('.wh.x/'), { name: '.wh.x', data: '' }]],
    [
      'a directory with a file in it, then a file',
      [
        { name: '.wh.x/y', data: 'y' },
        { name: '.wh.x', data: '' },
      ],
    ],
    [
      'a symlink, then a file',
      [
        { name: '.wh.x', type: '2' as const, linkname: 'y' },
        { name: '.wh.x', data: '' },
      ],
    ],
    [
      'a file, then a hardlink to another marker',
      [
        { name: '.wh.y', data: '' },
        { name: '.wh.x', type: '1' as const, linkname: '.wh.y' },
      ],
    ],
  ])('a marker given as %s: a whiteout, as over another layer', async (_what, entries) => {
    const dir = scratch();
    const layer = path.join(dir, 'layer.tar');
    fs.writeFileSync(layer, rawTar([...dirs('./'), { name: 'kept', data: 'k', mtime: T }, ...entries]));
    const empty = buildLayer(path.join(dir, 'empty'), {});
    fs.utimesSync(empty, T, T);
    await provision([empty, layer], path.join(dir, 'planned'));
    await provision([layer], path.join(dir, 'direct'));
    expect(fs.readdirSync(path.join(dir, 'direct'))).toEqual(['kept']);
    expect(diffSnapshots(snapshot(path.join(dir, 'planned'), { atime: false }), snapshot(path.join(dir, 'direct'), { atime: false }))).toEqual([]);
  });

  it('a marker in a directory no header names: the directory made all the same, as over another layer', async () => {
    const dir = scratch();
    const layer = path.join(dir, 'layer.tar');
    fs.writeFileSync(layer, rawTar([...dirs('./'), { name: 'etc/.wh.x', data: '' }]));
    await provision([layer], path.join(dir, 'root'));
    expect(fs.readdirSync(path.join(dir, 'root'))).toEqual(['etc']);
    expect(fs.lstatSync(path.join(dir, 'root', 'etc')).mode).toBe(0o40755);
    expect(fs.readdirSync(path.join(dir, 'root', 'etc'))).toEqual([]);
  });

  it.each([
    [
      'a marker',
      [
        { name: '.wh.a', data: '' },
        { name: 'x', type: '1' as const, linkname: '.wh.a' },
      ],
    ],
    [
      'AUFS metadata',
      [
        { name: '.wh..wh.plnk/1.2', data: 'p' },
        { name: 'x', type: '1' as const, linkname: '.wh..wh.plnk/1.2' },
      ],
    ],
    [
      'AUFS metadata, from a marker',
      [
        { name: '.wh..wh.plnk/1.2', data: '' },
        { name: '.wh.y', type: '1' as const, linkname: '.wh..wh.plnk/1.2' },
      ],
    ],
  ])('a hardlink to %s (not written here): the layer read again through scratch, as over another layer', async (_what, entries) => {
    const dir = scratch();
    const layer = path.join(dir, 'layer.tar');
    fs.writeFileSync(layer, rawTar([...dirs('./'), ...entries]));
    const empty = buildLayer(path.join(dir, 'empty'), {});
    fs.utimesSync(empty, T, T);
    await provision([empty, layer], path.join(dir, 'planned'));
    await provision([layer], path.join(dir, 'direct'));
    expect(diffSnapshots(snapshot(path.join(dir, 'planned'), { atime: false }), snapshot(path.join(dir, 'direct'), { atime: false }))).toEqual([]);
    expect(leftovers(dir)).toEqual([]);
  });

  it('a marker given as a file, then a directory: refused, as over another layer', async () => {
    const dir = scratch();
    const layer = path.join(dir, 'layer.tar');
    fs.writeFileSync(layer, rawTar([...dirs('./'), { name: '.wh.x', data: '' }, ...dirs('.wh.x/'), { name: 'after', data: 'a' }]));
    await expect(provision([layer], path.join(dir, 'root'))).rejects.toMatchObject({ code: 'ERR_INVALID_WHITEOUT', path: `${layer}:/.wh.x` });
    expect(leftovers(dir)).toEqual([]);
  });

  it('AUFS metadata (.wh..wh.plnk/, a directory with files) is skipped, as the plan skips it', async () => {
    const dir = scratch();
    const layer = path.join(dir, 'layer.tar');
    fs.writeFileSync(layer, rawTar([...dirs('./', '.wh..wh.plnk/'), { name: '.wh..wh.plnk/1.2', data: 'x' }, { name: 'kept', data: 'k' }]));
    const summary = await provision([layer], path.join(dir, 'root'));
    expect(fs.readdirSync(path.join(dir, 'root'))).toEqual(['kept']);
    expect(summary.entries).toBe(1);
  });

  it('a failure half-way (a name climbing out, after 200 entries written): nothing left, no rootfs', async () => {
    const dir = scratch();
    const files: RawEntry[] = Array.from({ length: 200 }, (_, i) => ({ name: `d/f${i}`, data: 'x' }));
    const layout = ociImage(path.join(dir, 'img'), { layers: [rawTar([...dirs('./', 'd/'), ...files, { name: '../escape', data: 'x' }])] });
    await expect(provision([`oci:${layout}:latest`], path.join(dir, 'root'))).rejects.toMatchObject({ code: 'ERR_INVALID_TAR' });
    expect(fs.existsSync(path.join(dir, 'root'))).toBe(false);
    expect(fs.existsSync(path.join(dir, 'escape'))).toBe(false);
    expect(leftovers(dir)).toEqual([]);
  });

  it("the rootfs takes the mode of the layer's ./ header only as it is renamed into place; 0755 without one", async () => {
    const dir = scratch();
    const layer = path.join(dir, 'layer.tar');
    fs.writeFileSync(
      layer,
      rawTar([
        { name: './', type: '5', mode: 0o750, mtime: T },
        { name: 'f', data: 'f', mtime: T },
      ]),
    );
    await provision([layer], path.join(dir, 'root'));
    const st = fs.statSync(path.join(dir, 'root'), { bigint: true });
    expect(Number(st.mode & 0o7777n)).toBe(0o750);
    expect(st.mtimeNs).toBe(BigInt(T) * 1_000_000_000n);
    const bare = path.join(dir, 'bare.tar');
    fs.writeFileSync(bare, rawTar([{ name: 'f', data: 'f', mtime: T }]));
    await provision([bare], path.join(dir, 'root2'));
    expect(fs.statSync(path.join(dir, 'root2')).mode & 0o7777).toBe(0o755);
  });

  it('progress ends with one "done" event whose totals equal the summary', async () => {
    const dir = scratch();
    const file = path.join(dir, 'one.tar');
    fs.writeFileSync(
      file,
      rawTar([
        { name: 'etc/', type: '5', mode: 0o755 },
        { name: 'etc/a', data: 'abc' },
        { name: 'etc/b', type: '1', linkname: 'etc/a' },
      ]),
    );
    const events: Progress[] = [];
    const summary = await provision([file], path.join(dir, 'root'), { onProgress: (p) => events.push(p) });
    expect(fs.lstatSync(path.join(dir, 'root/etc/b')).ino).toBe(fs.lstatSync(path.join(dir, 'root/etc/a')).ino);
    const last = events[events.length - 1];
    expect(last?.phase).toBe('done');
    expect(events.filter((e) => e.phase === 'done')).toEqual([last]);
    expect([last.entries, last.bytes, last.layerIndex, last.layers]).toEqual([summary.entries, summary.bytes, 0, 1]);
  });
});

describe("the root's setuid and setgid with --owners drop", () => {
  // Owned by root, as an image's entries are: as another user the caller's own uid would be an owner
  // that drop forgets, which --strict refuses first (at f).
  const root: RawEntry[] = [
    { name: './', type: '5', mode: 0o6755, mtime: T, uid: 0, gid: 0 },
    { name: 'f', data: 'f', mode: 0o644, mtime: T, uid: 0, gid: 0 },
  ];

  it.each([
    ['one layer, straight into the rootfs', false],
    ['over another layer, through scratch', true],
  ])('%s: cleared, and counted in summary.rootless', async (_how, below) => {
    const dir = scratch();
    const layer = path.join(dir, 'layer.tar');
    fs.writeFileSync(layer, rawTar(root));
    const layers = below ? [buildLayer(path.join(dir, 'base'), {}), layer] : [layer];
    const summary = await provision(layers, path.join(dir, 'root'), { owners: 'drop' });
    expect(fs.statSync(path.join(dir, 'root')).mode & 0o7777).toBe(0o755);
    expect(summary.rootless.specialBitsCleared).toEqual({ count: 1, paths: ['/'] });
  });

  it('one layer, straight into the rootfs, with --strict: refused naming the root, nothing left', async () => {
    const dir = scratch();
    const layer = path.join(dir, 'layer.tar');
    fs.writeFileSync(layer, rawTar(root));
    await expect(provision([layer], path.join(dir, 'root'), { owners: 'drop', strict: true })).rejects.toMatchObject({ code: 'ERR_UNSUPPORTED_ENTRY', path: `${layer}:/` });
    expect(fs.existsSync(path.join(dir, 'root'))).toBe(false);
    expect(leftovers(dir)).toEqual([]);
  });
});

describe('what a tar entry is made with is not set again, and what it lacks is', () => {
  const modes: RawEntry[] = [
    ...dirs('./', 'm/'),
    ...[0o666, 0o777, 0o640, 0o000, 0o4755, 0o2711, 0o1777].map((mode) => ({ name: `m/f${mode.toString(8)}`, data: 'x', mode, mtime: T })),
    ...[0o666, 0o600].map((mode) => ({ name: `m/empty${mode.toString(8)}`, data: '', mode, mtime: T })),
    { name: 'm/fifo', type: '6', mode: 0o666, mtime: T },
  ];

  it.each([
    ['one layer, straight into the rootfs', false],
    ['over another layer, through scratch', true],
  ])('%s: every mode exact under a umask of 022 (bits the umask strips set again)', async (_how, below) => {
    const dir = scratch();
    const layer = path.join(dir, 'layer.tar');
    fs.writeFileSync(layer, rawTar(modes));
    const old = process.umask(0o022);
    try {
      await provision(below ? [buildLayer(path.join(dir, 'base'), { other: 'o' }), layer] : [layer], path.join(dir, 'root'));
    } finally {
      process.umask(old);
    }
    for (const e of modes.slice(2)) expect([e.name, fs.lstatSync(path.join(dir, 'root', e.name)).mode & 0o7777]).toEqual([e.name, e.mode]);
  });

  it.runIf(isRoot)('under a setgid directory of another group: owners exact, the group the directory would lend replaced [needs root]', async () => {
    const dir = scratch();
    const parent = path.join(dir, 'shared');
    fs.mkdirSync(parent);
    fs.chownSync(parent, 0, 42);
    fs.chmodSync(parent, 0o2775);
    const layer = path.join(dir, 'layer.tar');
    fs.writeFileSync(
      layer,
      rawTar([
        ...dirs('./', 'd/'),
        { name: 'd/root-owned', data: 'r', mode: 0o644, mtime: T },
        { name: 'd/empty', data: '', mode: 0o644, mtime: T },
        { name: 'd/link', type: '2', linkname: 'root-owned', mtime: T },
        { name: 'd/app', data: 'a', mode: 0o640, mtime: T, pax: { uid: '1000', gid: '1000' } },
      ]),
    );
    await provision([layer], path.join(parent, 'root'));
    const owner = (rel: string) => {
      const st = fs.lstatSync(path.join(parent, 'root', rel));
      return [rel, st.uid, st.gid];
    };
    expect(['d/root-owned', 'd/empty', 'd/link', 'd', 'd/app'].map(owner)).toEqual([
      ['d/root-owned', 0, 0],
      ['d/empty', 0, 0],
      ['d/link', 0, 0],
      ['d', 0, 0],
      ['d/app', 1000, 1000],
    ]);
  });
});
