import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { cleanTmp, openStore } from '../../src/store/layout.js';
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

describe('cleanTmp', () => {
  it('removes what a dead process left in tmp/, saying how many bytes each held (hardlinks once), and keeps a live one', async () => {
    const store = openStore(path.join(scratch(), 'store'));
    // No process has a pid above pid_max (4194304 at most).
    const dead = path.join(store.root, 'tmp', '4999999-abcdef-build');
    fs.mkdirSync(path.join(dead, 'rootfs/etc'), { recursive: true });
    fs.writeFileSync(path.join(dead, 'rootfs/etc/a'), Buffer.alloc(3000));
    fs.linkSync(path.join(dead, 'rootfs/etc/a'), path.join(dead, 'rootfs/etc/b'));
    fs.writeFileSync(path.join(dead, 'spool'), Buffer.alloc(5000));
    const live = path.join(store.root, 'tmp', `${process.ppid}-abcdef-build`);
    fs.mkdirSync(live);
    expect(await cleanTmp(store, true)).toEqual([{ path: dead, bytes: 8000 }]);
    expect([fs.existsSync(dead), fs.existsSync(live)]).toEqual([false, true]);
  });
});
