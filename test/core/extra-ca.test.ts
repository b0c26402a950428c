import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { extraCaCerts, MOVED, takeMovedExtraCa } from '../../src/core/extra-ca.js';
import { scratch } from '../helpers.js';

describe('extra CAs deferred by the layercopy command', () => {
  it('puts NODE_EXTRA_CA_CERTS back for child processes and reads the file on first use, once', () => {
    const file = path.join(scratch(), 'ca.pem');
    fs.writeFileSync(file, '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n');
    const env: NodeJS.ProcessEnv = { [MOVED]: file };
    takeMovedExtraCa(env);
    expect(env).toEqual({ NODE_EXTRA_CA_CERTS: file });
    expect(extraCaCerts()).toBe(fs.readFileSync(file, 'utf8'));
    fs.rmSync(file);
    expect(extraCaCerts()).toMatch(/^-----BEGIN CERTIFICATE-----/);
  });

  it('leaves alone a NODE_EXTRA_CA_CERTS Node was started with (Node read it then)', () => {
    const env: NodeJS.ProcessEnv = { [MOVED]: '/moved.pem', NODE_EXTRA_CA_CERTS: '/given.pem' };
    takeMovedExtraCa(env);
    expect(env).toEqual({ NODE_EXTRA_CA_CERTS: '/given.pem' });
  });

  it('a file that cannot be read is warned of, as Node does, and passed over', async () => {
    const missing = path.join(scratch(), 'none.pem');
    takeMovedExtraCa({ [MOVED]: missing });
    const warned = new Promise<Error>((resolve) => process.once('warning', resolve));
    expect(extraCaCerts()).toBeUndefined();
    expect((await warned).message).toBe(`Ignoring extra certs from \`${missing}\`, load failed: ENOENT: no such file or directory, open '${missing}'`);
  });
});
