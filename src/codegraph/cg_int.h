/*
 * cg_int.h - internals shared by the code-graph sources: the per-file
 * result's record layout, the builder the extractors fill, the result
 * store seam, and the gsp_cg handle.
 */
#ifndef GSP_CG_INT_H
#define GSP_CG_INT_H

#include <stdatomic.h>
#include <stdint.h>

#include "gsperf/codegraph.h"

/* ---- per-file result (result.c) ---- */

#define CG_RESULT_MAGIC "GSCR"
/* Version 2: JavaScript/TypeScript results, Python variable reads, C
 * calls through struct fields, the C macro pre-pass. The version seeds the
 * result store's keys, so results of an older extractor are never served. */
/* Version 3: Python class attributes, attribute reads, base-class flags.
 * Version 4: Python attributes set in any method, package.json
 * name/workspaces/types/typings, tsconfig references/outDir/rootDir,
 * exports target lists and Node's condition order. */
/* Version 5: C includes through a macro (`#include FOO_H`, level 1) and
 * header-path macros (`#define FOO_H <foo.h>`, level 2); require()
 * imports flagged (CG_IMP_REQUIRE); package.json condition variants per
 * kind of reference (alias "require", "types-require"), tsconfig
 * rootDirs; C export macros blanked by their place (c_macros.c). */
/* Version 6: package.json "imports" (#x) condition variants per kind of
 * reference (alias "imports-types", "imports-require",
 * "imports-types-require"). */
#define CG_RESULT_VERSION 6u
/* The highest gsp_cg_lang a result may carry. */
#define CG_LANG_MAX GSP_CG_LANG_JSON

typedef struct cg_hdr {
  char magic[4];
  uint16_t version;
  uint8_t lang;
  uint8_t flags; /* bit 0: syntax errors */
  uint32_t lines;
  uint32_t ndefs, nrefs, nimports;
  uint32_t strtab_len;
  uint32_t reserved;
  uint64_t checksum;  /* XXH3-64 of every byte after the header */
  uint64_t total_len; /* header included */
} cg_hdr;

typedef struct cg_def_rec {
  uint32_t name, line;
  int32_t parent;
  uint8_t kind, pad[3];
} cg_def_rec;

typedef struct cg_ref_rec {
  uint32_t name, qual, line;
  int32_t scope;
  uint8_t kind, pad[3];
} cg_ref_rec;

typedef struct cg_imp_rec {
  uint32_t module, name, alias, line;
  uint8_t kind, level, pad[2];
} cg_imp_rec;

/* cg_ref_rec.pad[0] flags. CG_REF_BASE: a Python base class in a class
 * statement; its scope is that class. */
#define CG_REF_BASE 1u
/* cg_imp_rec.pad[0] flags. CG_IMP_REQUIRE: a JavaScript/TypeScript
 * require() (also `import x = require()`), which takes the "require"
 * conditions of a package's "exports". */
#define CG_IMP_REQUIRE 1u
/* C import levels: 0 an #include, CG_C_VIA_MACRO `#include NAME` (module =
 * the macro's name), CG_C_PATH_MACRO `#define NAME <x.h>` (module = the
 * path, name = NAME; a definition, never an edge). */
#define CG_C_VIA_MACRO 1u
#define CG_C_PATH_MACRO 2u

_Static_assert(sizeof(cg_hdr) == 48, "cg_hdr layout");
_Static_assert(sizeof(cg_def_rec) == 16, "cg_def_rec layout");
_Static_assert(sizeof(cg_ref_rec) == 20, "cg_ref_rec layout");
_Static_assert(sizeof(cg_imp_rec) == 20, "cg_imp_rec layout");

/* Typed views into a result block. */
const cg_hdr *gsp__cg_hdr(const gsp_cg_result *r);
const cg_def_rec *gsp__cg_defs(const gsp_cg_result *r);
const cg_ref_rec *gsp__cg_refs(const gsp_cg_result *r);
const cg_imp_rec *gsp__cg_imps(const gsp_cg_result *r);
const char *gsp__cg_strs(const gsp_cg_result *r);

