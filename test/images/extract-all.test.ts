// The lowest tar layer of several, extracted straight into the staging
// directory with the layers above applied over it (src/images/extract-all.ts,
// extractsDirect 'base'): the same tree, ns times, modes, owners, xattrs and
// hardlinks as the planned path through scratch (LAYERCOPY_BASE_DIRECT=0),
// which the umoci differential tests hold equal to umoci unpack.
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Pool } from '../../src/copy/pool.js';
import { type Progress, validateProvisionOptions } from '../../src/core/options.js';
import { Changes } from '../../src/core/rootless.js';
import { extractsDirect, extractTars, type TarInputs } from '../../src/images/extract-all.js';
import { provision } from '../../src/index.js';
import { buildLayer, diffSnapshots, isRoot, lstat, scratch, snapshot } from '../helpers.js';
import { type RawEntry, rawTar, tarDir } from './fixtures.js';

const T = 1_600_000_000;
const leftovers = (dir: string) => fs.readdirSync(dir).filter((n) => n.includes('layercopy'));

afterEach(() => {
  delete process.env.LAYERCOPY_BASE_DIRECT;
});

/** Provisions the tars (lowest first) with the base straight into the rootfs (`1`) and through scratch (`0`); both trees' snapshots and summaries. */
async function both(dir: string, tars: Buffer[]) {
  const files = tars.map((tar, i) => {
    const file = path.join(dir, `l${i}.tar`);
    fs.writeFileSync(file, tar);
    return file;
  });
  const run = async (mode: '0' | '1') => {
    process.env.LAYERCOPY_BASE_DIRECT = mode;
    const root = path.join(dir, `root${mode}`);
    const summary = await provision(files, root);
    return { summary, tree: snapshot(root, { atime: false }), root };
  };
  const base = await run('1');
  const planned = await run('0');
  return { base, planned, diff: diffSnapshots(planned.tree, base.tree) };
}

/** A base with what the layers above hide, replace and merge into: ns times, owners, xattrs, a hardlink group. */
function richBase(dir: string): Buffer {
  const src = buildLayer(path.join(dir, 'base'), {
    'usr/': { dir: true, mode: 0o750, mtime: [1_000_000_000, 5], uid: 5, gid: 6 },
    'usr/bin/': { dir: true, mode: 0o711, mtime: [1_000_000_100, 7], xattrs: { 'user.dir': 'd' } },
    'usr/bin/old': { file: 'old', mtime: [1_000_000_100, 9] },
    'usr/bin/tool': { file: 'tool v1', mode: 0o755 },
    'usr/bin/alias': { link: 'usr/bin/tool' },
    'etc/': { dir: true, mode: 0o755, mtime: [1_000_000_300, 11] },
    'etc/gone': 'whited out above',
    'etc/conf.d/': { dir: true, mode: 0o700, mtime: [1_000_000_400, 13] },
    'etc/conf.d/a': 'opaque hides me',
    'was-file': 'becomes a directory',
    'was-dir/': { dir: true },
    'was-dir/x': 'becomes a file',
    'keep/deep/f': { file: 'kept', mtime: [1_000_000_500, 15] },
  });
  fs.utimesSync(src, 1_000_000_600, 1_000_000_600);
  return tarDir(src);
}

/** Above it: no "./" and no usr/ or usr/bin/ header (implied: the base's metadata stays), a whiteout, an opaque marker, kind changes, a new hardlink group. */
const upper: RawEntry[] = [
  { name: 'usr/bin/tool', data: 'tool v2', mode: 0o755, mtime: T },
  { name: 'usr/bin/new', data: 'new', mtime: T },
  { name: 'usr/bin/new-link', type: '1', linkname: 'usr/bin/new' },
  { name: 'etc/', type: '5', mode: 0o755, mtime: T },
  { name: 'etc/.wh.gone', data: '', mtime: T },
  { name: 'etc/conf.d/.wh..wh..opq', data: '', mtime: T },
  { name: 'etc/conf.d/b', data: 'b', mtime: T },
  { name: 'was-file/', type: '5', mode: 0o755, mtime: T },
  { name: 'was-file/in', data: 'in', mtime: T },
  { name: 'was-dir', data: 'a file now', mtime: T },
  // Made by this layer, with headers: an implied one would take the time it is made at, in either run.
  { name: 'opt/', type: '5', mode: 0o755, mtime: T },
  { name: 'opt/app/', type: '5', mode: 0o755, mtime: T },
  { name: 'opt/app/run', data: 'run', mode: 0o755, mtime: T },
];

