// Fixture helpers from a separate addon (native/fixtures.c): the sample
// image, benchmark workloads and tests build layers with them; the
// production helper does not export them.
export interface Fixtures {
  lsetxattr(path: string, name: string, value: Buffer): void;
  lgetxattrs(path: string): Record<string, Buffer>;
  lremovexattr(path: string, name: string): void;
  lutimens(path: string, atimeSec: number, atimeNsec: number, mtimeSec: number, mtimeNsec: number): void;
  mknod(path: string, mode: number, major: number, minor: number): void;
}

// Built by `npm install` in a clone (the prepare script): native/fixtures/binding.gyp.
// The repository root is above dist/bench when built, above bench when vitest runs the sources.
export const fixtures: Fixtures = require(`${__dirname}/${__filename.endsWith('.cts') ? '..' : '../..'}/native/fixtures/build/Release/layercopy_fixtures.node`);
