import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { extraCaCerts, MOVED_CA, MOVED_TUNABLES, restoreCommandEnv } from '../../src/core/command-env.js';
import { scratch } from '../helpers.js';

describe('the environment the layercopy command changed, restored for child processes', () => {
  it('puts NODE_EXTRA_CA_CERTS back and reads the file on first use, once', () => {
    const file = path.join(scratch(), 'ca.pem');
    fs.writeFileSync(file, '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n');
    const env: NodeJS.ProcessEnv = { [MOVED_CA]: file };
    restoreCommandEnv(env);
    expect(env).toEqual({ NODE_EXTRA_CA_CERTS: file });
    expect(extraCaCerts()).toBe(fs.readFileSync(file, 'utf8'));
    fs.rmSync(file);
    expect(extraCaCerts()).toMatch(/^-----BEGIN CERTIFICATE-----/);
  });

  it('leaves alone a NODE_EXTRA_CA_CERTS Node was started with (Node read it then)', () => {
    const env: NodeJS.ProcessEnv = { [MOVED_CA]: '/moved.pem', NODE_EXTRA_CA_CERTS: '/given.pem' };
    restoreCommandEnv(env);
    expect(env).toEqual({ NODE_EXTRA_CA_CERTS: '/given.pem' });
  });

  it('a CA file that cannot be read is warned of, as Node does, and passed over', async () => {
    const missing = path.join(scratch(), 'none.pem');
    restoreCommandEnv({ [MOVED_CA]: missing });
    const warned = new Promise<Error>((resolve) => process.once('warning', resolve));
    expect(extraCaCerts()).toBeUndefined();
    expect((await warned).message).toBe(`Ignoring extra certs from \`${missing}\`, load failed: ENOENT: no such file or directory, open '${missing}'`);
  });

  it('GLIBC_TUNABLES as it was given: its value, or unset where it was empty or unset', () => {
    const given: NodeJS.ProcessEnv = { [MOVED_TUNABLES]: 'glibc.malloc.arena_max=2', GLIBC_TUNABLES: 'glibc.malloc.arena_max=2:glibc.malloc.hugetlb=1' };
    restoreCommandEnv(given);
    expect(given).toEqual({ GLIBC_TUNABLES: 'glibc.malloc.arena_max=2' });
    const unset: NodeJS.ProcessEnv = { [MOVED_TUNABLES]: '', GLIBC_TUNABLES: 'glibc.malloc.hugetlb=1' };
    restoreCommandEnv(unset);
    expect(unset).toEqual({});
  });
});
