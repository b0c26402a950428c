import fs from 'node:fs';
import path from 'node:path';

/** The file at a store's root (src/store/layout.ts): destroy refuses any path at or beneath it. */
export const STORE_MARKER = '.layercopy-store';

/** The store holding `target` (its marker found in target or an ancestor, by path as given and with symlinks resolved), or undefined. */
export function storeAbove(target: string): string | undefined {
  const search = (start: string) => {
    for (let dir = start; ; dir = path.dirname(dir)) {
      if (fs.existsSync(path.join(dir, STORE_MARKER))) return dir;
      if (dir === '/') return undefined;
    }
  };
  const given = path.resolve(target);
  let real: string | undefined;
  try {
    real = fs.realpathSync(given);
  } catch {
    real = undefined;
  }
  return search(given) ?? (real ? search(real) : undefined);
}
