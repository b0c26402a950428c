// CommonJS on purpose, like the worker that loads it (workers/copy.cts): piscina loads a worker with
// require() first, and Node 20's require() of an ES module intermittently aborts the whole process (an
// assertion in ModuleWrap::CreateRequiredModuleFacade, seen here about 1 run in 3 when many pools
// start). CommonJS never takes that path.
/** Plain-data failure reported by the native helper (crosses threads as-is). */
export interface NativeFailure {
  /** errno, or 0 when `code` names a layercopy condition. */
  errno: number;
  /**
   * ESRCCHANGED: a layer entry changed type or shrank; ECANCELED: aborted;
   * EMOUNTPOINT: a removal left a mount point (named by rel);
   * ENOOPENAT2: the kernel lacks openat2.
   */
  code?: 'ESRCCHANGED' | 'ECANCELED' | 'EMOUNTPOINT' | 'ENOOPENAT2' | 'EUNMAPPEDUID' | 'EUNMAPPEDGID' | 'EINVALIDTAR' | 'EUNSUPPORTEDENTRY' | TarRestart | 'EINVALIDWHITEOUT';
  /** EINVALIDTAR / EUNSUPPORTEDENTRY: what is wrong with the tar (a sentence). */
  detail?: string;
  /** EUNMAPPEDUID/EUNMAPPEDGID: the ID outside every range. */
  id?: number;
  /** A removal's failure: how many other entries (and mount points) stayed besides the one named by rel. */
  more?: number;
  syscall: string;
  /** Which tree the failing path lives in. */
  side: 'layer' | 'rootfs';
  /** Path relative to the layer / rootfs root (or the removed entry's parent), as latin1-mapped bytes. */
  rel?: string;
}

/**
 * A name of a hardlink group, handed back uncopied: one name per inode is copied, the others linked to it
 * (src/copy/deferred.ts). dev and ino identify the inode (BigInt: inode numbers may pass 2^53); nlink counts its names.
 */
export interface DeferredLink {
  rel: string;
  /** The entry's type letter (constants.entryTypes): links join files, symlinks, FIFOs and devices alike. */
  type: string;
  dev: bigint;
  ino: bigint;
  nlink: number;
  /** A regular file's size (0 for other types): a big group's first name is copied by a task of its own. */
  size: number;
}

/** A big file handed back uncopied (constants.largeFile or more): copied by a task of its own. */
export interface DeferredLarge {
  rel: string;
  size: number;
}
export interface CopyResult {
  done: number;
  bytes: number;
  links: DeferredLink[];
  large: DeferredLarge[];
  /** What the metadata policy changed in this call (native/meta.h); absent when nothing. */
  changes?: NativeChanges;
  failure?: NativeFailure;
}
type DirMetaResult = { done: number; changes?: NativeChanges; later?: LaterMode[]; failure?: NativeFailure };
type CopyArgs = [src: Root, dst: Root, base: string, rels: string[] | string, types: string, defer: boolean, cancel?: CancelFlag, policy?: NativePolicy, move?: boolean];

/** The kinds of change the metadata policy counts (native/meta.h), in the summary's words. */
export const CHANGE_KINDS = ['ownersRecorded', 'ownersDropped', 'devicesEmptied', 'devicesSkipped', 'xattrsSkipped', 'specialBitsCleared'] as const;
export type ChangeKind = (typeof CHANGE_KINDS)[number];
/** Per kind that changed: how many entries, and the first few rels (latin1-mapped bytes). */
export type NativeChanges = Partial<Record<ChangeKind, { count: number; paths: string[] }>>;

/**
 * A directory given u+rwx for now, as non-root, its mode due once nothing
 * is written below it any more (native/meta.h, meta_dst.later).
 */
export interface LaterMode {
  rel: string;
  mode: number;
}

/** What both sides must agree on, defined once in the native helper (native/copy.h, native/list.h). */
export interface NativeConstants {
  /** A file this big or more, in a batch of several, is handed back to be copied as a task of its own. */
  largeFile: number;
  /** Names starting with it are whiteout markers (or AUFS metadata). */
  whiteoutPrefix: string;
  /** The entry type letters, in the order of src/core/entries.ts ENTRY_TYPES. */
  entryTypes: string;
}
export type { IsalFed, IsalStream, NativeHash, TarMember, TarReader, TarTree, ZstdStream } from './native-streams.js';

