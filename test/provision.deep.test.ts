// Paths longer than PATH_MAX (4,096 bytes): the kernel refuses such a path in
// one call (ENAMETOOLONG), yet trees hold them and cp -a copies them. Node's
// fs cannot reach them either, so fixtures are built and read by the shell
// (bash: cd one directory at a time; dash refuses a PWD past PATH_MAX) and by GNU find and tar, which walk by fds.
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { destroy, provision } from '../src/index.js';
import { exists, scratch } from './helpers.js';

// 48 directories of 250 bytes: a 12 KB path, three times PATH_MAX.
const SEGMENTS = Array.from({ length: 48 }, (_, i) => `d${String(i).padStart(2, '0')}`.padEnd(250, 'x'));
const DEEP = SEGMENTS.join('/');

/** Makes ROOT/DEEP one directory at a time and runs `script` in it. */
function deepLayer(root: string, script: string): string {
  execFileSync('bash', ['-c', `set -e; mkdir -p "$1"; cd "$1"; shift; for d in "$@"; do mkdir -p "$d"; cd "$d"; done; ${script}`, 'sh', root, ...SEGMENTS]);
  return root;
}

/** Every entry below ROOT/DEEP: "name type size [target]" (GNU find walks by fds). */
function leaves(root: string): string[] {
  const out = execFileSync('find', [root, '-mindepth', String(SEGMENTS.length + 1), '-printf', '%P|%y|%s|%l|%n\\n'], { maxBuffer: 1 << 24 }).toString();
  return out
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const [rel, type, size, target, links] = line.split('|');
      return [rel.slice(DEEP.length + 1), type, type === 'f' ? size : '', target, type === 'f' ? links : ''].join(' ').trim();
    })
    .sort();
}

/** A tar of the tree (names, modes, owners, ns mtimes, contents, targets): equal tars, equal trees. */
function tarOf(root: string): string {
  return execFileSync('sh', ['-c', 'tar --sort=name --format=posix --pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime -C "$1" -cf - . | sha256sum', 'sh', root], {
    maxBuffer: 1 << 24,
  }).toString();
}

function catDeep(root: string, name: string): string {
  return execFileSync('bash', ['-c', 'cd "$1"; shift; name=$1; shift; for d in "$@"; do cd "$d"; done; cat "$name"', 'sh', root, name, ...SEGMENTS]).toString();
}

describe('paths longer than PATH_MAX', () => {
  it('a 12 KB-deep path: both strategies copy it exactly, whiteouts and replacements apply there, destroy removes it', async () => {
    const dir = scratch();
    const l0 = deepLayer(path.join(dir, 'l0'), 'echo low > f; echo gone > g; mkdir sub; echo s > sub/s; echo pair > a; ln a b; ln -s a l; touch -d @1000000000.5 f');
    const l1 = deepLayer(path.join(dir, 'l1'), 'echo high > f; : > .wh.g; echo was-a-dir > sub; echo new > new');
    const merged = path.join(dir, 'merged');
    const layered = path.join(dir, 'layered');
    await provision([l0], path.join(dir, 'one'));
    expect(tarOf(path.join(dir, 'one'))).toBe(tarOf(l0));
    await provision([l0, l1], merged, { batchSize: 2 });
    await provision([l0, l1], layered, { strategy: 'layered', batchSize: 2 });
    expect(leaves(merged)).toEqual(['a f 5  2', 'b f 5  2', 'f f 5  1', 'l l  a', 'new f 4  1', 'sub f 10  1']);
    expect(catDeep(merged, 'f')).toBe('high\n');
    expect(catDeep(merged, 'sub')).toBe('was-a-dir\n');
    expect(tarOf(layered)).toBe(tarOf(merged));
    for (const root of [path.join(dir, 'one'), merged, layered]) {
      expect(await destroy(root)).toEqual({ ok: true, removed: true, staleRemoved: [] });
      expect(exists(root)).toBe(false);
    }
  });

  it('a failed provision of a deep tree leaves no staging behind', async () => {
    const dir = scratch();
    const l0 = deepLayer(path.join(dir, 'l0'), 'echo x > f; : > .wh.');
    await expect(provision([l0], path.join(dir, 'root'))).rejects.toMatchObject({ code: 'ERR_INVALID_WHITEOUT' });
    expect(execFileSync('ls', ['-A', dir]).toString()).toBe('l0\n');
  });
});
