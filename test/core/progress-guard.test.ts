import { execFile } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import zlib from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { provision } from '../../src/index.js';
import { scratch } from '../helpers.js';
import { ociImage, rawTar } from '../images/fixtures.js';

// The built library (npm test builds dist first), in a process of its own:
// what is checked is that the process ends, as a runtime embedding it would.
const index = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../dist/src/index.js');

/** Runs `call` (an expression over `onProgress`, which throws on the first event of `phase`) in a child; gives its outcome line and exit status. */
function child(call: string, phase: string): Promise<{ line: string; code: number | null }> {
  const script = `
    import * as lc from ${JSON.stringify(index)};
    const onProgress = (p) => { if (p.phase === ${JSON.stringify(phase)}) throw new Error('boom'); };
    try { await ${call}; console.log('resolved'); }
    catch (e) { console.log(JSON.stringify({ code: e.code, message: e.message, cause: e.cause?.message })); }`;
  return new Promise((resolve) => {
    execFile(process.execPath, ['--input-type=module', '-e', script], { timeout: 30_000 }, (error, stdout) => {
      resolve({ line: stdout.trim(), code: error ? ((error as { code?: number }).code ?? null) : 0 });
    });
  });
}

/** Two gzip tarballs: extracted at once, their bytes reported by a timer. */
function tarballs(dir: string): string[] {
  return [0, 1].map((i) => {
    const file = path.join(dir, `l${i}.tgz`);
    fs.writeFileSync(file, zlib.gzipSync(rawTar([{ name: `f${i}`, data: crypto.randomBytes(1 << 20).toString('latin1') }])));
    return file;
  });
}

/** The two tarballs provisioned in a child whose onProgress throws on the first event of `phase`. */
async function provisionThrowingOn(phase: string) {
  const dir = scratch();
  const layers = tarballs(dir);
  const root = path.join(dir, 'root');
  const r = await child(`lc.provision(${JSON.stringify(layers)}, ${JSON.stringify(root)}, { onProgress })`, phase);
  return { dir, root, r };
}

describe('an onProgress that throws', () => {
  it('in an extraction (a timer calls it): the provision fails with it as cause, the process ends, nothing is left', async () => {
    const { dir, root, r } = await provisionThrowingOn('extract');
    // Before: the interval and the claims table were left running, and the process never ended (killed at the timeout).
    expect(r.code).toBe(0);
    expect(JSON.parse(r.line)).toEqual({ code: 'ERR_SYSTEM', message: `provision ${root}: options.onProgress threw: boom`, cause: 'boom' });
    expect(fs.readdirSync(dir).sort()).toEqual(['l0.tgz', 'l1.tgz']);
  });

  it("on the 'done' event: the provision fails saying so, and the rootfs, committed before it, stays", async () => {
    const { root, r } = await provisionThrowingOn('done');
    expect(r.code).toBe(0);
    expect(JSON.parse(r.line)).toMatchObject({
      code: 'ERR_SYSTEM',
      message: `provision ${root}: options.onProgress threw after the work was committed (what was made stays): boom`,
    });
    expect(fs.readdirSync(root).sort()).toEqual(['f0', 'f1']);
  });

  it('in a pull into a store: the pull fails with it as cause, the process ends', async () => {
    const dir = scratch();
    const layout = ociImage(path.join(dir, 'img'), {
      layers: [0, 1].map((i) => rawTar([{ name: `f${i}`, data: crypto.randomBytes(1 << 20).toString('latin1') }])),
    });
    const store = path.join(dir, 'store');
    const r = await child(`lc.pull(${JSON.stringify(`oci:${layout}:latest`)}, { store: ${JSON.stringify(store)}, onProgress })`, 'extract');
    // Before: the timer's throw was uncaught, exit 1 before the pull's own rejection was seen.
    expect(r.code).toBe(0);
    expect(JSON.parse(r.line)).toMatchObject({ code: 'ERR_SYSTEM', message: expect.stringContaining('options.onProgress threw: boom'), cause: 'boom' });
  });

  it('on the last bytes of a lone tarball (extracted straight into the staging directory): nothing committed, nothing left', async () => {
    const dir = scratch();
    const file = tarballs(dir)[0];
    const root = path.join(dir, 'root');
    const script = `(p) => { if (p.phase === 'extract' && p.read === p.size) throw new Error('boom'); }`;
    const r = await child(`lc.provision([${JSON.stringify(file)}], ${JSON.stringify(root)}, { onProgress: ${script} })`, 'never');
    // Before: the direct path committed after the callback's abort, and the error said nothing of it.
    expect(JSON.parse(r.line)).toEqual({ code: 'ERR_SYSTEM', message: `provision ${root}: options.onProgress threw: boom`, cause: 'boom' });
    expect(fs.readdirSync(dir).sort()).toEqual(['l0.tgz', 'l1.tgz']);
  });

  it('a thrown value String() cannot convert, and options that inherit their fields: still a LayercopyError, the options kept', async () => {
    const dir = scratch();
    const layers = tarballs(dir);
    const odd = await provision(layers, path.join(dir, 'odd'), {
      onProgress: () => {
        throw Object.create(null);
      },
    }).catch((e) => e);
    expect(odd).toMatchObject({ code: 'ERR_SYSTEM', message: expect.stringContaining('options.onProgress threw: a value that is no Error') });
    const inherited = Object.create({ strategy: 'layered' });
    inherited.onProgress = () => undefined;
    expect((await provision(layers, path.join(dir, 'inherited'), inherited)).strategy).toBe('layered');
  });
});