/* ---- builder (result.c), filled by the extractors (extract_*.c) ---- */

typedef struct cg_builder {
  cg_def_rec *defs;
  size_t ndefs, cdefs;
  cg_ref_rec *refs;
  size_t nrefs, crefs;
  cg_imp_rec *imps;
  size_t nimps, cimps;
  char *str;
  size_t nstr, cstr;
  uint32_t *slots; /* intern table: string offset, 0 = empty slot */
  uint8_t *marks;  /* per slot: a flag the extractor may set (globals seen) */
  size_t cslots, nslots_used;
  int err; /* first failure; later additions are no-ops */
} cg_builder;

void gsp__cg_builder_init(cg_builder *b);
void gsp__cg_builder_reset(cg_builder *b);
void gsp__cg_builder_free(cg_builder *b);
/* Intern s[0,n); returns its offset (0 for an empty string or on failure). */
uint32_t gsp__cg_intern(cg_builder *b, const char *s, size_t n, size_t *slot);
/* Append a record; returns its index or -1 on failure. */
int32_t gsp__cg_add_def(cg_builder *b, uint32_t name, gsp_cg_def_kind k, uint32_t line,
                        int32_t parent);
void gsp__cg_add_ref(cg_builder *b, uint32_t name, uint32_t qual, gsp_cg_ref_kind k, uint32_t line,
                     int32_t scope);
void gsp__cg_add_import(cg_builder *b, const cg_imp_rec *rec);
/* Check buf[0,len) (from gsp_malloc) as gsp_cg_result_load does and, if it
 * is sound, make it the result without a copy (*out takes buf). GSP_ECORRUPT
 * leaves buf to the caller. */
int gsp__cg_result_adopt(void *buf, size_t len, gsp_cg_result **out);
/* The same for bytes whose integrity a store has checked already (the
 * tier's record checksum covers them): every check but the checksum. */
int gsp__cg_result_adopt_intact(void *buf, size_t len, gsp_cg_result **out);
/* Pack into a new result block. */
int gsp__cg_builder_finish(cg_builder *b, gsp_cg_lang lang, bool has_error, uint32_t lines,
                           gsp_cg_result **out);

/* ---- extractors (extract_c.c, extract_py.c) ---- */

typedef struct TSTree TSTree;
typedef struct TSLanguage TSLanguage;
typedef struct cg_lang_tab cg_lang_tab; /* per-language symbol/field tables */

int gsp__cg_tab_create(gsp_cg_lang lang, const TSLanguage *l, cg_lang_tab **out);
void gsp__cg_tab_destroy(cg_lang_tab *t);
void gsp__cg_extract_c(const cg_lang_tab *t, const TSTree *tree, const char *src, cg_builder *b);
void gsp__cg_extract_py(const cg_lang_tab *t, const TSTree *tree, const char *src, cg_builder *b);
/* extract_js.c: JavaScript, TypeScript and TSX (one extractor, three grammars). */
void gsp__cg_extract_js(const cg_lang_tab *t, const TSTree *tree, const char *src, cg_builder *b);
/* extract_pkg.c: a package.json (no tree-sitter): its entry points as
 * imports; false when it is not valid JSON. */
bool gsp__cg_extract_pkg(const char *src, size_t len, cg_builder *b);

/* ---- result store seam (store.c) ----
 * Per-file results by key (XXH3-128 of the content, seeded by language and
 * format version). get returns a new result or GSP_ENOENT; put copies the
 * bytes. Both are called from worker threads at once. get_blob/put_blob
 * (NULL when the store keeps only results) hold other values by key: the
 * whole-tree resolution (resolve_cache.c). */
typedef struct cg_store {
  int (*get)(void *user, const uint8_t key[16], gsp_cg_result **out);
  int (*put)(void *user, const uint8_t key[16], const gsp_cg_result *r);
  int (*get_blob)(void *user, const uint8_t key[16], void **val, size_t *len);
  int (*put_blob)(void *user, const uint8_t key[16], const void *val, size_t len);
  void *user;
} cg_store;

