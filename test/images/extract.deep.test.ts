// Names deep below directories the tar gives no header: each such parent
// is held by its whole path, so one name N directories deep would hold
// ~N^2/2 bytes that no byte of the tar paid for (native/tar.c,
// names_too_many). Past the cap, ERR_INVALID_TAR at once, before anything
// of the entry is made; deep names under a small total are extracted as before.
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { provision } from '../../src/index.js';
import { scratch } from '../helpers.js';
import { type RawEntry, rawTar } from './fixtures.js';

/** A file `depth` directories deep below `top`, each directory named `part`, given by a PAX path. */
const deepFile = (top: string, depth: number, part = 'a'): RawEntry => {
  const name = `${top}/${`${part}/`.repeat(depth)}f`;
  return { name: 'deep', data: 'x', pax: { path: name } };
};

/** Provisions the tar of `entries`, alone or over a directory layer; the error, and what is left beside the rootfs. */
async function tried(entries: RawEntry[], below = false) {
  const dir = scratch();
  fs.writeFileSync(path.join(dir, 'l.tar'), rawTar(entries));
  fs.mkdirSync(path.join(dir, 'base'));
  const error = await provision([...(below ? [path.join(dir, 'base')] : []), path.join(dir, 'l.tar')], path.join(dir, 'root')).then(
    () => undefined,
    (e) => e,
  );
  return { error, left: fs.readdirSync(dir).filter((n) => n === 'root' || n.includes('layercopy')), dir };
}

afterEach(() => {
  delete process.env.LAYERCOPY_TAR_IMPLIED_BYTES;
});

describe('implied parents', () => {
  it('a name 10,000 directories deep (a 20 KB path, 100 MB of parent names): ERR_INVALID_TAR naming its depth, nothing left', async () => {
    const { error, left, dir } = await tried([deepFile('t', 9_999)]);
    expect(error).toMatchObject({ code: 'ERR_INVALID_TAR', layer: path.join(dir, 'l.tar') });
    expect(error.message).toMatch(
      /: a name 10000 directories deep \(20001 bytes: \/t\/a\/a\/a.*\.\.\.\) before byte \d+: its parent directories without headers would take more than 64 MiB of names to hold$/,
    );
    expect(left).toEqual([]);
  });

  it.each([false, true])('the cap counts the parents of every name together (over a directory layer: %s)', async (below) => {
    process.env.LAYERCOPY_TAR_IMPLIED_BYTES = String(1 << 20);
    // Each name's parents: 200 directories of 61-byte names, ~1.2 MB of paths.
    const part = 'x'.repeat(60);
    expect((await tried([deepFile('b0', 15, part)], below)).error).toBeUndefined();
    const { error, left } = await tried([deepFile('b0', 15, part), deepFile('b1', 15, part), deepFile('b2', 200, part)], below);
    expect(error).toMatchObject({ code: 'ERR_INVALID_TAR' });
    expect(error.message).toContain(': a name 201 directories deep (');
    expect(left).toEqual([]);
  });

  it('a name 2,000 directories deep (4 MB of parent names) is extracted', async () => {
    const { error, dir } = await tried([deepFile('t', 2_000)]);
    expect(error).toBeUndefined();
    expect(fs.readFileSync(path.join(dir, 'root', 't', 'a/'.repeat(2_000), 'f'), 'utf8')).toBe('x');
  });
});
