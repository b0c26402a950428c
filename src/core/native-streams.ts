// The native helper's tar readers, members, decompression streams and threaded hashes, as src/core/native.cts hands them out.

/** An opaque native tar reader (src/images/extract.ts; freed when closed or collected). */
export type TarReader = { readonly tar: unique symbol };
/** A tar reader's restart (native/tar.h): ERESTARTHIDDEN, read the layer again without the claims set; ERESTARTLAYER, into a scratch directory. */
export type TarRestart = 'ERESTARTLAYER' | 'ERESTARTHIDDEN';
/** An opaque native SHA-256 fed on a thread of its own (src/images/blob.ts; freed when collected). */
export type NativeHash = { readonly hash: unique symbol };
/** The native helper's SHA-256 on a thread of its own (native/hashpipe.h), as src/core/native.cts hands it out. */
export interface NativeHashing {
  /** A hash fed on a thread of its own; null where tarHashes() is false. */
  hashOpen(): NativeHash | null;
  /** Hands a copy of chunk to the hash's thread (throws ENOMEM, or after hashDigest). */
  hashFeed(hash: NativeHash, chunk: Buffer): void;
  /** "sha256:<hex>" of every byte fed, once the thread is done; the thread ends. */
  hashDigest(hash: NativeHash): string;
  /** Ends the thread and frees the hash (idempotent); later calls on it throw EBADF. */
  hashClose(hash: NativeHash): void;
}
/** The native helper's gzip pump (native/pump.h), as src/core/native.cts hands it out; F: its failures' shape (NativeFailure). */
export interface NativePumping<F> {
  /**
   * A gzip blob (fd, borrowed, from `start`, `length` bytes or -1 for the
   * rest of the file) read, hashed into `hash`, inflated by ISA-L and fed to
   * `reader` (TAR_PIPE) on a thread of the helper's (native/pump.h);
   * progress[slot]: the bytes read so far; follow: a download's progress
   * (src/images/follow.ts), read as far as it is written. status: 0 done; -1 no ISA-L
   * (nothing read); 1 not one plain gzip member (read it through zlib's
   * gunzip), 2 bad gzip data (message; code ERR_ISAL where ISA-L said so), 3 the reader's failure, 4 reading
   * or hashing the blob failed (failure), 5 cancelled. The reader is then
   * to be finished or closed.
   */
  tarPump(
    reader: TarReader,
    fd: number,
    start: number,
    length: number,
    hash: NativeHash | null,
    cancel?: Int32Array,
    progress?: BigInt64Array,
    slot?: number,
    follow?: BigInt64Array,
  ): Promise<{ status: -1 | 0 | 1 | 2 | 3 | 4 | 5; read: number; message?: string; code?: 'ERR_ISAL'; failure?: F }>;
  /**
   * A plain-HTTP body received into a file on a thread of the helper's
   * (native/receive.h): `length` bytes written at `position` in the file
   * fd, `head` first (what was read already), then what is read from the
   * socket fd (both dup'ed in the call: the caller may close its own);
   * progress[0] the bytes on file as each write ends. errno and syscall
   * where it failed (ECANCELED: the flag; ETIMEDOUT: silent idleMs); fewer
   * bytes without them: the peer ended the body. With `splice`, moved
   * through a pipe (`spliced`: it was; a socket that refuses is read).
   */
  receiveInto(
    sock: number,
    out: number,
    position: number,
    length: number,
    head: Buffer | null,
    progress: BigInt64Array | null,
    cancel: Int32Array | null,
    idleMs: number,
    splice: boolean,
  ): Promise<{ received: number; spliced: boolean; errno?: number; syscall?: string }>;
}

/** What a tar reader's tree holds, counted as the plan counts a layer it copies (native/write.h, write_tally). */
export interface TarTree {
  entries: number;
  directories: number;
  hardlinks: number;
  bytes: number;
}

/** A member of a tar file: its data is `size` bytes at `offset` of the file. */
export interface TarMember {
  name: string;
  type: string;
  offset: number;
  size: number;
}

/** An opaque native zstd stream (freed when collected). */
export type ZstdStream = { readonly zstd: unique symbol };
export type IsalStream = { readonly isal: unique symbol };
/** What one isalFeed made (native/isal.h): `data`'s first `length` bytes; pos advanced; done: the final block ended, `held` bytes before pos. */
export type IsalFed = { data: Buffer; length: number; pos: number; done: boolean; held: number };
