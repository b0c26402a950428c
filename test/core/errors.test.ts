import { describe, expect, it } from 'vitest';
import { fromFailure, LayercopyError } from '../../src/core/errors.js';

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
