// What the tar layers of one provision hold, as they are read at once on
// several threads (native/tar.c): for a name, the highest layer with an
// entry there, with a whiteout of it, and with an opaque marker in it. A
// lower layer's file that a higher layer already hides gets no data: the
// plan never takes it (docs/design.md, "Hidden files get no data").
#ifndef LAYERCOPY_CLAIMS_H
#define LAYERCOPY_CLAIMS_H
#include "common.h"

typedef struct claims claims;

// A new set, by id (> 0); -1 when out of memory or too many are open.
int claims_open(void);
// No new reader takes the set; it is freed when the last one lets it go.
void claims_close(int id);
// The set of id, held until claims_put; NULL when there is none.
claims *claims_get(int id);
void claims_put(claims *c);
// layer has an entry at rel; a whiteout of rel (.wh.NAME: rel is its
// directory's rel / NAME); an opaque marker in the directory rel.
int claims_entry(claims *c, const char *rel, int layer);
int claims_whiteout(claims *c, const char *rel, int layer);
int claims_opaque(claims *c, const char *rel, int layer);
// 1 when a layer above `layer` hides rel, as far as is known yet: an entry
// at rel, a whiteout of rel or of a directory above it, an opaque marker in
// a directory above it. Each of these hides rel whatever else the layers
// hold, so a yes never turns into a no.
int claims_hidden(claims *c, const char *rel, int layer);

#endif
