import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { coversImageIds, isIdentityMap, resolveRootless } from '../../src/core/rootless.js';
import { provision } from '../../src/index.js';
import { cli } from '../rootless-fixtures.js';

describe('the defaults from this process ID maps', () => {
  it('IDs 0-65535 are covered by one range or by several that join', () => {
    expect(coversImageIds([[0, 0, 4294967295]])).toBe(true);
    expect(coversImageIds([[0, 100000, 65536]])).toBe(true);
    expect(
      coversImageIds([
        [1, 100000, 65536],
        [0, 1000, 1],
      ]),
    ).toBe(true);
  });

  it('one ID (unshare -r), or a gap, is not covered', () => {
    expect(coversImageIds([[0, 65534, 1]])).toBe(false);
    expect(
      coversImageIds([
        [0, 1000, 1],
        [2, 100000, 65536],
      ]),
    ).toBe(false);
    expect(coversImageIds([])).toBe(false);
  });

  it('only the full identity map is the initial user namespace', () => {
    expect(isIdentityMap([[0, 0, 4294967295]])).toBe(true);
    expect(isIdentityMap([[0, 0, 65536]])).toBe(false);
    expect(isIdentityMap([[0, 100000, 65536]])).toBe(false);
  });

  it('an ID map makes keep the default owners mode', () => {
    expect(resolveRootless({}, true).owners).toBe('keep');
  });
});

describe('options owners, devices and strict', () => {
  it.each([
    [{ owners: 'root' }, "options.owners must be one of 'keep', 'xattr', 'drop' (got 'root')"],
    [{ devices: 'null' }, "options.devices must be one of 'error', 'empty', 'skip' (got 'null')"],
    [{ strict: 'yes' }, "options.strict must be a boolean (got 'yes')"],
    [{ owners: 'xattr', idMap: { uid: [{ containerID: 0, hostID: 1000, size: 1 }] } }, "options.owners 'xattr' cannot be combined with options.idMap"],
  ])('%j is ERR_INVALID_OPTION naming the option', async (options, message) => {
    const error = await provision(['/nonexistent'], '/tmp/nonexistent-root', options as never).catch((e) => e);
    expect(error.code).toBe('ERR_INVALID_OPTION');
    expect(error.message).toContain(message);
  });

  it('--owners xattr or drop with --uid-map is a usage error (exit 2)', async () => {
    for (const owners of ['xattr', 'drop']) {
      const r = await execa(process.execPath, [cli, 'provision', '--owners', owners, '--uid-map', '0:1000:1', '/l', '/r'], { reject: false });
      expect(r.exitCode).toBe(2);
      expect(r.stderr).toMatch(new RegExp(`--owners ${owners} cannot be used with --uid-map or --gid-map`));
    }
  });

  it('a bad --owners or --devices value is a usage error naming the flag', async () => {
    const r = await execa(process.execPath, [cli, 'provision', '--devices', 'none', '/l', '/r'], { reject: false });
    expect([r.exitCode, r.stderr.split('\n')[0]]).toEqual([2, "layercopy: --devices must be one of error, empty, skip (got 'none')"]);
  });
});
