// CommonJS on purpose, like the worker that loads it (workers/copy.cts):
// piscina loads a worker with require() first, and Node 20's require() of an
// ES module intermittently aborts the whole process (an assertion in
// ModuleWrap::CreateRequiredModuleFacade, seen here about 1 run in 3 when
// many pools start). CommonJS never takes that path.
/** Plain-data failure reported by the native copy step (crosses threads as-is). */
export interface NativeFailure {
  /** errno, or 0 when `code` names a layercopy condition such as ESRCCHANGED. */
  errno: number;
  code?: string;
  syscall: string;
  /** Which tree the failing path lives in. */
  side: 'layer' | 'rootfs';
  /** Path relative to the layer / rootfs root, as latin1-mapped bytes. */
  rel: string;
}

export interface CopyResult {
  done: number;
  bytes: number;
  /**
   * Flat pairs: rel, key of the regular files not copied: "dev:ino" for files
   * with more than one link, "large" for big files in a batch of several.
   */
  deferred: string[];
  failure?: NativeFailure;
}

export interface Native {
  /** types: one char per rel: f regular, l symlink, c/b devices, p fifo, s socket. */
  copyEntries(srcRoot: string, dstRoot: string, rels: string[], types: string, defer: boolean): CopyResult;
  dirMeta(srcRoot: string, dstRoot: string, rels: string[], keepRootMode: boolean): { done: number; failure?: NativeFailure };
  linkEntries(dstRoot: string, pairs: string[]): { done: number; failure?: NativeFailure };
  listDir(root: string, rel: string): { names: string[]; types: string; failure?: undefined } | { failure: NativeFailure };
  removeEntry(root: string, rel: string, forceWritable: boolean): NativeFailure | null;
  makeDir(root: string, rel: string): NativeFailure | null;
  renameNoReplace(from: string, to: string): number;
  isRoot(): boolean;
  /** Fixture and inspection helpers (tests, sample image): no Node API exists for these. */
  lsetxattr(path: string, name: string, value: Buffer): void;
  lgetxattrs(path: string): Record<string, Buffer>;
  lutimens(path: string, atimeSec: number, atimeNsec: number, mtimeSec: number, mtimeNsec: number): void;
  mknod(path: string, mode: number, major: number, minor: number): void;
}

// Built by `node-gyp rebuild` at install time (binding.gyp at the package root).
export const native: Native = require('../../build/Release/layercopy_native.node');
