import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { errnoError, fromFailure, fromNodeError, LayercopyError } from '../../src/core/errors.js';

const ctx = { layer: '/l/2', dir: '/l/2', layerIndex: 1, rootfs: '/srv/rootfs' };

describe('fromFailure', () => {
  it('names the layer, the rootfs path, the operation and the system error, keeping a cause', () => {
    const error = fromFailure({ errno: 28, syscall: 'copy_file_range', side: 'rootfs', rel: 'usr/lib/big' }, ctx, 'copy');
    expect(error).toBeInstanceOf(LayercopyError);
    expect(error.message).toBe('layer 2 (/l/2): copy /srv/rootfs/usr/lib/big: copy_file_range failed: ENOSPC (no space left on device)');
    expect(error).toMatchObject({ code: 'ENOSPC', path: '/srv/rootfs/usr/lib/big', syscall: 'copy_file_range', errno: -28, layer: '/l/2', layerIndex: 1 });
    expect((error.cause as NodeJS.ErrnoException).code).toBe('ENOSPC');
  });

  it('names the layer path for source-side failures', () => {
    const error = fromFailure({ errno: 13, syscall: 'open', side: 'layer', rel: 'etc/shadow' }, ctx, 'copy');
    expect(error.path).toBe('/l/2/etc/shadow');
    expect(error.code).toBe('EACCES');
  });

  it("names an image layer's entry by its path in the layer, after the label that names the image and the blob; a tarball file's as FILE:/path", () => {
    const label = 'oci:/images/app:1 layer 1/4 (sha256:97e052711ff2…)';
    const source = { arg: 'oci:/images/app:1', argIndex: 0, digest: `sha256:${'9'.repeat(64)}` };
    const image = fromFailure(
      { errno: 0, code: 'EUNMAPPEDGID', id: 43, syscall: 'chown', side: 'layer', rel: 'var/log/wtmp' },
      { layer: label, dir: `${label}:`, layerIndex: 0, rootfs: '/r', source },
      'copy',
    );
    expect([image.message, image.path]).toEqual([`${label}: copy /var/log/wtmp: gid 43 is outside every --gid-map range`, '/var/log/wtmp']);
    const tarball = fromFailure({ errno: 13, syscall: 'open', side: 'layer', rel: 'etc/shadow' }, { layer: '/l/app.tar', dir: '/l/app.tar:', layerIndex: 0, rootfs: '/r' }, 'copy');
    expect(tarball.path).toBe('/l/app.tar:/etc/shadow');
  });

  it('reports a source that changed during the copy', () => {
    const error = fromFailure({ errno: 0, code: 'ESRCCHANGED', syscall: 'fstat', side: 'layer', rel: 'a' }, ctx, 'copy');
    expect(error.code).toBe('ERR_SOURCE_CHANGED');
    expect(error.message).toMatch(/changed while it was being copied/);
  });

  it('shows non-UTF-8 names readably', () => {
    const error = fromFailure({ errno: 2, syscall: 'open', side: 'layer', rel: Buffer.from([0x61, 0xff]).toString('latin1') }, ctx, 'copy');
    expect(error.path).toBe('/l/2/a\uFFFD');
  });
});

describe('errnoError: the one errno translation', () => {
  it('names the errno and keeps code, negative errno, syscall, path, layer fields and a Node-style cause', () => {
    const error = errnoError({ errno: 28, syscall: 'write', path: '/r/f' }, (name, description) => `copy /r/f: ${name} (${description})`, { layer: '/l', layerIndex: 0 });
    expect(error).toMatchObject({ message: 'copy /r/f: ENOSPC (no space left on device)', code: 'ENOSPC', errno: -28, syscall: 'write', path: '/r/f', layer: '/l', layerIndex: 0 });
    expect(error.cause).toMatchObject({ code: 'ENOSPC', errno: -28, syscall: 'write', path: '/r/f' });
  });

  it('an errno without a name gets ERR_SYSTEM; a Node fs error keeps itself as cause', () => {
    expect(errnoError({ errno: 200, syscall: 'x' }, (name) => name).code).toBe('ERR_SYSTEM');
    let thrown: unknown;
    try {
      fs.openSync('/nonexistent-layercopy/x', 'r');
    } catch (e) {
      thrown = e;
    }
    const error = errnoError(fromNodeError(thrown, 'open'), (name) => `cannot open: ${name}`, { cause: thrown });
    expect(error).toMatchObject({ code: 'ENOENT', errno: -2, syscall: 'open', path: '/nonexistent-layercopy/x' });
    expect(error.cause).toBe(thrown);
  });
});
