import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { commit, createStaging, removeTree, staleStagings, stagingName } from '../dist/src/staging.js';
import { buildLayer, exists, lstat, scratch, snapshot, diffSnapshots } from './helpers.js';

describe('staging', () => {
  it('is a 0700 sibling of ROOTFS named after it and this process', () => {
    const dir = scratch();
    const staging = createStaging(path.join(dir, 'root'));
    expect(path.dirname(staging)).toBe(dir);
    expect(path.basename(staging)).toMatch(new RegExp(`^\\.root\\.layercopy-${process.pid}-[0-9a-f]{8}$`));
    expect(Number(lstat(staging).mode & 0o777n)).toBe(0o700);
  });

  it('finds staging directories of dead processes only, and only for this ROOTFS', () => {
    const dir = scratch();
    fs.mkdirSync(path.join(dir, '.root.layercopy-999999999-0123abcd'));
    fs.mkdirSync(path.join(dir, `.root.layercopy-${process.pid}-0123abcd`));
    fs.mkdirSync(path.join(dir, '.other.layercopy-999999999-0123abcd'));
    expect(staleStagings(path.join(dir, 'root'))).toEqual([path.join(dir, '.root.layercopy-999999999-0123abcd')]);
    expect(stagingName(path.join(dir, 'root'))).toMatch(/^\.root\.layercopy-/);
  });

  it('commit refuses to replace a ROOTFS that appeared meanwhile, even an empty directory', () => {
    const dir = scratch();
    const staging = createStaging(path.join(dir, 'root'));
    fs.mkdirSync(path.join(dir, 'root'));
    expect(() => commit(staging, path.join(dir, 'root'))).toThrow(expect.objectContaining({ code: 'ERR_ALREADY_PROVISIONED' }));
    expect(exists(staging)).toBe(true);
  });

  it('removeTree removes read-only directories and never follows symlinks', () => {
    const dir = scratch();
    const host = buildLayer(path.join(dir, 'host'), { keep: 'k' });
    const before = snapshot(host);
    const tree = buildLayer(path.join(dir, 'tree'), { 'ro/f': { file: 'x', mode: 0o444 }, ro: { dir: true, mode: 0o555 }, link: { symlink: host }, 'a/b': { symlink: `${host}/keep` } });
    removeTree(tree);
    expect(exists(tree)).toBe(false);
    expect(diffSnapshots(before, snapshot(host))).toEqual([]);
  });
});