/* The store cfg names (store, else results); GSP_ENOENT when none. */
int gsp__cg_store_open(const gsp_cg_config *cfg, cg_store *out);

/* ---- the graph handle ---- */

#include "gsperf/mem.h"

typedef struct cg_target {
  uint32_t file; /* target file + 1, 0 = unresolved */
  uint32_t def;
} cg_target;

typedef struct cg_file {
  const char *path; /* relative to the root, '/'-separated; in cg->arena */
  uint64_t size;
  gsp_cg_lang lang;
  uint8_t hash[16];
  gsp_cg_result *res;    /* NULL when the file could not be read */
  int32_t *imp_target;   /* per import: file index or -1 */
  cg_target *ref_target; /* per reference */
  /* stat_index.c: the walk's lstat of the file, and whether the stat index
   * vouched for hash (same stat as when it was last hashed, not racy) */
  uint64_t dev, ino;
  int64_t mtime_ns, ctime_ns;
  bool stat_known;
} cg_file;

struct gsp_cg {
  gsp_cg_config cfg;
  char *root;       /* as given, without trailing '/' */
  char *root_pkg;   /* the root's name when it holds __init__.py, else NULL */
  char **incs;      /* include dirs relative to root ("" = root), NULL if outside */
  gsp_arena *arena; /* paths */
  cg_file *files;
  size_t nfiles, cfiles;
  uint32_t *pslots; /* path hash: file index + 1, 0 = empty */
  size_t cpslots;
  uint32_t *dep_off, *dep, *rdep_off, *rdep; /* CSR, nfiles + 1 offsets */
  uint32_t *comp_of, *comp_off, *comp_files;
  uint8_t *comp_cycle;
  size_t ncomp;
  gsp_cg_stats st;
  uint8_t inputs_key[16]; /* gsp__cg_inputs_key, set by the resolve stage */
  bool ran;
  char *db_path;      /* cfg.db's copy */
  struct cg_dbw *dbw; /* the database writer while the run has one (db.c) */
  int db_rv;          /* its outcome, once db_written */
  bool db_written;    /* the run wrote cfg.db (or found it current) */
  /* The order the database writer wants the files parsed in (its id
   * order; set by gsp__cg_dbw_start before the parse, NULL without a
   * writer): rows arrive in key order, appended, not inserted, and the
   * writer, which always takes the files in this order, keeps pace with
   * the parse instead of waiting for its end. */
  const size_t *parse_order;
  /* walk.c: regular files without an extension (relative paths in the
   * arena), candidates for C++ standard-style headers; resolve_cxx.c
   * makes those an #include names files of the graph. */
  const char **cands;
  size_t ncands, ccands;
  size_t cxx_headers; /* how many became files */
  /* walk.c: the tree's directories on a network or FUSE mount below a
   * local root (netfs.h; in the arena), NULL when there is none. */
  struct cg_netdir *netdirs;
  /* hmacro.c: the C pre-scan's notes (resolve_cxx.c) and, from the parse
   * stage on, each C file's names learned from its includes; NULL = none */
  struct cg_hm *hm;
  /* The stored resolution's manifest and sections (resolve_cache.c), kept
   * while files use them: borrowed[f] bit 0 / bit 1 = file f's import /
   * reference targets point into them (not allocated one by one). */
  void **rv_slabs;
  size_t nrv_slabs;
  uint8_t *borrowed;
  char err[512];
  int64_t walk_real_ns; /* CLOCK_REALTIME when the walk began (stat index) */
  char warn[512];       /* gsp_cg_warning: a problem the run worked around */
};

void gsp__cg_seterr(gsp_cg *cg, const char *fmt, ...) GSP_PRINTF(2, 3);
/* walk.c: fill cg->files (unsorted) with the source files under the root. */
int gsp__cg_walk_tree(gsp_cg *cg);
/* analyze.c: index of a relative path, or -1; path hash built by gsp__cg_index_paths. */
long gsp__cg_lookup(const gsp_cg *cg, const char *path, size_t len);
int gsp__cg_index_paths(gsp_cg *cg);
/* analyze.c: fn over [0, n) in chunks of grain, on the pool and the calling
 * thread, or on the calling thread alone when ex is NULL (one job). */
