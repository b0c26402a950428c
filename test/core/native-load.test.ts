// Which build of the native helper loads, and through what: every CLI run
// pays for it before anything else happens.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { scratch } from '../helpers.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const probe = `const { native } = require(${JSON.stringify(path.join(root, 'dist/src/core/native.cjs'))});
native.hasOpenat2();
const loaded = Object.keys(require.cache);
console.log(JSON.stringify({ gypBuild: loaded.some((f) => f.includes('node-gyp-build')), helper: loaded.filter((f) => f.endsWith('.node')) }));`;

describe('native helper loading', () => {
  it('takes the local build/Release straight, without requiring node-gyp-build', async () => {
    const env = { LAYERCOPY_NATIVE: '', LAYERCOPY_PREBUILD: '', PREBUILDS_ONLY: '' };
    const r = await execa('node', ['-e', probe], { env });
    expect(JSON.parse(r.stdout)).toEqual({ gypBuild: false, helper: [path.join(root, 'build/Release/layercopy_native.node')] });
  });

  it('leaves the choice to node-gyp-build where LAYERCOPY_PREBUILD names another directory', async () => {
    const elsewhere = scratch();
    const r = await execa('node', ['-e', probe], { env: { LAYERCOPY_NATIVE: '', LAYERCOPY_PREBUILD: elsewhere, PREBUILDS_ONLY: '' }, reject: false });
    // Nothing built there: node-gyp-build says so on the first use, naming the directory it searched.
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toContain('native helper could not be loaded (No native build was found');
    expect(r.stderr).toContain(`loaded from: ${elsewhere}`);
  });

  it('a CLI run without it fails as docs/errors.md says: one line naming npm rebuild, exit 1, the error object with --json', async () => {
    const env = { LAYERCOPY_NATIVE: '', LAYERCOPY_PREBUILD: scratch(), PREBUILDS_ONLY: '' };
    const dir = scratch();
    const r = await execa('node', [path.join(root, 'dist/src/cli.js'), 'provision', '--json', dir, path.join(scratch(), 'root')], { env, reject: false });
    expect(r.exitCode).toBe(1);
    expect(r.stderr.split('\n')).toEqual([expect.stringMatching(/^layercopy: layercopy's native helper could not be loaded \(.*`npm rebuild layercopy`/)]);
    expect(JSON.parse(r.stdout).error.code).toBe('ERR_NATIVE_HELPER');
  });
});
