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
import { ociImage, rawTar } from '../images/fixtures.js';

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

  it("an image's provision loads none of Node's crypto, streams and zlib where its layers are read natively", async () => {
    const dir = scratch();
    const probe = path.join(dir, 'probe.cjs');
    fs.writeFileSync(probe, "process.on('exit', () => require('node:fs').writeSync(2, '\\n' + JSON.stringify(process.moduleLoadList) + '\\n'));\n");
    const layout = ociImage(path.join(dir, 'layout'), { layers: [rawTar([{ name: 'f', data: Buffer.from('x') }])] });
    const r = await execa('node', ['--require', probe, path.join(dist, 'cli.js'), 'provision', '--quiet', `oci:${layout}:latest`, path.join(dir, 'root')]);
    const loaded: string[] = JSON.parse(r.stderr.trim().split('\n').at(-1) as string);
    expect(fs.readFileSync(path.join(dir, 'root', 'f'), 'utf8')).toBe('x');
    expect(loaded.filter((m) => /^NativeModule (crypto|stream|zlib)$/.test(m))).toEqual([]);
  });

  // Each file Node loads is a resolve, an asynchronous open and read, a
  // compile and a link: an image's modules were 11 files more than needed.
  it("an image's provision loads its modules as one file per path", async () => {
    const dir = scratch();
    const log = path.join(dir, 'loaded.txt');
    const hooks = path.join(dir, 'hooks.mjs');
    fs.writeFileSync(
      hooks,
      `import fs from 'node:fs';\nexport async function load(url, context, next) {\n  if (url.startsWith('file:')) fs.appendFileSync(${JSON.stringify(log)}, url + '\\n');\n  return next(url, context);\n}\n`,
    );
    const register = path.join(dir, 'register.mjs');
    fs.writeFileSync(register, `import { register } from 'node:module';\nregister(${JSON.stringify(`file://${hooks}`)});\n`);
    const tar = rawTar([{ name: 'f', data: Buffer.from('x') }]);
    fs.writeFileSync(path.join(dir, 'layer.tar'), tar);
    const layout = ociImage(path.join(dir, 'layout'), { layers: [tar] });
    const loaded = async (layer: string, root: string) => {
      fs.rmSync(log, { force: true });
      await execa('node', ['--import', register, path.join(dist, 'cli.js'), 'provision', '--quiet', layer, path.join(dir, root)]);
      expect(fs.readFileSync(path.join(dir, root, 'f'), 'utf8')).toBe('x');
      return new Set(
        fs
          .readFileSync(log, 'utf8')
          .trim()
          .split('\n')
          .filter((url) => url.startsWith(`file://${dist}`)),
      );
    };
    // cli.js, its entry, the provision path, and for an image its resolving,
    // its extraction and their helpers: 7 and 8 files (18 for the image
    // before scripts/bundle.mjs merged its paths).
    expect((await loaded(`oci:${layout}:latest`, 'r1')).size).toBeLessThanOrEqual(8);
    expect((await loaded(path.join(dir, 'layer.tar'), 'r2')).size).toBeLessThanOrEqual(8);
  });
});
