// node:crypto, node:stream and node:zlib, loaded on first use. Imported at
// the top of the image modules, they cost every image's provision 41 of
// Node's internal modules compiled on the main thread before its first layer
// starts, where the layers are then inflated, hashed and read natively and
// none of them is used (docs/benchmarks.md, "Startup").
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

export const cryptoModule = (): typeof import('node:crypto') => require('node:crypto');
export const streamModule = (): typeof import('node:stream') => require('node:stream');
export const zlibModule = (): typeof import('node:zlib') => require('node:zlib');
