// The tar header rules, in one place for both readers of tars: the
// streaming extractor of layers (tar.c) and the scanner of archive members
// (tarscan.c). A header block's checksum, magic and numbers; where a block
// read where a header belongs ends the archive; the GNU and PAX records
// that come before a header and what they change: its name, its link
// target, its size; which types carry data.
//
// The rules follow Go's archive/tar, which containerd and umoci read
// layers with, and which docker save and skopeo write archives with.
#ifndef LAYERCOPY_TARHDR_H
#define LAYERCOPY_TARHDR_H
#include <stddef.h>
#include <stdint.h>

#define TARHDR_BLOCK 512
// Go's archive/tar caps PAX and GNU long-name records at 1 MiB
// (maxSpecialFileSize): a header claiming more is refused, not buffered.
#define TARHDR_MAX_SPECIAL (1 << 20)

// What a header block says before its entry's fields are read.
typedef struct {
  char type;     // the typeflag byte, as written
  int ustar;     // POSIX ustar magic: the prefix field extends the name
  int v7;        // no magic: no device fields
  int64_t size;  // the size field: the data, or the records, that follow
} tarhdr;

// The numeric fields of an entry's header (ustar devices: 0 for v7).
typedef struct {
  int64_t mode, uid, gid, mtime, devmajor, devminor;
} tarhdr_meta;

// GNU long-name ('L') and long-link ('K') records and PAX ('x') records
// read, waiting for the header they belong to. A second of a kind before
// that header replaces the first (Go's archive/tar).
typedef struct {
  char *long_name, *long_link;
  char *pax;
  size_t pax_len;
} tarhdr_pending;

// One PAX record: key and sval are owned copies (sval ends at the value's
// first NUL, if any), val and vlen the value's bytes as written.
typedef struct {
  char *key, *sval;
  const char *val;
  size_t vlen;
} tarhdr_kv;

// A numeric header field: octal (spaces and NULs around it), or base-256
// when the high bit of its first byte is set (GNU, star). -1 when invalid.
int tarhdr_num(const uint8_t *p, size_t n, int64_t *out);
int tarhdr_zero(const uint8_t *b, size_t n);

// What a block read where a header belongs is. Two zero blocks end the
// archive; a lone zero block before a header is an error, and so is a zero
// block right after records that wait for their header. *zero_before: the
// previous block was a first zero block (kept up to date here).
enum { TARHDR_HEADER, TARHDR_ZERO, TARHDR_END, TARHDR_LONE_ZERO, TARHDR_ORPHAN_RECORDS };
int tarhdr_place(const uint8_t *b, int *zero_before, const tarhdr_pending *p);

// A header block's checksum (unsigned or signed bytes, both accepted), magic
// and size, into *h. NULL, or what is wrong ("bad checksum (…)").
const char *tarhdr_check(const uint8_t *b, tarhdr *h);
// Whether the type is a record for the next header ('x', 'L', 'K') or a
// global PAX header ('g': read and not applied: Go's archive/tar hands it
// to its caller as an entry of its own, and umoci and containerd skip it).
int tarhdr_is_record(char type);
// A record's size within the cap: 0, or -1 with *why written.
int tarhdr_record_bound(const tarhdr *h, uint64_t at, char *why, size_t why_len);
// A record read whole (buf malloc'd, len bytes, NUL at buf[len]), taken for
// the next header; a global header's is freed.
void tarhdr_keep(tarhdr_pending *p, char type, char *buf, size_t len);
int tarhdr_pending_any(const tarhdr_pending *p);
void tarhdr_pending_free(tarhdr_pending *p);

// An entry header's numeric fields. NULL, or what is wrong.
const char *tarhdr_fields(const uint8_t *b, const tarhdr *h, tarhdr_meta *m);
// The entry's name (a GNU long name, else the ustar prefix and name, else
// the name field) and link target (a GNU long link, else the linkname
// field), malloc'd; the GNU records are taken from p. -1: out of memory.
int tarhdr_names(const uint8_t *b, const tarhdr *h, tarhdr_pending *p, char **name, char **link);

// The next record of PAX records ("LEN key=value\n" each) at *p, len *left
// bytes: 1 with *kv filled (free with tarhdr_kv_free) and *p, *left moved
// past it; 0 at the end; -1 when malformed; -2 when out of memory.
int tarhdr_pax_next(const char **p, size_t *left, tarhdr_kv *kv);
void tarhdr_kv_free(tarhdr_kv *kv);
// A PAX decimal without sign. -1 when invalid.
int tarhdr_pax_uint(const char *v, int64_t *out);
// The records that place an entry: path and linkpath replace *name and
// *link (kv->sval is taken), size replaces *size. 1 when applied, 0 for
// another key, -1 with *why written when invalid.
int tarhdr_pax_place(tarhdr_kv *kv, char **name, char **link, uint64_t *size, char *why, size_t why_len);

// The type an entry is: NUL is a regular file, or a directory when its name
// ends with '/'; '7' (contiguous) is a regular file.
char tarhdr_kind(char type, const char *name);
// Links, symlinks, devices, directories and FIFOs carry no data whatever
// their size field says (Go's archive/tar, isHeaderOnlyType).
int tarhdr_header_only(char kind);
// Bytes of padding after n bytes of data, to the next block.
uint64_t tarhdr_pad(uint64_t n);

#endif