describe('a tar base under other layers, straight into the rootfs', () => {
  it.runIf(isRoot)('equals the planned path: tree, ns times, modes, owners, xattrs, hardlinks [needs root: the base goes straight in only as root]', async () => {
    const dir = scratch();
    const { base, diff } = await both(dir, [richBase(dir), rawTar(upper), rawTar([{ name: 'etc/motd', data: 'hi', mtime: T }])]);
    expect(diff).toEqual([]);
    expect(fs.readFileSync(path.join(base.root, 'usr/bin/alias'), 'utf8')).toBe('tool v1');
    expect(fs.readFileSync(path.join(base.root, 'usr/bin/tool'), 'utf8')).toBe('tool v2');
    expect(fs.readdirSync(path.join(base.root, 'etc/conf.d'))).toEqual(['b']);
    expect(fs.existsSync(path.join(base.root, 'etc/gone'))).toBe(false);
  });

  it.runIf(isRoot)("a directory of the base that a layer above writes into without a header keeps the base's metadata, its ns times too [needs root: as above]", async () => {
    const dir = scratch();
    const { base, diff } = await both(dir, [richBase(dir), rawTar(upper)]);
    expect(diff).toEqual([]);
    const usr = lstat(path.join(base.root, 'usr'));
    const bin = lstat(path.join(base.root, 'usr/bin'));
    expect([Number(usr.mode & 0o7777n), usr.mtimeNs, usr.uid, usr.gid]).toEqual([0o750, 1_000_000_000_000_000_005n, 5n, 6n]);
    expect([Number(bin.mode & 0o7777n), bin.mtimeNs]).toEqual([0o711, 1_000_000_100_000_000_007n]);
    // The root: no layer above has a "./" entry.
    expect(lstat(base.root).mtimeNs).toBe(1_000_000_600_000_000_000n);
  });

  it.runIf(isRoot)('a base hardlink whose target a layer above hides is read again with every file: the same tree [needs root: as above]', async () => {
    const dir = scratch();
    const baseTar = rawTar([
      { name: './', type: '5', mode: 0o755, mtime: T },
      { name: 'f', data: 'shared', mtime: T },
      { name: 'g', type: '1', linkname: 'f' },
      { name: 'pad', data: 'x'.repeat(8192), mtime: T },
    ]);
    const { base, diff } = await both(dir, [baseTar, rawTar([{ name: 'f', data: 'replaced', mtime: T }])]);
    expect(diff).toEqual([]);
    expect(fs.readFileSync(path.join(base.root, 'g'), 'utf8')).toBe('shared');
    expect(fs.readFileSync(path.join(base.root, 'f'), 'utf8')).toBe('replaced');
  });

  it.runIf(isRoot)(
    'a base that replaces one of its own directories is read again through scratch while the layer above goes on: the same tree, nothing left [needs root: as above]',
    async () => {
      const dir = scratch();
      const baseTar = rawTar([
        { name: './', type: '5', mode: 0o755, mtime: T },
        { name: 'a/', type: '5', mode: 0o755, mtime: T },
        { name: 'a/b', data: 'b', mtime: T },
        { name: 'a', data: 'now a file', mtime: T },
        { name: 'pad', data: 'x'.repeat(8192), mtime: T },
      ]);
      const { base, diff } = await both(dir, [baseTar, rawTar([{ name: 'c', data: 'c', mtime: T }])]);
      expect(diff).toEqual([]);
      expect(fs.readFileSync(path.join(base.root, 'a'), 'utf8')).toBe('now a file');
      expect(leftovers(dir)).toEqual([]);
    },
  );

  it.runIf(isRoot)('the base counts what it wrote, a file a layer above hides included (its size given, no data): the same every run [needs root: as above]', async () => {
    const dir = scratch();
    // The base's hidden file comes after 4 MiB, long after the layer above has named it.
    const baseTar = rawTar([
      { name: './', type: '5', mode: 0o755, mtime: T },
      { name: 'pad', data: Buffer.alloc(4 << 20, 1), mtime: T },
      { name: 'hidden', data: 'x'.repeat(5000), mtime: T },
      { name: 'kept', data: 'kept', mtime: T },
    ]);
    const { base, diff } = await both(dir, [baseTar, rawTar([{ name: '.wh.hidden', data: '', mtime: T }])]);
    expect(diff).toEqual([]);
    expect(base.summary.perLayer[0]).toMatchObject({ entries: 3, bytes: (4 << 20) + 5000 + 4 });
    expect(fs.readdirSync(base.root).sort()).toEqual(['kept', 'pad']);
  });

  it.runIf(isRoot)(
    'a layer above counts what it wrote, a file a higher layer hides included, as the layered strategy counts it: the same every run [needs root: as above]',
    async () => {
      const dir = scratch();
      // The middle layer's hidden file comes after 16 MiB, long after the top layer has named it (after 4 MiB, sometimes before: then it had its data).
      const middle = rawTar([
        { name: 'pad', data: Buffer.alloc(16 << 20, 1), mtime: T },
        { name: 'hidden', data: 'x'.repeat(5000), mtime: T },
      ]);
      const tars = [
        rawTar([
          { name: './', type: '5', mode: 0o755, mtime: T },
          { name: 'base', data: Buffer.alloc(8 << 20, 2), mtime: T },
        ]),
        middle,
        rawTar([{ name: '.wh.hidden', data: '', mtime: T }]),
      ];
      const { base, diff } = await both(dir, tars);
      expect(diff).toEqual([]);
      const layered = await provision(
        tars.map((_, i) => path.join(dir, `l${i}.tar`)),
        path.join(dir, 'layered'),
        { strategy: 'layered' },
      );
      expect(layered.perLayer[1]).toMatchObject({ entries: 2, bytes: (16 << 20) + 5000 });
      expect(base.summary.perLayer[1]).toMatchObject({ entries: 2, bytes: (16 << 20) + 5000 });
    },
  );

  it.runIf(isRoot)('progress ends with one "done" event whose totals equal the summary, the base\'s counts included [needs root: as above]', async () => {
    const dir = scratch();
    const files = [richBase(dir), rawTar(upper)].map((tar, i) => {
      const file = path.join(dir, `l${i}.tar`);
      fs.writeFileSync(file, tar);
      return file;
    });
    process.env.LAYERCOPY_BASE_DIRECT = '1';
    const events: Progress[] = [];
    const summary = await provision(files, path.join(dir, 'root'), { onProgress: (p) => events.push(p) });
    const last = events[events.length - 1];
    expect(events.filter((e) => e.phase === 'done')).toEqual([last]);
    expect([last.entries, last.bytes]).toEqual([summary.entries, summary.bytes]);
  });

  it.runIf(isRoot)('a bad entry in a layer above: the error names it, and no rootfs, staging or scratch is left [needs root: as above]', async () => {
    const dir = scratch();
    const files = [richBase(dir), rawTar([{ name: '../escape', data: 'x' }])].map((tar, i) => {
      const file = path.join(dir, `l${i}.tar`);
      fs.writeFileSync(file, tar);
      return file;
    });
    process.env.LAYERCOPY_BASE_DIRECT = '1';
    await expect(provision(files, path.join(dir, 'root'))).rejects.toMatchObject({ code: 'ERR_INVALID_TAR', message: expect.stringContaining('l1.tar') });
    expect(fs.existsSync(path.join(dir, 'root'))).toBe(false);
    expect(leftovers(dir)).toEqual([]);
  });
});

