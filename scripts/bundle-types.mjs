// The package's public declarations as one file, dist/src/index.d.ts, in
// place of tsc's: tsc's index.d.ts imports the declarations of the modules
// it re-exports from, and each of those every module its own signatures
// name (the pool, piscina's declarations, native.d.cts), so that an app
// checking library files (skipLibCheck false, TypeScript's default) checked
// all of them: under `module: node16` native.d.cts's type imports of an ES
// module failed (TS1479), under exactOptionalPropertyTypes piscina's own
// declarations did. Rolled up by rollup-plugin-dts, only what the public
// API names is left (scripts/check-package.sh checks an app against it).
import { rollup } from 'rollup';
import { dts } from 'rollup-plugin-dts';

const bundle = await rollup({
  input: 'dist/src/index.d.ts',
  plugins: [dts()],
  external: [/^node:/],
  onwarn(warning) {
    throw new Error(`bundle-types: ${warning.message}`);
  },
});
await bundle.write({ file: 'dist/src/index.d.ts', format: 'es' });
await bundle.close();