import type { IsalFed, IsalStream, NativeHashing, NativePumping, TarMember, TarReader, TarRestart, TarTree, ZstdStream } from './native-streams.js';

/** An open directory fd (the main thread opens layers and the staging dir once), or a path. */
export type Root = number | string;
/** One Int32 over a SharedArrayBuffer: non-zero aborts native loops between entries. */
export type CancelFlag = Int32Array;
/** (container, host, count) triples, flat; a missing side maps IDs to themselves. */
export interface NativeIdMap {
  uid?: Uint32Array;
  gid?: Uint32Array;
}

/**
 * The metadata policy of native/meta.h: the ID map (keep only), owners 0
 * keep | 1 xattr | 2 drop, devices 0 error | 1 empty | 2 skip, strict. Left
 * out: keep, error, not strict.
 */
export interface NativePolicy extends NativeIdMap {
  owners?: 0 | 1 | 2;
  devices?: 0 | 1 | 2;
  strict?: boolean;
}

export interface Native extends NativeHashing, NativePumping<NativeFailure> {
  constants: NativeConstants;
  /**
   * rels are relative to `base` ('' for the roots themselves) beneath both
   * roots, as an array or packed (src/core/paths.ts packRels). types: one char
   * per rel: f regular, l symlink, c/b devices, p fifo, s socket;
   * upper-case unlinks a non-directory already at rel first. A failure's
   * rel is relative to base. defer: names of hardlink groups and big files
   * come back uncopied in links and large (rels relative to base). move:
   * non-directories are hardlinked from src (a tar layer's private scratch
   * extraction on the same filesystem) instead, and no file is big.
   * copyEntriesLater: the same, on a thread of libuv's pool.
   */
  copyEntries(...args: CopyArgs): CopyResult;
  copyEntriesLater(...args: CopyArgs): Promise<CopyResult>;
  dirMeta(...args: [src: Root, dst: Root, base: string, rels: string[] | string, keepRootMode: boolean, cancel?: CancelFlag, policy?: NativePolicy]): DirMetaResult;
  /** Each directory rel beneath root gets its mode (one no longer there, or no longer a directory, is passed over). */
  setModes(root: Root, rels: string[] | string, modes: Uint32Array): NativeFailure | null;
  linkEntries(dst: Root, pairs: string[]): { done: number; failure?: NativeFailure };
  /**
   * unlock: a layer directory of this user's own that it may not list or
   * enter gets u+rx until relockDirs(root) (native/unlock.h), its own mode
   * still what its metadata copies.
   */
  listDir(root: Root, rel: string, split?: false, unlock?: boolean): { names: string[]; types: string; failure?: undefined } | { failure: NativeFailure };
  /**
   * split: a listing without markers or unknown types comes back as two
   * packed strings (each name NUL-terminated), non-directories with their
   * type letters and directories apart, so that no JS string is made per
   * name; any other listing comes back as without split.
   */
  listDir(
    root: Root,
    rel: string,
    split: boolean,
    unlock?: boolean,
  ):
    | { names: string[]; types: string; failure?: undefined }
    | { files: string; fileTypes: string; dirs: string; names?: undefined; failure?: undefined }
    | { failure: NativeFailure };
  /** A merged directory listed in its layers (highest first), decided in C: native/merge.h. dirLayers: positions + 1 as UTF-16 units, 0 after each subdirectory's. */
  mergeDir(
    roots: Root[],
    rel: string,
    unlock?: boolean,
  ):
    | { files: string[]; fileTypes: string[]; dirs: string; dirLayers: string; whiteouts: number[]; replaced: number[]; invalid?: undefined; failure?: undefined }
    | { invalid: 'type' | 'nothing' | 'unknown'; at: number; name: string; failure?: undefined }
    | { failure: NativeFailure; at: number; invalid?: undefined };
  removeEntry(root: Root, rel: string, forceWritable: boolean, cancel?: CancelFlag): NativeFailure | null;
  /** removeEntry of each rel in turn on a libuv thread, to the first failure: the main thread stays free to take a signal (Ctrl-C sets the cancel flag it reads). */
  removeEntriesLater(root: Root, rels: string[], forceWritable: boolean, cancel?: CancelFlag): Promise<NativeFailure | null>;
  makeDir(root: Root, rel: string): NativeFailure | null;
  /** mkdirat of each name (packed or an array) in parentRel, opened once. */
  makeDirs(root: Root, parentRel: string, names: string[] | string): NativeFailure | null;
  /** Opens a directory beneath root, O_NOFOLLOW: the fd is the caller's to close. */
  openDir(root: Root, rel: string): { fd: number } | NativeFailure;
  /** renameat2 RENAME_NOREPLACE; overEmpty: plain renameat (replaces an empty directory only). */
  renameNoReplace(dirFd: number, from: string, to: string, overEmpty?: boolean): number;
  isRoot(): boolean;
  trimHeap(): boolean; // glibc's malloc_trim: the threads' arenas give what they hold free back; false where nothing was, or no glibc
  /** Gives the directories of the layer root that listings unlocked their modes back, deepest first. */
  relockDirs(root: number): NativeFailure | null;
  /** The mode the policy gives an entry whose source mode is `mode` (the rootfs root, at the commit). */
  metaMode(policy: NativePolicy | undefined, mode: number): number;
  /** false on Linux < 5.6: layercopy refuses to run there (docs/reliability.md). */
  hasOpenat2(): boolean;
  /** Stops every native loop of the process at its next check (the process is exiting). */
  shutdown(): void;
  /**
   * A set the tar layers of one provision share as they are read at once
   * (native/claims.h): what each holds, so that a lower layer's file a
   * higher one already hides gets no data. Closed by claimsClose.
   */
  claimsOpen(): number;
  claimsClose(id: number): void;
  /**
   * A tar layer's stream written beneath root (an open directory fd, kept
   * open until tarClose) as it is fed (native/tar.c); with a claims set, as
   * layer `layer` of it (a failure with code ERESTARTHIDDEN: read the layer
   * again without the set). Entries get their metadata by `policy` (its ID
   * map is not applied: the copy out of the scratch directory applies it).
   * flags: TAR_DIRECT (1: root is the rootfs of a one-layer image, markers
   * checked and not written, the root left 0700) | TAR_NO_RECORD (2: the
   * set is only asked) | TAR_PLAIN (4: not inflated) | TAR_HASH (8: every
   * byte fed hashed, on the thread that feeds the reader; where tarHashes())
   * | TAR_PIPE (16: fed on a thread of its own), native/tar.h.
   */
  tarOpen(root: number, claims?: number, layer?: number, policy?: NativePolicy, flags?: number): TarReader;
  /** The next bytes of the tar: parsed, and its entries written. A failure stays: every later call fails. */
  tarFeed(reader: TarReader, chunk: Buffer, cancel?: CancelFlag): NativeFailure | null;
  /**
   * The input ended: directories get their metadata; the reader is closed.
   * implied: the directories no header described (made for entries below
   * them; the root unless "./" had one), packed as listDir's names. tree:
   * the tree written, counted as a plan counts a layer; rootMode (TAR_DIRECT):
   * the mode the root takes once renamed into place. digest (TAR_HASH):
   * "sha256:<hex>" of every byte fed.
   */
  tarFinish(
    reader: TarReader,
  ): { entries: number; bytes: number; implied: string; changes?: NativeChanges; tree: TarTree; rootMode: number; digest?: string } | { failure: NativeFailure };
  /** Whether tarOpen takes TAR_HASH: the SHA-256 of the OpenSSL the Node binary exports (native/sha256.h). */
  tarHashes(): boolean;
  /** "sha256:<hex>" of data, or null where the OpenSSL the Node binary exports has no SHA-256 (native/sha256.h). */
  sha256(data: Buffer): string | null;
  /** Closes the file being written and frees the reader (idempotent). */
  tarClose(reader: TarReader): void;
  /**
   * TAR_PIPE: waits until every chunk handed over is parsed and written;
   * the failure of one of them not told yet, or null (native/tar.h tar_settle).
   */
  tarSettle(reader: TarReader): NativeFailure | null;
  /**
   * The members of an uncompressed tar (a path, opened O_NOFOLLOW, or an fd)
   * from its headers only, by tar.c's header rules (native/tarscan.c).
   * type: '0' regular file, '5' directory, the other tar type letters, 'S'
   * a sparse file (its data is not its contents). Offsets and sizes are
   * below 2^53. A failure with code EINVALIDTAR says in detail what is
   * wrong, at which byte, or that the file is cut short.
   */
  /** The members of an uncompressed tar from its headers (native/tarscan.c); the first `limit` only where given. */
  tarMembers(file: string | number, limit?: number): { members: TarMember[]; failure?: undefined } | { failure: NativeFailure };
  /** A zstd decompression stream over the system's libzstd (loaded at run time), or null where libzstd.so.1 is missing. */
  zstdOpen(): ZstdStream | null;
  /**
   * Decompresses chunk from pos on into a new 1 MiB buffer, its first
   * `length` bytes made: pos comes back advanced; call again while input is
   * left or the buffer came back full. frameDone: the data so far ends a
   * frame. Throws (code ERR_ZSTD) on corrupt input.
   */
  zstdFeed(stream: ZstdStream, chunk: Buffer, pos: number): { data: Buffer; length: number; pos: number; frameDone: boolean };
  /** A raw-deflate stream over the system's ISA-L (libisal.so.2, loaded at run time), or null where it is missing or failed its self-check. */
  isalOpen(): IsalStream | null;
  /** What a name starting with .wh. is as a marker (native/whiteout.h: the one rule the tar reader's direct path reads too). */
  whiteoutKind(name: string): 'none' | 'aufs' | 'opaque' | 'hides' | 'nothing';
  /** Inflates chunk from pos on into `out` (at most 1 MiB of it) or a new 1 MiB buffer, on this thread; throws (code ERR_ISAL) on corrupt data. */
  isalFeed(stream: IsalStream, chunk: Buffer, pos: number, out?: Buffer): IsalFed;
  /** isalFeed on libuv's pool; one call at a time per stream. `out`: the buffer to inflate into (at most 1 MiB of it), else a new one. */
  isalFeedAsync(stream: IsalStream, chunk: Buffer, pos: number, out?: Buffer): Promise<IsalFed>;
  /**
   * flock(2) on fd, shared or exclusive, waited for on a libuv thread (off
   * the event loop) where `wait`: resolves to 0 once held, or the errno
   * (EWOULDBLOCK without wait where another holds a conflicting lock).
   * Converting a held lock is not atomic (flock(2)): it may be released first.
   */
  flock(fd: number, exclusive: boolean, wait: boolean): Promise<number>;
  /** flock(2) without waiting: 'sh', 'ex' (EWOULDBLOCK where held), 'un'; the errno, 0 on success. */
  flockTry(fd: number, mode: 'sh' | 'ex' | 'un'): number;
}

