// SHA-256 through the OpenSSL that the Node binary carries and exports
// (EVP_*, found with dlsym at run time: nothing linked, no headers), so a
// thread of the helper can hash what it is fed. Where the symbols are
// missing (a runtime that does not export them) or fail the self-check,
// sha256_new gives NULL and the caller hashes in JS instead.
#ifndef LAYERCOPY_SHA256_H
#define LAYERCOPY_SHA256_H
#include <stddef.h>

typedef struct sha256_ctx sha256_ctx;

// Whether hashing is available here.
int sha256_available(void);
// A new context, or NULL (not available, or no memory).
sha256_ctx *sha256_new(void);
void sha256_update(sha256_ctx *c, const void *data, size_t len);
// "sha256:" and 64 hex digits into out (72 bytes); 0, or -1 on failure.
int sha256_final(sha256_ctx *c, char out[72]);
void sha256_free(sha256_ctx *c);

#endif
