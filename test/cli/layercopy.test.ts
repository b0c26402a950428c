// The command npm links (dist/src/layercopy, from src/cli/layercopy.sh).
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { buildLayer, scratch } from '../helpers.js';

const command = fileURLToPath(new URL('../../dist/src/layercopy', import.meta.url));

/** The command linked as npm links it: node_modules/.bin/layercopy, a relative symlink. */
function linked(): string {
  const bin = path.join(scratch(), 'node_modules/.bin');
  fs.mkdirSync(bin, { recursive: true });
  fs.symlinkSync(path.relative(bin, command), path.join(bin, 'layercopy'));
  return path.join(bin, 'layercopy');
}

describe('the layercopy command', () => {
  it('runs the CLI beside the file its link leads to, with every argument as given', async () => {
    const dir = scratch();
    const layer = buildLayer(path.join(dir, 'a layer'), { 'etc/motd': 'hi' });
    const r = await execa(linked(), ['provision', '--quiet', layer, path.join(dir, 'the root')], { reject: false });
    expect([r.exitCode, r.stderr]).toEqual([0, '']);
    expect(fs.readFileSync(path.join(dir, 'the root/etc/motd'), 'utf8')).toBe('hi');
  });

  it('passes the exit status on: a usage error is 2', async () => {
    const r = await execa(linked(), ['provision', '--concurrency', '0', 'a', 'b'], { reject: false });
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toMatch(/^layercopy: --concurrency /);
  });

  it('starts Node without NODE_EXTRA_CA_CERTS, which the CLI sets again for what it runs', async () => {
    const dir = scratch();
    // What Node is started with, seen before the CLI runs (a preload), and what a child process of the CLI's gets (a credential helper).
    const preload = path.join(dir, 'seen.cjs');
    fs.writeFileSync(
      preload,
      `require('fs').writeFileSync(${JSON.stringify(path.join(dir, 'start'))}, JSON.stringify([process.env.NODE_EXTRA_CA_CERTS, process.env.LAYERCOPY_EXTRA_CA_CERTS]))`,
    );
    const r = await execa(linked(), ['--version'], { reject: false, env: { NODE_EXTRA_CA_CERTS: '/etc/some-ca.pem', NODE_OPTIONS: `--require ${preload}` } });
    expect(r.exitCode, r.stderr).toBe(0);
    expect(JSON.parse(fs.readFileSync(path.join(dir, 'start'), 'utf8'))).toEqual([null, '/etc/some-ca.pem']);
  });
});
