import os from 'node:os';
import { describe, expect, it } from 'vitest';
import { DEFAULT_BATCH_SIZE, validatePoolOptions, validateProvisionOptions } from '../../src/core/options.js';

describe('options', () => {
  it("defaults concurrency to the available parallelism and batchSize to 'auto': DEFAULT_BATCH_SIZE, growing", () => {
    expect(validatePoolOptions({}).concurrency).toBe(os.availableParallelism());
    expect(validateProvisionOptions({})).toMatchObject({ batchSize: DEFAULT_BATCH_SIZE, growBatches: true });
    expect(validateProvisionOptions({ batchSize: 'auto' })).toMatchObject({ batchSize: DEFAULT_BATCH_SIZE, growBatches: true });
  });

  it('a numeric batchSize is exact: batches never grow', () => {
    expect(validateProvisionOptions({ batchSize: 64 })).toMatchObject({ batchSize: 64, growBatches: false });
  });

  it.each([
    [{ concurrency: 0 }, 'options.concurrency must be a positive integer (got 0)'],
    [{ concurrency: '2' }, "options.concurrency must be a positive integer (got '2')"],
    [{ concurrency: 100_000 }, 'options.concurrency must be at most 1024 (got 100000): each worker thread is a V8 isolate of its own'],
    [{ batchSize: -3 }, "options.batchSize must be a positive integer or 'auto' (got -3)"],
    [{ batchSize: 'big' }, "options.batchSize must be a positive integer or 'auto' (got 'big')"],
    [{ onProgress: 5 }, 'options.onProgress must be a function'],
    [{ registry: { creds: 'alice' } }, 'options.registry.creds: the password must be given too, as USER:PASSWORD'],
    [{ registry: { creds: ':pw' } }, 'options.registry.creds: the user name is empty'],
  ])('rejects %j naming the option', (options, message) => {
    expect(() => validateProvisionOptions(options as never)).toThrow(message);
  });
});