int gsp__cg_for(gsp_exec *ex, size_t n, size_t grain, gsp_exec_range_fn fn, void *user);
/* Threads that run a gsp__cg_for: the pool's workers and the caller. */
unsigned gsp__cg_threads(gsp_exec *ex);
/* hmacro.c: free cg->hm (any time; again is a no-op). */
void gsp__cg_hm_free(gsp_cg *cg);
/* hmacro.c, from the parse stage on: file f's content hash (its hash is
 * the identity of its result, content and learned names, once its result
 * is final when it parsed with names learned from its includes). */
const uint8_t *gsp__cg_hm_content(const gsp_cg *cg, size_t f);
/* resolve_cxx.c: after the walk, before the files are sorted: the
 * extension-less candidates an #include of a C file (or of such a header,
 * transitively) resolves to become C files of the graph. */
int gsp__cg_cxx_headers(gsp_cg *cg, gsp_exec *ex);
/* parse_stage.c: read, hash, look up or parse every file. */
/* parse_stage.c: the parse order of n files whose work is sizes[p] at
 * position p of the base order (the writer's id order or path order):
 * perm[p] = the base position of the file parsed at position p. The
 * large files that would otherwise start when less than twice their size
 * per thread is left are moved, largest first, to positions 0, grain,
 * 2 x grain, ... so no thread parses one alone at the end. perm holds 2n
 * (the second half is scratch). Returns the number moved (0: perm[p] = p). */
size_t gsp__cg_plan_order(const uint64_t *sizes, size_t n, unsigned threads, size_t grain,
                          size_t *perm);
int gsp__cg_parse_stage(gsp_cg *cg, gsp_exec *ex);
/* parse_stage.c: read path whole into buf[0, cap) with read(2): GSP_OK and
 * *len, GSP_EIO when it cannot be opened, GSP_ERANGE when it holds cap
 * bytes or more (it grew since its size was taken). */
int gsp__cg_read_into(const char *path, char *buf, size_t cap, size_t *len);
/* farm.c: the parse stage done by cfg.farm. */
int gsp__cg_farm_stage(gsp_cg *cg);
/* Tell the stage hook, if any. */
static inline void gsp__cg_hook(const gsp_cg *cg, gsp_cg_stage s, uint64_t ns, int status,
                                bool cached) {
  if (cg->cfg.stage_hook) cg->cfg.stage_hook(cg->cfg.stage_user, s, ns, status, cached);
}
/* resolve.c */
int gsp__cg_resolve_imports(gsp_cg *cg, gsp_exec *ex);
int gsp__cg_bind_refs(gsp_cg *cg, gsp_exec *ex);
/* graph.c */
int gsp__cg_build_edges(gsp_cg *cg);
int gsp__cg_components(gsp_cg *cg);
/* resolve_cache.c: the hash of everything resolution reads (paths,
 * languages, content hashes, include dirs, root package): the tree's inputs. */
void gsp__cg_inputs_key(const gsp_cg *cg, uint8_t key[16]);
/* The resolution of the whole tree, stored by the tree's layout (every
 * path, language, read or not, include dirs, root package; no contents):
 * read back as the prior below. save: best effort; the key argument is
 * unused (the layout names the entry). */
void gsp__cg_resolution_save(gsp_cg *cg, const cg_store *st, const uint8_t key[16]);
void gsp__cg_layout_key(const gsp_cg *cg, uint8_t key[16]);
/* The stored resolution of an earlier run with the same layout (the prior),
 * for re-resolving only what a change can reach. */
typedef struct cg_prior {
  void *blob;       /* the stored manifest (in cg->rv_slabs) */
  uint8_t *changed; /* per file: content differs from the prior's */
  size_t nchanged;
  size_t *imp_off;     /* per file: its first import target */
  const int32_t *imps; /* into blob */
  cg_target **refs;    /* per file: its reference targets, in a stored section */
} cg_prior;
/* GSP_OK (p filled, p->changed set), GSP_ENOENT (none usable), GSP_ENOMEM. */
int gsp__cg_prior_load(gsp_cg *cg, const cg_store *st, cg_prior *p);
void gsp__cg_prior_free(cg_prior *p);
/* Free every file's import and reference targets (the ones borrowed from
 * the stored sections with the sections). */
