/*
 * resolve_int.h - what the import resolvers share: path helpers
 * (resolve_imports.c) and the JavaScript/TypeScript resolver with its
 * per-run workspace index (resolve_js.c).
 */
#ifndef GSP_CG_RESOLVE_INT_H
#define GSP_CG_RESOLVE_INT_H

#include "cg_int.h"

#define PATH_MAX_CG 4096

/* The last '/' in s[0, n), or NULL. */
const char *gsp__cg_last_slash(const char *s, size_t n);
/* Append rel[0,rl) to out (holding a normalized relative dir of length *n);
 * fold "." and ".."; false if it climbs above the root or is too long. */
bool gsp__cg_path_append(char *out, size_t *n, const char *rel, size_t rl);
/* The length of path's directory part (0 at the root). */
size_t gsp__cg_dir_len(const char *path);

/* A path index: the file at path[0, len), or -1. */
typedef long (*cg_path_lookup)(const void *ctx, const char *path, size_t len);
/* Where `#include <module>` (kind system) or `"module"` (quoted) of the
 * file at path `from` leads: the include search order of
 * resolve_imports.c, each candidate looked up with look (NULL: the
 * graph's files). */
long gsp__cg_resolve_include_in(const gsp_cg *cg, const char *from, gsp_cg_import_kind kind,
                                const char *module, cg_path_lookup look, const void *ctx);
/* resolve_macro_inc.c: every `#include NAME` of the C files, once the
 * other imports are resolved. GSP_ENOMEM. */
int gsp__cg_macro_includes(gsp_cg *cg);

/* The workspace packages of the tree: every package.json with a "name"
 * whose directory a "workspaces" pattern of a package.json above it
 * matches, sorted by name (then root). Built once before the parallel
 * resolution, read only during it. */
typedef struct cg_ws_member {
  const char *name; /* the package's "name" (in the result of pj) */
  uint32_t pj;      /* its package.json */
  uint32_t root;    /* the package.json whose "workspaces" names it */
} cg_ws_member;

typedef struct cg_js_index {
  cg_ws_member *m;
  size_t n;
} cg_js_index;

/* GSP_OK or GSP_ENOMEM (ix then empty). */
int gsp__cg_js_index_build(const gsp_cg *cg, cg_js_index *ix);
void gsp__cg_js_index_free(cg_js_index *ix);

/* The file an import of a JavaScript/TypeScript file (or of a JSON
 * project file: its own entries) leads to, or -1. require: the import is a
 * require() (its record has CG_IMP_REQUIRE): a package's "require"
 * conditions apply, not its "import" ones. */
long gsp__cg_resolve_js(const gsp_cg *cg, const cg_js_index *ix, const cg_file *f,
                        const gsp_cg_import *im, bool require);
/* Whether a package.json record's alias is one of the condition variants
 * of an "exports" entry ("", "types", "require", "types-require"). */
bool gsp__cg_exports_alias(const char *alias);

#endif
