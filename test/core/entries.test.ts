import { describe, expect, it } from 'vitest';
import { ENTRY_TYPES, unpack } from '../../src/core/entries.js';
import { native } from '../../src/core/native.cjs';
import { OPAQUE, WH, WH_META } from '../../src/strategies/whiteouts.js';

describe('what the native helper and the TypeScript side share', () => {
  it("the entry type letters are the native listing's, in order", () => {
    expect(ENTRY_TYPES.join('')).toBe(native.constants.entryTypes);
  });

  it('the whiteout names derive from the native prefix', () => {
    expect([WH, WH_META, OPAQUE]).toEqual(['.wh.', '.wh..wh.', '.wh..wh..opq']);
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
