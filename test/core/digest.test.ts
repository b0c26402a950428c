import crypto from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { descriptorMismatch, sha256 } from '../../src/core/digest.js';
import { native } from '../../src/core/native.cjs';

const reference = (data: Buffer) => `sha256:${crypto.createHash('sha256').update(data).digest('hex')}`;

describe('sha256', () => {
  afterEach(() => {
    delete process.env.LAYERCOPY_TAR_HASH;
  });

  it("is node:crypto's digest, computed natively where OpenSSL's symbols are there", () => {
    expect(native.tarHashes()).toBe(true);
    for (const data of [Buffer.alloc(0), Buffer.from('abc'), crypto.randomBytes(3 * 65536 + 17)]) {
      expect(native.sha256(data)).toBe(reference(data));
      expect(sha256(data)).toBe(reference(data));
    }
  });

  it('hashes the bytes of a slice, not of the memory around it', () => {
    const whole = crypto.randomBytes(4096);
    const slice = whole.subarray(100, 300);
    expect(native.sha256(slice)).toBe(reference(Buffer.from(slice)));
  });

  it('falls back to node:crypto where the native hash is not available', () => {
    process.env.LAYERCOPY_TAR_HASH = '0';
    const data = Buffer.from('{"schemaVersion":2}');
    expect(native.sha256(data)).toBeNull();
    expect(sha256(data)).toBe(reference(data));
  });

  it('a descriptor mismatch names both digests and sizes', () => {
    const data = Buffer.from('abc');
    expect(descriptorMismatch(data, { digest: reference(data), size: 3 })).toBeUndefined();
    expect(descriptorMismatch(data, { digest: reference(data), size: 4 })).toBe(`expected ${reference(data)} (4 bytes), got ${reference(data)} (3 bytes)`);
  });
});
