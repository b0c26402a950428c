// Faults: sources that change under the copy, workers that throw or die,
// unreadable sources and non-root runs (docs/reliability.md).
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Pool } from '../src/copy/pool.js';
import { provisionWith } from '../src/provision.js';
import { buildLayer, diffSnapshots, exists, nobodyCanRun, provisionWhileChanging, scratch, snapshot } from './helpers.js';

const cli = fileURLToPath(new URL('../dist/src/cli.js', import.meta.url));
const faultyWorker = new URL('./fixtures/faulty-worker.cjs', import.meta.url).href;
const leftovers = (dir: string) => fs.readdirSync(dir).filter((n) => n.includes('layercopy') || n === 'root');

function manyFiles(n: number): Record<string, string> {
  return Object.fromEntries(Array.from({ length: n }, (_, i) => [`f${String(i).padStart(3, '0')}`, `content ${i}`]));
}

describe('sources that change between planning and copying', () => {
  it('a file removed after planning: ENOENT naming the layer file, no rootfs, no staging', async () => {
    const dir = scratch();
    const l1 = buildLayer(path.join(dir, 'l1'), manyFiles(40));
    const error = await provisionWhileChanging(l1, path.join(dir, 'root'), () => {
      for (const name of fs.readdirSync(l1)) fs.rmSync(path.join(l1, name));
    });
    expect(error).toMatchObject({ code: 'ENOENT', syscall: 'open', layer: l1, layerIndex: 0 });
    expect(error.message).toMatch(new RegExp(`^layer 1 \\(${l1}\\): copy ${l1}/f\\d+: open failed: ENOENT`));
    expect(leftovers(dir)).toEqual([]);
  });

  it('a file turned into a symlink after planning: ERR_SOURCE_CHANGED, never followed', async () => {
    const dir = scratch();
    const l1 = buildLayer(path.join(dir, 'l1'), manyFiles(40));
    fs.writeFileSync(path.join(dir, 'secret'), 'host secret');
    const error = await provisionWhileChanging(l1, path.join(dir, 'root'), () => {
      for (const name of fs.readdirSync(l1)) {
        fs.rmSync(path.join(l1, name));
        fs.symlinkSync(path.join(dir, 'secret'), path.join(l1, name));
      }
    });
    expect(error).toMatchObject({ code: 'ERR_SOURCE_CHANGED', layer: l1 });
    expect(error.message).toMatch(/the source changed while it was being copied/);
    expect(leftovers(dir)).toEqual([]);
  });
});

describe('workers that fail', () => {
  const saved = process.env.LAYERCOPY_FAULT;
  afterAll(() => {
    if (saved === undefined) delete process.env.LAYERCOPY_FAULT;
    else process.env.LAYERCOPY_FAULT = saved;
  });

  it.each(['throw', 'exit'])('a worker that %ss mid-batch fails that provision cleanly; others on the pool finish; the pool recovers', async (kind) => {
    const dir = scratch();
    // Workers read LAYERCOPY_FAULT when they start: set it before the pool exists.
    // The thread exits once the provision beside it has ended (test/fixtures/faulty-worker.cjs).
    const ended = path.join(dir, 'ok1-ended');
    process.env.LAYERCOPY_FAULT = `${kind}:boom:${ended}`;
    const pool = new Pool(2, faultyWorker);
    const backend = { provision: (layers: string[], rootfs: string, options = {}) => provisionWith(pool, layers, rootfs, options), close: () => pool.close() };
    try {
      const good = buildLayer(path.join(dir, 'good'), manyFiles(30));
      const bad = buildLayer(path.join(dir, 'bad'), { ...manyFiles(30), 'sub/boom': 'x' });
      const [ok, failed] = await Promise.allSettled([
        backend.provision([good], path.join(dir, 'ok1'), { batchSize: 4 }).finally(() => fs.writeFileSync(ended, '')),
        backend.provision([good, bad], path.join(dir, 'failed'), { batchSize: 4 }),
      ]);
      expect(ok.status).toBe('fulfilled');
      expect(failed.status).toBe('rejected');
      const error = (failed as PromiseRejectedResult).reason;
      expect(error).toMatchObject({ code: 'ERR_WORKER', layer: bad, layerIndex: 1 });
      expect(error.message).toMatch(/^layer 2 .*: copy: worker failed: /);
      expect(error.cause).toBeInstanceOf(Error);
      expect(exists(path.join(dir, 'failed'))).toBe(false);
      expect(fs.readdirSync(dir).filter((n) => n.includes('.layercopy-'))).toEqual([]);
      // The same pool keeps working afterwards.
      await backend.provision([good], path.join(dir, 'ok2'), { batchSize: 4 });
      expect(diffSnapshots(snapshot(path.join(dir, 'ok1')), snapshot(path.join(dir, 'ok2')))).toEqual([]);
    } finally {
      await backend.close();
      delete process.env.LAYERCOPY_FAULT;
    }
  });
});

describe.runIf(nobodyCanRun)('non-root runs (setpriv --reuid=nobody) [needs root, and a checkout user nobody can read: not under a 0700 directory]', () => {
  let dir: string;
  const asNobody = (cmd: string, args: string[]) => execa('setpriv', ['--reuid=nobody', '--regid=nogroup', '--clear-groups', cmd, ...args], { reject: false });
  beforeAll(() => {
    dir = scratch();
    fs.chmodSync(dir, 0o777);
  });

  it('an unreadable source file is a clear EACCES error, exit 1, no rootfs', async () => {
    const l1 = buildLayer(path.join(dir, 'secret-layer'), { 'etc/shadow': { file: 'x', mode: 0o000 }, 'etc/ok': 'ok' });
    const r = await asNobody('node', [cli, 'provision', l1, path.join(dir, 'secret-root')]);
    expect(r.exitCode).toBe(1);
    expect(r.stderr.trim()).toMatch(new RegExp(`^layercopy: layer 1 \\(${l1}\\): copy ${l1}/etc/shadow: open failed: EACCES`));
    expect(fs.readdirSync(dir).filter((n) => n.includes('secret-root'))).toEqual([]);
  });

  it('a layer behind a directory the user may not enter is EACCES, exit 1 (not a usage error), as a tarball or an image there is', async () => {
    const priv = path.join(dir, 'priv');
    buildLayer(path.join(priv, 'l'), { a: 'a' });
    fs.chmodSync(priv, 0o700);
    const r = await asNobody('node', [cli, 'provision', '--json', path.join(priv, 'l'), path.join(dir, 'priv-root')]);
    expect(r.exitCode).toBe(1);
    expect(JSON.parse(r.stdout).error).toMatchObject({ code: 'EACCES', layerIndex: 0, message: `layer 1 (${path.join(priv, 'l')}): cannot read: EACCES (permission denied)` });
    expect(fs.readdirSync(dir).filter((n) => n.includes('priv-root'))).toEqual([]);
  });

  it('destroy removes a tree with read-only directories as its owner, never touching link targets', async () => {
    const host = buildLayer(path.join(dir, 'host'), { keep: 'k' });
    const before = snapshot(host);
    const tree = buildLayer(path.join(dir, 'ro-tree'), {
      'a/b/c': { file: 'x', mode: 0o444, uid: 65534 },
      'a/b': { dir: true, mode: 0o555, uid: 65534 },
      a: { dir: true, mode: 0o555, uid: 65534 },
      out: { symlink: host, uid: 65534 },
    });
    fs.chownSync(tree, 65534, 65534);
    const r = await asNobody('node', [cli, 'destroy', tree]);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(exists(tree)).toBe(false);
    expect(diffSnapshots(before, snapshot(host))).toEqual([]);
  });
});
