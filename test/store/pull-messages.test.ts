// What pull says where the words of the code below it would mislead: an
// interrupt names the pull, and a path given without its transport gets
// the transport it most likely needed.
import fs from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { pull } from '../../src/index.js';
import { testImage } from '../fixtures/registry.js';
import { scratch } from '../helpers.js';
import { cli } from '../registry/pull-helpers.js';
import { held } from './helpers.js';

const run = (args: string[]) => execa('node', [cli, ...args], { reject: false });

describe('pull messages', () => {
  it('SIGINT during a pull: exit 130, and the message names the pull, not a provision', async () => {
    const dir = scratch();
    const image = testImage(path.join(dir, 'img'), { layers: 3, sizeMb: 8, seed: 91 });
    const store = path.join(dir, 'store');
    const child = execa('node', [cli, 'pull', '--store', store, '--concurrency', '1', image], { reject: false });
    const deadline = Date.now() + 20_000;
    while (held(store).tmp.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 2));
    child.kill('SIGINT');
    const r = await child;
    expect([r.exitCode, r.stderr]).toEqual([130, `layercopy: pull ${image} aborted`]);
  });

  it('an OCI layout given without oci: is answered "did you mean oci:DIR?" (exit 2)', async () => {
    const dir = scratch();
    const image = testImage(path.join(dir, 'img'), { layers: 1, sizeMb: 1, seed: 92 });
    const layout = image.slice(4, image.lastIndexOf(':'));
    const r = await run(['pull', '--store', path.join(dir, 'store'), layout]);
    expect([r.exitCode, r.stderr]).toEqual([
      2,
      `layercopy: pull ${layout}: not an image reference (docker://…, oci:…, oci-archive:…, docker-archive:…); did you mean oci:${layout}?`,
    ]);
  });

  it('a directory that is no OCI layout: the question, and that it is a layer for provision', async () => {
    const dir = scratch();
    fs.mkdirSync(path.join(dir, 'files'));
    const r = await run(['pull', '--store', path.join(dir, 'store'), path.join(dir, 'files')]);
    expect(r.stderr).toContain(`did you mean oci:${path.join(dir, 'files')}? (it holds no oci-layout file: a directory of files is a layer, for provision, not an image to pull)`);
  });

  it('a file given without a transport: did you mean oci-archive: or docker-archive:', async () => {
    const dir = scratch();
    const file = path.join(dir, 'image.tar');
    fs.writeFileSync(file, '');
    const r = await run(['pull', '--store', path.join(dir, 'store'), file]);
    expect(r.stderr).toContain(`did you mean oci-archive:${file} or docker-archive:${file}?`);
  });
});

describe('pull of a registry image given without docker://', () => {
  it('HOST:PORT/REPO:TAG that is no path: did you mean docker://HOST:PORT/REPO:TAG? (exit 2, no store made)', async () => {
    const dir = scratch();
    const store = path.join(dir, 'store');
    const r = await execa('node', [cli, 'pull', '--store', store, '127.0.0.1:5000/app:1'], { reject: false, cwd: dir });
    expect([r.exitCode, r.stderr]).toEqual([
      2,
      'layercopy: pull 127.0.0.1:5000/app:1: not an image reference (docker://…, oci:…, oci-archive:…, docker-archive:…); did you mean docker://127.0.0.1:5000/app:1?',
    ]);
    expect(fs.existsSync(store)).toBe(false);
  });

  it("an invalid docker:// reference is named as the pull's, not as a provision's layer 1 (exit 2, no store made)", async () => {
    const store = path.join(scratch(), 'store');
    const r = await run(['pull', '--store', store, 'docker://127.0.0.1:5000/Bad/Name:1']);
    expect([r.exitCode, r.stderr]).toEqual([2, 'layercopy: pull (docker://127.0.0.1:5000/Bad/Name:1): repository name must be lowercase ("Bad/Name")']);
    expect(fs.existsSync(store)).toBe(false);
  });

  it('from the library, the same error names the reference and no layer index', async () => {
    const store = path.join(scratch(), 'store');
    const r = await pull('docker://127.0.0.1:5000/Bad/Name:1', { store }).catch((e) => e);
    expect(r).toMatchObject({
      code: 'ERR_INVALID_ARGUMENT',
      layer: 'docker://127.0.0.1:5000/Bad/Name:1',
      message: 'pull (docker://127.0.0.1:5000/Bad/Name:1): repository name must be lowercase ("Bad/Name")',
    });
    expect(r.layerIndex).toBeUndefined();
    expect(fs.existsSync(store)).toBe(false);
  });
});