// Shipped prebuilt (prebuildify --napi) or built at install time by
// node-gyp-build when no prebuild fits; LAYERCOPY_NATIVE names another
// build of it (the sanitizer job).
// A missing build does not fail the import (the CLI's --help and usage
// errors need none of it): the first use throws ERR_NATIVE_HELPER instead.
function load(): Native {
  try {
    if (process.env.LAYERCOPY_NATIVE) return require(process.env.LAYERCOPY_NATIVE);
    // The package root: above dist/src/core when built, above src/core when vitest runs the sources.
    const root = require('node:path').join(__dirname, __filename.endsWith('.cts') ? '../..' : '../../..');
    // node-gyp-build looks in build/Release first as well: going there
    // directly spares loading node-gyp-build itself, ~2 ms of every CLI run
    // (docs/benchmarks.md, "Startup"). Its two variables choose elsewhere.
    if (!process.env.LAYERCOPY_PREBUILD && !process.env.PREBUILDS_ONLY) {
      try {
        return require(`${root}/build/Release/layercopy_native.node`);
      } catch (error) {
        if ((error as { code?: string }).code !== 'MODULE_NOT_FOUND') throw error;
      }
    }
    // A prebuild shipped in the package (prebuilds/linux-<arch>/, glibc or
    // musl) where nothing was built here: node-gyp-build picks what fits.
    return require('node-gyp-build')(root);
  } catch (error) {
    const failure = Object.assign(
      new Error(
        `layercopy's native helper could not be loaded (${(error as Error).message.split('\n')[0]}): rebuild it with \`npm rebuild layercopy\` (needs python3, make and a C compiler)`,
      ),
      { code: 'ERR_NATIVE_HELPER', cause: error },
    );
    return new Proxy({} as Native, {
      get() {
        throw failure;
      },
    });
  }
}

export const native: Native = load();
