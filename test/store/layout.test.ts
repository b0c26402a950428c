import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { openStore } from '../../src/store/layout.js';
import { scratch } from '../helpers.js';

describe('openStore', () => {
  it('a store that cannot be made: ERR_STORE naming the call, the path and the errno once, in words', () => {
    const dir = scratch();
    fs.writeFileSync(path.join(dir, 'file'), '');
    const store = path.join(dir, 'file/store');
    expect(() => openStore(store)).toThrow(
      expect.objectContaining({ code: 'ERR_STORE', path: store, message: `store ${store}: cannot mkdir '${store}': Not a directory (ENOTDIR)` }),
    );
  });

  it('a store that names a file: ERR_STORE saying it is not a directory', () => {
    const file = path.join(scratch(), 'file');
    fs.writeFileSync(file, '');
    expect(() => openStore(file)).toThrow(expect.objectContaining({ code: 'ERR_STORE', path: file, message: `store ${file}: is not a directory` }));
  });
});
