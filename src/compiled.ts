/**
 * A compiled file of this package by its path under dist/ (a worker, the
 * CLI). From dist/src when built; from src when vitest runs the sources:
 * worker threads and child processes need the compiled JavaScript either way.
 */
export function distFile(distPath: string): URL {
  const fromSources = import.meta.url.endsWith('.ts');
  return new URL(`${fromSources ? '../dist/' : '../'}${distPath}`, import.meta.url);
}

/** A file of this package outside dist/ (a C source the bench builds), from src/ or from dist/src/. */
export function packageFile(relPath: string): URL {
  const fromSources = import.meta.url.endsWith('.ts');
  return new URL(`${fromSources ? '../' : '../../'}${relPath}`, import.meta.url);
}
