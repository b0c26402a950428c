import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { images, prune, pull, rmi, verify } from '../../src/index.js';
import { scratch } from '../helpers.js';

describe('the store API checks what it is given, naming it', () => {
  // Before: pull took these silently or failed with ERR_SYSTEM and another library's words ("creds.indexOf is not a function").
  it.each([
    [{ pull: 'sometimes' }, "options.pull must be one of 'missing', 'always', 'never' (got 'sometimes')"],
    [{ maxDownloads: 1.5 }, 'options.maxDownloads must be a positive integer (got 1.5)'],
    [{ maxDownloads: 0 }, 'options.maxDownloads must be a positive integer (got 0)'],
    [{ registry: { tlsVerify: 'false' } }, 'options.registry.tlsVerify must be a boolean'],
    [{ registry: { creds: 5 } }, 'options.registry.creds must be a non-empty string'],
    [{ signal: 'x' }, 'options.signal must be an AbortSignal'],
    [{ onProgress: 1 }, 'options.onProgress must be a function'],
    [{ owners: 'root' }, "options.owners must be one of 'keep', 'xattr', 'drop' (got 'root')"],
    [null, 'options must be an object'],
  ])('pull with %j: ERR_INVALID_OPTION, no store made', async (options, message) => {
    const store = path.join(scratch(), 'store');
    const given = options === null ? null : { store, ...options };
    await expect(pull('docker://127.0.0.1:9/x:t', given as never)).rejects.toMatchObject({ code: 'ERR_INVALID_OPTION', message: expect.stringContaining(message) });
    expect(fs.existsSync(store)).toBe(false);
  });

  it.each([
    ['images(null)', () => images(null as never), 'ERR_INVALID_OPTION', 'options must be an object'],
    ['images({ store: 5 })', () => images({ store: 5 as never }), 'ERR_INVALID_OPTION', 'options.store must be a non-empty path'],
    ['prune(null)', () => prune(null as never), 'ERR_INVALID_OPTION', 'options must be an object'],
    ["rmi('ref')", () => rmi('docker://h/x:t' as never), 'ERR_INVALID_ARGUMENT', 'rmi: references must be an array of image references'],
    ["verify({ repair: 'yes' })", () => verify({ repair: 'yes' as never }), 'ERR_INVALID_OPTION', "options.repair must be a boolean (got 'yes')"],
  ])('%s: %s', async (_, call, code, message) => {
    await expect(call()).rejects.toMatchObject({ code, message: expect.stringContaining(message) });
  });
});
