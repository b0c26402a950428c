// A pumped gzip layer's failure is told by what failed: the gzip stream's
// as "gzip: …" (ERR_INVALID_TAR, the blob checked first), what the native
// helper itself threw (N-API: no memory, no thread to start) as a failure of
// reading the blob, with its errno's code, and no blob check.
import { describe, expect, it } from 'vitest';
import { LayercopyError } from '../../src/core/errors.js';
import { readingFailure } from '../../src/images/extract.js';
import { helperFailure } from '../../src/images/pumped.js';

const layer = { label: 'image layer 1/2 sha256:abc', file: '/nowhere/blob' };

describe("a pumped layer's failure", () => {
  it("the gzip stream's failure (a plain Error, as the pump and isalFeed throw it): gzip's, ERR_INVALID_TAR, the blob checked before it is told", () => {
    const cause = Object.assign(new Error('invalid block type'), { code: 'ERR_ISAL' });
    const { failure, checkBlob } = readingFailure(layer, 'gzip', cause);
    expect(failure).toMatchObject({ code: 'ERR_INVALID_TAR', message: 'image layer 1/2 sha256:abc: gzip: invalid block type', cause });
    expect(checkBlob).toBe(true);
    expect(cause.constructor).toBe(Error);
  });

  it("what the helper threw (a thread it could not start): reading the blob's failure, with its errno's code, no blob check and no word of gzip", () => {
    const cause = Object.assign(new Error('pthread_create failed: EAGAIN (Resource temporarily unavailable)'), { code: 'EAGAIN', syscall: 'pthread_create', errno: 11 });
    const { failure, checkBlob } = readingFailure(layer, 'gzip', helperFailure(layer, cause));
    expect(failure).toBeInstanceOf(LayercopyError);
    expect(failure).toMatchObject({
      code: 'EAGAIN',
      layer: 'image layer 1/2 sha256:abc',
      syscall: 'pthread_create',
      errno: 11,
      message: 'image layer 1/2 sha256:abc: reading the blob: pthread_create failed: EAGAIN (Resource temporarily unavailable)',
      cause,
    });
    expect(checkBlob).toBe(false);
  });

  it('an N-API error without an errno: ERR_SYSTEM, named as reading the blob', () => {
    const { failure, checkBlob } = readingFailure(layer, 'gzip', helperFailure(layer, new RangeError('tarPump: progress must be a BigInt64Array holding the slot')));
    expect(failure).toMatchObject({ code: 'ERR_SYSTEM', message: 'image layer 1/2 sha256:abc: reading the blob: tarPump: progress must be a BigInt64Array holding the slot' });
    expect(checkBlob).toBe(false);
  });

  it('an error the reader already told (a LayercopyError) is passed on as it is', () => {
    const told = new LayercopyError('image layer 1/2 sha256:abc: write /etc/x: ENOSPC', { code: 'ENOSPC' });
    expect(readingFailure(layer, 'gzip', told).failure).toBe(told);
  });
});