void gsp__cg_targets_free(gsp_cg *cg);
/* Nothing changed: every target from the prior (GSP_ENOENT, nothing set,
 * if one is out of range). */
int gsp__cg_prior_restore_all(gsp_cg *cg, const cg_prior *p);
/* Something changed: every file's import targets, the prior's for an
 * unchanged C or Python file (they depend on the layout and the file
 * alone), resolved again for the others. Before gsp__cg_build_edges. */
int gsp__cg_prior_imports(gsp_cg *cg, gsp_exec *ex, const cg_prior *p);
/* Something changed, imports resolved and edges built: *todo (gsp_malloc,
 * per file) marks the files to bind again, *n how many of them were read;
 * every other file's ref_target is restored from the prior. */
int gsp__cg_prior_affected(gsp_cg *cg, const cg_prior *p, uint8_t **todo, size_t *n);
/* resolve_refs.c: bind the references of the files with only[f] != 0
 * (NULL = all); every other file's ref_target must be set already. */
int gsp__cg_bind_refs_only(gsp_cg *cg, gsp_exec *ex, const uint8_t *only);
/* Test hook: called with the set of files an incremental bind will index
 * (want[f] = 1), which it may narrow, to show that a lookup outside the set
 * makes the bind start again with every file. NULL in normal runs. */
extern void (*gsp__cg_bind_want_hook)(uint8_t *want, size_t nfiles);

/* unresolved.c: the unresolved import specifiers, most frequent first
 * (ties: language, then specifier): up to k into out (*nout of them), and
 * how many distinct ones there are (*ndistinct, may be NULL). Settings and
 * patterns of package.json / tsconfig files are no specifiers. Strings
 * live as long as cg. Call after gsp_cg_run. GSP_ENOMEM. */
typedef gsp_cg_unresolved cg_unresolved; /* codegraph.h */
int gsp__cg_unresolved_top(const gsp_cg *cg, size_t k, cg_unresolved *out, size_t *nout,
                           size_t *ndistinct);

/* db.c: the database writer of a run with cfg.db, overlapping the run.
 * start (after the walk; the file list is final), then ready(f) from the
 * parse workers as each file's result is final, phase() as the run gets
 * past each point below, finish() last on every path (run_rv != GSP_OK
 * cancels the write): it waits for the file and returns the run's status
 * or the write's. */
enum { CG_DB_PARSED = 1, CG_DB_IMPORTS = 2, CG_DB_BOUND = 3, CG_DB_GRAPH = 4 };
int gsp__cg_dbw_start(gsp_cg *cg);
void gsp__cg_dbw_ready(gsp_cg *cg, size_t f);
void gsp__cg_dbw_phase(gsp_cg *cg, int phase);
int gsp__cg_dbw_finish(gsp_cg *cg, int run_rv);

/* stat_index.c: the stat index of a tree (per path: device, inode, size,
 * mtime, ctime -> content hash, from the last run) in the store's cache
 * directory, so that a file whose stat is unchanged is not read or hashed.
 * load: with a store that has a cache directory, sets stat_known and hash
 * of every file the index vouches for (a missing index: none; a damaged
 * one: none, and cg->warn names it). save (after the parse stage): writes
 * the index of this run's hashed files atomically, unless nothing changed.
 * Both are no-ops without an index path. */
typedef struct cg_stat_index {
  char *path;    /* NULL = no index this run */
  size_t loaded; /* entries the file held */
  size_t known;  /* files it vouched for */
  bool valid;    /* a sound index was loaded */
} cg_stat_index;
void gsp__cg_stat_index_load(gsp_cg *cg, cg_stat_index *ix);
void gsp__cg_stat_index_save(gsp_cg *cg, cg_stat_index *ix);
void gsp__cg_stat_index_free(cg_stat_index *ix);

#endif
