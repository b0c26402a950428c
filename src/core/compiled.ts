import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

let root: string | undefined;

/**
 * The package's root directory: the nearest directory above this module
 * that holds binding.gyp and package.json. The sources (src/core), tsc's
 * files (dist/src/core) and esbuild's chunks (dist/src) lie at different
 * depths, so no fixed '../..' fits them all.
 */
export function packageRoot(): string {
  if (root !== undefined) return root;
  let dir = path.dirname(fileURLToPath(import.meta.url));
  while (!(fs.existsSync(path.join(dir, 'binding.gyp')) && fs.existsSync(path.join(dir, 'package.json')))) {
    const up = path.dirname(dir);
    if (up === dir) throw new Error(`layercopy: no package root above ${fileURLToPath(import.meta.url)}`);
    dir = up;
  }
  root = dir;
  return dir;
}

/**
 * A compiled file of this package by its path under dist/ (a worker, the
 * CLI): worker threads and child processes need the compiled JavaScript,
 * also when vitest runs the sources.
 */
export function distFile(distPath: string): URL {
  return pathToFileURL(path.join(packageRoot(), 'dist', distPath));
}

/**
 * The layercopy command as npm links it (dist/src/layercopy.cjs, a shell script
 * that starts the CLI), and the environment in which it starts the node
 * that runs this process: what the bench times, as a user runs it.
 */
export function cliCommand(): { file: string; env: Record<string, string> } {
  return { file: fileURLToPath(distFile('src/layercopy.cjs')), env: { PATH: `${path.dirname(process.execPath)}${path.delimiter}${process.env.PATH ?? ''}` } };
}

/** A file of this package outside dist/ (package.json, a C source the bench builds). */
export function packageFile(relPath: string): URL {
  return pathToFileURL(path.join(packageRoot(), relPath));
}
