import os from 'node:os';
import { describe, expect, it } from 'vitest';
import { DEFAULT_BATCH_SIZE, validatePoolOptions, validateProvisionOptions } from '../src/options.js';

describe('options', () => {
  it('defaults concurrency to the available parallelism and batchSize to DEFAULT_BATCH_SIZE', () => {
    expect(validatePoolOptions({}).concurrency).toBe(os.availableParallelism());
    expect(validateProvisionOptions({}).batchSize).toBe(DEFAULT_BATCH_SIZE);
  });

  it.each([
    [{ concurrency: 0 }, 'options.concurrency must be a positive integer (got 0)'],
    [{ concurrency: '2' }, 'options.concurrency must be a positive integer (got 2)'],
    [{ batchSize: -3 }, 'options.batchSize must be a positive integer (got -3)'],
    [{ onProgress: 5 }, 'options.onProgress must be a function'],
  ])('rejects %j naming the option', (options, message) => {
    expect(() => validateProvisionOptions(options as never)).toThrow(message);
  });
});
