// Opening the files an image is read from (src/images/regular.ts): never
// blocking on a FIFO, links followed only where asked, reads bounded.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkRegular, openRegular, readRegular } from '../../src/images/regular.js';
import { scratch } from '../helpers.js';

describe('openRegular', () => {
  it('refuses a FIFO at once (EFTYPE, saying what it is) rather than wait for a writer', () => {
    const file = path.join(scratch(), 'fifo');
    execFileSync('mkfifo', [file]);
    expect(() => openRegular(file)).toThrow(expect.objectContaining({ code: 'EFTYPE', kind: 'a FIFO', path: file }));
  });

  it('a symlink: refused (ELOOP) unless links are followed; a directory: EFTYPE', () => {
    const dir = scratch();
    fs.writeFileSync(path.join(dir, 'f'), 'data');
    fs.symlinkSync('f', path.join(dir, 'link'));
    expect(() => openRegular(path.join(dir, 'link'))).toThrow(expect.objectContaining({ code: 'ELOOP' }));
    const fd = openRegular(path.join(dir, 'link'), true);
    expect(fs.fstatSync(fd).size).toBe(4);
    fs.closeSync(fd);
    expect(() => openRegular(dir)).toThrow(expect.objectContaining({ code: 'EFTYPE', kind: 'a directory' }));
  });
});

describe('readRegular', () => {
  it('reads a file whole, or its first `limit` bytes', () => {
    const file = path.join(scratch(), 'f');
    fs.writeFileSync(file, '0123456789');
    expect(readRegular(file, 100).toString()).toBe('0123456789');
    expect(readRegular(file, 4).toString()).toBe('0123');
  });
});

describe('checkRegular', () => {
  it('passes a regular file; names a symlink as one (not followed); ENOENT as lstat says', () => {
    const dir = scratch();
    fs.writeFileSync(path.join(dir, 'f'), '');
    fs.symlinkSync('f', path.join(dir, 'link'));
    expect(() => checkRegular(path.join(dir, 'f'))).not.toThrow();
    expect(() => checkRegular(path.join(dir, 'link'))).toThrow(expect.objectContaining({ code: 'EFTYPE', kind: 'a symlink' }));
    expect(() => checkRegular(path.join(dir, 'none'))).toThrow(expect.objectContaining({ code: 'ENOENT' }));
  });
});
