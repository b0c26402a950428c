// The image is one tar layer, extracted straight into the staging directory
// and renamed into place (src/images/extract-all.ts, extractsDirect 'one'):
// its progress ends as every provision's does.
import fs from 'node:fs';
import path from 'node:path';
import { expect, it } from 'vitest';
import type { Progress } from '../../src/core/options.js';
import { provision } from '../../src/index.js';
import { scratch } from '../helpers.js';
import { rawTar } from './fixtures.js';

it('one tar layer: progress ends with one "done" event whose totals equal the summary', async () => {
  const dir = scratch();
  const file = path.join(dir, 'one.tar');
  fs.writeFileSync(
    file,
    rawTar([
      { name: 'etc/', type: '5', mode: 0o755 },
      { name: 'etc/a', data: 'abc' },
      { name: 'etc/b', type: '1', linkname: 'etc/a' },
    ]),
  );
  const events: Progress[] = [];
  const summary = await provision([file], path.join(dir, 'root'), { onProgress: (p) => events.push(p) });
  expect(fs.lstatSync(path.join(dir, 'root/etc/b')).ino).toBe(fs.lstatSync(path.join(dir, 'root/etc/a')).ino);
  const last = events[events.length - 1];
  expect(last?.phase).toBe('done');
  expect(events.filter((e) => e.phase === 'done')).toEqual([last]);
  expect([last.entries, last.bytes, last.layerIndex, last.layers]).toEqual([summary.entries, summary.bytes, 0, 1]);
});