/** A staging and a scratch directory in `dir`, opened as a provision opens them; `close` closes them and the layers' fds. */
function extractionDirs(dir: string) {
  const open = (name: string) => {
    fs.mkdirSync(path.join(dir, name), { mode: 0o700 });
    return fs.openSync(path.join(dir, name), fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
  };
  const parentFd = fs.openSync(dir, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
  const staging = { parentFd, name: 'staging', fd: open('staging') };
  const scratchDir = { parentFd, name: 'scratch', fd: open('scratch') };
  const close = (layerFds: number[]) => {
    for (const fd of [...layerFds.filter((fd) => fd >= 0), staging.fd, scratchDir.fd, parentFd]) fs.closeSync(fd);
  };
  return { staging, scratchDir, close };
}

/** A real pool that holds back the direct extraction's reply until the other extractions have answered (and 50 ms more). */
class HoldingPool extends Pool {
  #others: Promise<unknown>[] = [];
  /** Resolves once the held reply has been handed back. */
  handedBack: Promise<void>;
  #release!: () => void;
  constructor() {
    super(2);
    this.handedBack = new Promise((resolve) => {
      this.#release = resolve;
    });
  }
  override async runModule<T extends object, R>(filename: string, task: T): Promise<R> {
    const reply = super.runModule<T, R>(filename, task);
    if (!(task as { direct?: boolean }).direct) {
      this.#others.push(reply.catch(() => undefined));
      return reply;
    }
    const held = await reply;
    await Promise.all(this.#others);
    await new Promise((resolve) => setTimeout(resolve, 50));
    setImmediate(this.#release);
    return held;
  }
}

describe('a direct extraction that must restart after another layer failed', () => {
  it.runIf(isRoot)('starts nothing: no scratch directory is made for it once the extraction has failed [needs root: the base goes straight in only as root]', async () => {
    const dir = scratch();
    const files = [
      // The base replaces one of its own directories: the direct reader asks for a restart.
      rawTar([
        { name: 'a/', type: '5', mode: 0o755, mtime: T },
        { name: 'a/b', data: 'b', mtime: T },
        { name: 'a', data: 'now a file', mtime: T },
        { name: 'pad', data: 'x'.repeat(8192), mtime: T },
      ]),
      rawTar([{ name: '../escape', data: 'x' }]),
    ].map((tar, i) => {
      const file = path.join(dir, `l${i}.tar`);
      fs.writeFileSync(file, tar);
      return file;
    });
    const { staging, scratchDir, close } = extractionDirs(dir);
    const pool = new HoldingPool();
    const opts = validateProvisionOptions({});
    const layerFds = [-1, -1];
    try {
      const run = extractTars({
        inputs: { rootfs: path.join(dir, 'root'), rootfsEmpty: true, layers: files.map((file, i) => ({ tar: { file, label: file }, source: { arg: file, argIndex: i } })) },
        scratch: scratchDir,
        staging,
        direct: 'base',
        layerFds,
        pool,
        cancel: new Int32Array(new SharedArrayBuffer(4)),
        shareClaims: true,
        maxDownloads: 1,
        abortPull: () => {},
        rootless: { policy: opts.policy, changes: new Changes() },
      });
      await expect(run).rejects.toMatchObject({ code: 'ERR_INVALID_TAR', layer: files[1] });
      const atFailure = fs.readdirSync(path.join(dir, 'scratch')).sort();
      await pool.handedBack;
      await new Promise((resolve) => setTimeout(resolve, 200));
      // The caller removes what was written as soon as the extraction fails: nothing may be started after that.
      expect(fs.readdirSync(path.join(dir, 'scratch')).sort()).toEqual(atFailure);
      expect(atFailure).not.toContain('0');
    } finally {
      await pool.close();
      close(layerFds);
    }
  });
});

describe('which base goes straight in (extractsDirect)', () => {
  const inputs = (...sizes: number[]): TarInputs => ({
    rootfs: '/r',
    rootfsEmpty: true,
    layers: sizes.map((size, i) => ({ tar: { file: `/nonexistent/${i}`, label: `l${i}`, size }, source: { arg: `l${i}`, argIndex: i } })),
  });
  const opts = validateProvisionOptions({});

  it('one tar layer: always', () => {
    expect(extractsDirect(inputs(10), opts)).toBe('one');
  });

  it.runIf(isRoot)('a base of at least the bytes of the tar layers above together [needs root: as above]', () => {
    expect(extractsDirect(inputs(100, 60, 40), opts)).toBe('base');
    expect(extractsDirect(inputs(100, 60, 41), opts)).toBeUndefined();
  });

  it('never with an ID map, the layered strategy, or LAYERCOPY_BASE_DIRECT=0', () => {
    expect(extractsDirect(inputs(100, 1), validateProvisionOptions({ strategy: 'layered' }))).toBeUndefined();
    expect(extractsDirect(inputs(100, 1), validateProvisionOptions({ idMap: { uid: [{ containerID: 0, hostID: 100000, size: 65536 }] } }))).toBeUndefined();
    process.env.LAYERCOPY_BASE_DIRECT = '0';
    expect(extractsDirect(inputs(100, 1), opts)).toBeUndefined();
  });
});

describe('a download that fails at once', () => {
  it("is the extraction's failure, told once (not an unhandled rejection while the requests go out)", async () => {
    const dir = scratch();
    const { staging, scratchDir, close } = extractionDirs(dir);
    const pool = new Pool(2);
    const opts = validateProvisionOptions({});
    const layerFds = [-1, -1];
    const refused = Object.assign(new Error('the registry refused the blob'), { code: 'ERR_REGISTRY' });
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => unhandled.push(reason);
    process.on('unhandledRejection', onUnhandled);
    try {
      const run = extractTars({
        inputs: {
          rootfs: path.join(dir, 'root'),
          rootfsEmpty: true,
          layers: [0, 1].map((i) => ({
            tar: { file: '', label: `blob ${i}`, digest: `sha256:${String(i).repeat(64)}`, size: 10 },
            source: { arg: 'docker://example/image', argIndex: 0 },
            // Rejects before any byte, as a request refused before it is sent (an aborted pull) does.
            download: async () => {
              throw refused;
            },
          })),
        },
        scratch: scratchDir,
        staging,
        direct: undefined,
        layerFds,
        pool,
        cancel: new Int32Array(new SharedArrayBuffer(4)),
        shareClaims: true,
        maxDownloads: 2,
        abortPull: () => {},
        rootless: { policy: opts.policy, changes: new Changes() },
      });
      await expect(run).rejects.toBe(refused);
      await new Promise((resolve) => setTimeout(resolve, 50));
      expect(unhandled).toEqual([]);
    } finally {
      process.off('unhandledRejection', onUnhandled);
      await pool.close();
      close(layerFds);
    }
  });
});
