import { describe, expect, it } from 'vitest';
import { ENTRY_TYPES, unpack } from '../../src/core/entries.js';
import { native } from '../../src/core/native.cjs';
import { WH, whiteoutKind } from '../../src/strategies/whiteouts.js';

describe('what the native helper and the TypeScript side share', () => {
  it("the entry type letters are the native listing's, in order", () => {
    expect(ENTRY_TYPES.join('')).toBe(native.constants.entryTypes);
  });

  it("the whiteout prefix is the native listing's", () => {
    expect(WH).toBe('.wh.');
  });

  it.each([
    ['a', 'none'],
    ['.wh', 'none'],
    ['wh.a', 'none'],
    ['.wh.a', 'hides'],
    ['.wh....', 'hides'],
    ['.wh.', 'nothing'],
    ['.wh..', 'nothing'],
    ['.wh...', 'nothing'],
    ['.wh..wh..opq', 'opaque'],
    ['.wh..wh..opq2', 'aufs'],
    ['.wh..wh.plnk', 'aufs'],
    ['.wh..wh.', 'aufs'],
  ])('%s is a marker of kind %s, by the one native rule the tar reader reads too', (name, kind) => {
    expect(whiteoutKind(name)).toBe(kind);
  });

  it('big files: copied by tasks of their own from 8 MiB', () => {
    expect(native.constants.largeFile).toBe(8 * 1024 * 1024);
  });
});

describe('unpack', () => {
  it('splits a packed string (each name followed by a NUL); empty gives none', () => {
    expect(unpack('a\0b c\0')).toEqual(['a', 'b c']);
    expect(unpack('')).toEqual([]);
  });
});
