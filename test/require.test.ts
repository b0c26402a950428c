import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { scratch } from './helpers.js';

// The built package (npm test builds dist first), as `require('layercopy')` finds it in node_modules.
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const requiresEsm = (process.features as { require_module?: boolean }).require_module === true;

function requireIt(flags: string[]): string {
  const dir = scratch();
  fs.mkdirSync(path.join(dir, 'node_modules'));
  fs.symlinkSync(root, path.join(dir, 'node_modules', 'layercopy'));
  const script = "try { const m = require('layercopy'); console.log(typeof m.provision, typeof m.LayercopyError) } catch (e) { console.log(e.code, e.message) }";
  return execFileSync(process.execPath, [...flags, '-e', script], { cwd: dir, encoding: 'utf8' }).trim();
}

describe("require('layercopy')", () => {
  it.runIf(requiresEsm)('gives the ES module’s exports where Node loads ES modules through require()', () => {
    expect(requireIt([])).toBe('function function');
  });

  it('says it is an ES module where Node cannot (ERR_REQUIRE_ESM)', () => {
    // The flag is Node 20.19's; before it, require() cannot load ES modules at all.
    expect(requireIt(requiresEsm ? ['--no-experimental-require-module'] : [])).toMatch(/^ERR_REQUIRE_ESM layercopy is an ES module: use `import/);
  });
});
