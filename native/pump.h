// A gzip layer read, hashed, inflated and fed to its tar reader without
// JavaScript in the loop: on a thread of its own, the blob read from its
// file in 1 MiB reads, handed to its sha256 (native/hashpipe.h), inflated
// by ISA-L straight into the tar reader's queue (native/tarpipe.h), whose
// thread hashes the tar and writes it. The member read as
// src/images/decompress.ts's gunzipRaw reads one (its header here, the
// deflate data raw, the trailer's length checked, no CRC: the diff_id
// covers every byte); any other shape is told back (PUMP_FALLBACK) so that
// the layer is read again through zlib's gunzip.
#ifndef LAYERCOPY_PUMP_H
#define LAYERCOPY_PUMP_H
#include "common.h"
#include "hashpipe.h"
#include "tar.h"

#include <stdint.h>

enum {
  PUMP_OK = 0,
  PUMP_FALLBACK,  // message: not one plain member this reads (read again through zlib)
  PUMP_DATA,      // message: the gzip data is bad (zlib's words where it has them)
  PUMP_TAR,       // f: the tar reader failed (tar_feed's failure)
  PUMP_READ,      // f: reading the blob (or hashing it) failed
  PUMP_CANCELED,  // the cancel flag was set
};

typedef struct {
  // In: the reader (TAR_PIPE, its thread running), the blob's file and
  // where it starts, `length` bytes from there (-1: to the end of the
  // file), the blob's hash (NULL: none), the cancel flag, and where the
  // bytes read so far go (NULL: nowhere).
  tar_reader *tar;
  int fd;
  uint64_t start;
  int64_t length;
  hash_pipe *hash;
  const int32_t *cancel;
  int64_t *progress;
  // A blob still being written (src/images/follow.ts): follow[0] the bytes
  // written so far, follow[1] the writer's state (0 running, 1 done, 2
  // failed); read as far as written, waiting 2 ms where caught up; a failed
  // writer stops the reading as the cancel flag does. NULL: a whole file.
  const int64_t *follow;
  // Set by another thread: stop at the next chunk, as the cancel flag (the
  // caller's environment is being torn down).
  int stop;
  // Out.
  int status;
  uint64_t read;      // bytes of the blob read (and hashed)
  char message[160];  // PUMP_FALLBACK, PUMP_DATA
  int inflater;       // PUMP_DATA: the message is ISA-L's (isalFeed throws it with code ERR_ISAL)
  failure f;          // PUMP_TAR, PUMP_READ
} pump_job;

// Runs the job on the calling thread to its end; sets status. 0, or -1
// where ISA-L cannot be loaded (nothing read: the caller inflates itself).
int pump_run(pump_job *j);

#endif
