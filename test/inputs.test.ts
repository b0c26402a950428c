import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { resolveInputs } from '../src/inputs.js';
import { buildLayer, scratch } from './helpers.js';

describe('resolveInputs', () => {
  it('resolves relative paths against the working directory', () => {
    const dir = scratch();
    buildLayer(path.join(dir, 'l1'), { a: 'a' });
    const cwd = process.cwd();
    process.chdir(dir);
    try {
      expect(resolveInputs(['l1', './l1'], 'root')).toEqual({ layers: [path.join(dir, 'l1'), path.join(dir, 'l1')], rootfs: path.join(dir, 'root') });
    } finally {
      process.chdir(cwd);
    }
  });

  it.each([
    ['a missing layer', (d: string) => [[path.join(d, 'nope')], path.join(d, 'root')], /layer 1 .*does not exist/],
    ['a layer that is a file', (d: string) => [[path.join(d, 'file')], path.join(d, 'root')], /layer 1 .*is not a directory/],
    ['a layer that is a symlink', (d: string) => [[path.join(d, 'link')], path.join(d, 'root')], /layer 1 .*is a symbolic link/],
    ['ROOTFS inside a layer', (d: string) => [[path.join(d, 'l1')], path.join(d, 'l1/root')], /lies inside layer 1/],
    ['ROOTFS whose parent is missing', (d: string) => [[path.join(d, 'l1')], path.join(d, 'no/root')], /parent directory .* does not exist/],
    ['ROOTFS = /', (d: string) => [[path.join(d, 'l1')], '/'], /must not be \//],
  ])('rejects %s with a message naming it', (_name, args, message) => {
    const dir = scratch();
    buildLayer(path.join(dir, 'l1'), { a: 'a' });
    fs.writeFileSync(path.join(dir, 'file'), 'x');
    fs.symlinkSync('l1', path.join(dir, 'link'));
    const [layers, rootfs] = args(dir) as [string[], string];
    expect(() => resolveInputs(layers, rootfs)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT', message: expect.stringMatching(message) }));
  });

  it('refuses a ROOTFS that is a dangling symlink', () => {
    const dir = scratch();
    buildLayer(path.join(dir, 'l1'), { a: 'a' });
    fs.symlinkSync('/nonexistent', path.join(dir, 'root'));
    expect(() => resolveInputs([path.join(dir, 'l1')], path.join(dir, 'root'))).toThrow(expect.objectContaining({ code: 'ERR_ALREADY_PROVISIONED' }));
  });
});
