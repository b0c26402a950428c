// The build's shape where it costs start-up time: Node 20 loads ES modules
// one at a time, and an empty provision spent ~10 ms of CPU on the 11 chunks
// of its provision path alone (scripts/merge-chunks.mjs); ES imports of
// built-ins and CommonJS files load more of Node than is used
// (scripts/require-builtins.mjs).
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { scratch } from '../helpers.js';

const dist = fileURLToPath(new URL('../../dist/src/', import.meta.url));
const read = (name: string) => fs.readFileSync(path.join(dist, name), 'utf8');
/** The files of dist/src a module imports statically. */
const staticImports = (text: string) => [...text.matchAll(/^import\s(?:[^'"]*?\sfrom\s)?"\.\/([^"]+\.js)";/gm)].map((m) => m[1]);

describe('the bundle', () => {
  it("loads the CLI's entry as two modules and its provision path as one more", () => {
    const cli = read('cli.js');
    const entry = [...new Set(staticImports(cli))];
    expect(entry).toHaveLength(1);
    expect([...new Set(staticImports(read(entry[0])))]).toEqual([]);
    const provision = /const \{ CopyBackend, native \} = await import\("\.\/([^"]+\.js)"\)/.exec(cli)?.[1];
    expect(provision).toBeDefined();
    expect([...new Set(staticImports(read(provision as string)))]).toEqual(entry);
  });

  it("an empty provision loads neither Node's streams nor its CommonJS export lexer", async () => {
    const dir = scratch();
    fs.mkdirSync(path.join(dir, 'empty'));
    const probe = path.join(dir, 'probe.cjs');
    fs.writeFileSync(probe, "process.on('exit', () => require('node:fs').writeSync(2, '\\n' + JSON.stringify(process.moduleLoadList) + '\\n'));\n");
    const r = await execa('node', ['--require', probe, path.join(dist, 'cli.js'), 'provision', '--quiet', path.join(dir, 'empty'), path.join(dir, 'root')]);
    const loaded: string[] = JSON.parse(r.stderr.trim().split('\n').at(-1) as string);
    expect(fs.readdirSync(path.join(dir, 'root'))).toEqual([]);
    expect(loaded.filter((m) => /^NativeModule (stream|internal\/streams\/readable|internal\/deps\/cjs-module-lexer\/lexer)$/.test(m))).toEqual([]);
  });
});
