import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { commit, createStaging, openParent, stagingName, staleStagings } from '../../src/rootfs/staging.js';
import { zombie } from '../fixtures/zombie.js';
import { exists, lstat, scratch } from '../helpers.js';

const opened: number[] = [];
afterEach(() => {
  for (const fd of opened.splice(0)) fs.closeSync(fd);
});
const parentOf = (rootfs: string) => {
  const fd = openParent(rootfs);
  opened.push(fd);
  return fd;
};

describe('staging', () => {
  it('is a 0700 sibling of ROOTFS named after it and this process', () => {
    const dir = scratch();
    const staging = createStaging(parentOf(path.join(dir, 'root')), path.join(dir, 'root'));
    opened.push(staging.fd);
    expect(staging.name).toMatch(new RegExp(`^\\.root\\.layercopy-${process.pid}-[0-9a-f]{8}$`));
    expect(Number(lstat(path.join(dir, staging.name)).mode & 0o777n)).toBe(0o700);
    expect(fs.fstatSync(staging.fd).ino).toBe(fs.statSync(path.join(dir, staging.name)).ino);
  });

  it('a ROOTFS name too long for the staging name beside it says how long it may be', () => {
    const dir = scratch();
    const rootfs = path.join(dir, 'r'.repeat(240));
    expect(() => createStaging(openParent(rootfs), rootfs)).toThrow(
      expect.objectContaining({
        code: 'ENAMETOOLONG',
        message: expect.stringMatching(/\(it is built beside ROOTFS as "\.<name>\.layercopy-\d+-[0-9a-f]{8}", which must fit in 255 bytes: a name of 2\d\d bytes at most\)$/),
      }),
    );
    expect(fs.readdirSync(dir)).toEqual([]);
  });

  it('finds staging directories of dead processes only, and only for this ROOTFS', () => {
    const dir = scratch();
    fs.mkdirSync(path.join(dir, '.root.layercopy-999999999-0123abcd'));
    fs.mkdirSync(path.join(dir, `.root.layercopy-${process.pid}-0123abcd`));
    fs.mkdirSync(path.join(dir, '.other.layercopy-999999999-0123abcd'));
    expect(staleStagings(parentOf(path.join(dir, 'root')), path.join(dir, 'root'))).toEqual(['.root.layercopy-999999999-0123abcd']);
    expect(stagingName(path.join(dir, 'root'))).toMatch(/^\.root\.layercopy-/);
  });

  it('takes the staging directory of a killed process its parent has not reaped yet (a zombie) for a leftover', async () => {
    const dir = scratch();
    const z = await zombie();
    try {
      fs.mkdirSync(path.join(dir, `.root.layercopy-${z.pid}-0123abcd`));
      expect(staleStagings(parentOf(path.join(dir, 'root')), path.join(dir, 'root'))).toEqual([`.root.layercopy-${z.pid}-0123abcd`]);
    } finally {
      z.stop();
    }
  });

  it('commit refuses to replace a ROOTFS that appeared meanwhile, even an empty directory', () => {
    const dir = scratch();
    const rootfs = path.join(dir, 'root');
    const staging = createStaging(parentOf(rootfs), rootfs);
    opened.push(staging.fd);
    fs.mkdirSync(rootfs);
    expect(() => commit(staging, rootfs)).toThrow(expect.objectContaining({ code: 'ERR_ALREADY_PROVISIONED' }));
    expect(exists(path.join(dir, staging.name))).toBe(true);
  });

  it('works relative to the parent opened first: a parent swapped for a symlink later is not followed', () => {
    const dir = scratch();
    fs.mkdirSync(path.join(dir, 'p'));
    fs.mkdirSync(path.join(dir, 'elsewhere'));
    const rootfs = path.join(dir, 'p', 'root');
    const parentFd = parentOf(rootfs);
    fs.renameSync(path.join(dir, 'p'), path.join(dir, 'moved'));
    fs.symlinkSync(path.join(dir, 'elsewhere'), path.join(dir, 'p'));
    const staging = createStaging(parentFd, rootfs);
    opened.push(staging.fd);
    commit(staging, rootfs);
    expect(fs.readdirSync(path.join(dir, 'elsewhere'))).toEqual([]);
    expect(fs.readdirSync(path.join(dir, 'moved'))).toEqual(['root']);
  });
});
