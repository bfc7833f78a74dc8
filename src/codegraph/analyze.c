/*
 * analyze.c - gsp_cg: one analysis of one directory, stage by stage.
 *
 *   walk     walk.c: the source files, sorted by path (files are numbered
 *            in that order, so every later output is deterministic)
 *   parse    read, hash (XXH3-128), look up the result store, else parse and
 *            extract (one gsp_cg_parser per worker, taken from a free list
 *            per chunk of files) and put the result into the store;
 *            gsp_exec_parallel_for over the files
 *   resolve  resolve.c: imports to files, then (after the file edges exist)
 *            references to definitions, both parallel over files
 *   graph    graph.c: CSR adjacency both ways, Tarjan components, order
 *
 * Data: one cg_file per file holds its path (in an arena), its result
 * (one block) and its resolution arrays (two blocks). Nothing is allocated
 * per syntax node. The source text lives only while its file is parsed,
 * in a read buffer that belongs to the parser slot and is reused.
 *
 * Invariants after gsp_cg_run: files sorted by path and unique; every
 * resolved import and reference points at an existing file/definition.
 */
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <xxhash.h>

#include "cg_int.h"

#define DEFAULT_MAX_FILE ((size_t)16 << 20)

void gsp__cg_seterr(gsp_cg *cg, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(cg->err, sizeof cg->err, fmt, ap);
  va_end(ap);
}

static char *join_root(const char *root, const char *dir) {
  size_t rl = strlen(root), dl = strlen(dir);
  if (dir[0] == '/') { /* absolute: usable only below the root */
    if (strncmp(dir, root, rl) != 0 || (dir[rl] != '/' && dir[rl] != '\0')) return NULL;
    dir += rl;
    while (*dir == '/') dir++;
    dl = strlen(dir);
  }
  while (dl > 0 && dir[dl - 1] == '/') dl--;
  if (dl == 1 && dir[0] == '.') dl = 0;
  char *s = gsp_malloc(dl + 1);
  if (s) memcpy(s, dir, dl), s[dl] = '\0';
  return s;
}

int gsp_cg_create(const gsp_cg_config *cfg, gsp_cg **out) {
  if (out == NULL) return GSP_EINVAL;
  *out = NULL;
  gsp_cg *cg = gsp_calloc(1, sizeof *cg);
  if (cg == NULL) return GSP_ENOMEM;
  if (cfg) cg->cfg = *cfg;
  const char *root = cg->cfg.root ? cg->cfg.root : ".";
  size_t rl = strlen(root);
  while (rl > 1 && root[rl - 1] == '/') rl--;
  cg->root = gsp_malloc(rl + 1);
  cg->incs = gsp_calloc(cg->cfg.n_include_dirs + 1, sizeof *cg->incs);
  int rv = cg->root && cg->incs ? gsp_arena_create(NULL, &cg->arena) : GSP_ENOMEM;
  cg->cfg.db = NULL; /* copied below */
  if (rv != GSP_OK) goto fail;
  memcpy(cg->root, root, rl), cg->root[rl] = '\0';
  for (size_t i = 0; i < cg->cfg.n_include_dirs; i++) {
    if (cg->cfg.include_dirs[i] == NULL) continue;
    cg->incs[i] = join_root(cg->root, cg->cfg.include_dirs[i]);
  }
  cg->cfg.root = cg->root;
  cg->cfg.include_dirs = NULL;
  if (cfg && cfg->db && (cg->db_path = gsp_strdup(cfg->db)) == NULL) goto fail;
  cg->cfg.db = cg->db_path;
  if (cg->cfg.max_file_bytes == 0) cg->cfg.max_file_bytes = DEFAULT_MAX_FILE;
  *out = cg;
  return GSP_OK;
fail:
  gsp_cg_destroy(cg);
  return GSP_ENOMEM;
}

void gsp_cg_destroy(gsp_cg *cg) {
  if (cg == NULL) return;
  gsp__cg_targets_free(cg);
  gsp__cg_hm_free(cg);
  for (size_t i = 0; i < cg->nfiles; i++) gsp_cg_result_free(cg->files[i].res);
  for (size_t i = 0; cg->incs && i < cg->cfg.n_include_dirs; i++) gsp_free(cg->incs[i]);
  gsp_free(cg->incs);
  gsp_free(cg->files);
  gsp_free((void *)cg->cands);
  gsp_free(cg->pslots);
  gsp_free(cg->dep_off), gsp_free(cg->dep), gsp_free(cg->rdep_off), gsp_free(cg->rdep);
  gsp_free(cg->comp_of), gsp_free(cg->comp_off), gsp_free(cg->comp_files);
  gsp_free(cg->comp_cycle);
  gsp_arena_destroy(cg->arena);
  gsp_free(cg->root_pkg);
  gsp_free(cg->root);
  gsp_free(cg->db_path);
  gsp_free(cg);
}

const char *gsp_cg_errmsg(const gsp_cg *cg) { return cg ? cg->err : ""; }

/* ---- path index ---- */

static size_t path_hash(const char *p, size_t n) { return (size_t)XXH3_64bits(p, n); }

/* The root directory's own name, for a root that is a Python package. */
static int root_package(gsp_cg *cg) {
  char *real = realpath(cg->root, NULL);
  if (real == NULL) return GSP_OK; /* then absolute imports of it stay unresolved */
  const char *base = strrchr(real, '/');
  base = base ? base + 1 : real;
  bool named = base[0] != '\0';
  cg->root_pkg = named ? gsp_strdup(base) : NULL;
  free(real);
  return named && cg->root_pkg == NULL ? GSP_ENOMEM : GSP_OK;
}

int gsp__cg_index_paths(gsp_cg *cg) {
  size_t cap = 16;
  while (cap < cg->nfiles * 2) cap *= 2;
  cg->pslots = gsp_calloc(cap, sizeof *cg->pslots);
  if (cg->pslots == NULL) return GSP_ENOMEM;
  cg->cpslots = cap;
  for (size_t i = 0; i < cg->nfiles; i++) {
    size_t h = path_hash(cg->files[i].path, strlen(cg->files[i].path)) & (cap - 1);
    while (cg->pslots[h]) h = (h + 1) & (cap - 1);
    cg->pslots[h] = (uint32_t)i + 1;
  }
  return gsp__cg_lookup(cg, "__init__.py", 11) >= 0 ? root_package(cg) : GSP_OK;
}

long gsp__cg_lookup(const gsp_cg *cg, const char *path, size_t len) {
  if (cg->cpslots == 0) return -1;
  size_t mask = cg->cpslots - 1;
  for (size_t h = path_hash(path, len) & mask; cg->pslots[h]; h = (h + 1) & mask) {
    const char *p = cg->files[cg->pslots[h] - 1].path;
    if (strncmp(p, path, len) == 0 && p[len] == '\0') return (long)cg->pslots[h] - 1;
  }
  return -1;
}

/* ---- running on the pool ---- */

int gsp__cg_for(gsp_exec *ex, size_t n, size_t grain, gsp_exec_range_fn fn, void *user) {
  if (ex == NULL) return n ? fn(user, 0, n) : GSP_OK;
  return gsp_exec_parallel_for(ex, n, grain, fn, user);
}

unsigned gsp__cg_threads(gsp_exec *ex) { return ex ? gsp_exec_workers(ex) + 1 : 1; }

/* ---- run ---- */

static int cmp_file(const void *a, const void *b) {
  return strcmp(((const cg_file *)a)->path, ((const cg_file *)b)->path);
}

static void count_results(gsp_cg *cg) {
  gsp_cg_stats *st = &cg->st;
  for (size_t i = 0; i < cg->nfiles; i++) {
    const gsp_cg_result *r = cg->files[i].res;
    if (r == NULL) continue;
    st->files_c += cg->files[i].lang == GSP_CG_LANG_C;
    st->files_python += cg->files[i].lang == GSP_CG_LANG_PYTHON;
    st->files_js += cg->files[i].lang == GSP_CG_LANG_JS;
    st->files_ts += cg->files[i].lang == GSP_CG_LANG_TS || cg->files[i].lang == GSP_CG_LANG_TSX;
    st->files_json += cg->files[i].lang == GSP_CG_LANG_JSON;
    st->files_with_errors += gsp_cg_result_has_error(r);
    st->lines += gsp_cg_result_lines(r);
    st->defs += gsp_cg_result_ndefs(r);
    st->refs += gsp_cg_result_nrefs(r);
    st->imports += gsp_cg_result_nimports(r);
  }
}

/* Nothing changed since the stored resolution: take it whole. */
static int resolve_cached(gsp_cg *cg, const cg_prior *p, uint64_t t0) {
  int rv = gsp__cg_prior_restore_all(cg, p);
  if (rv != GSP_OK) return rv;
  cg->st.resolve_cached = true;
  gsp__cg_hook(cg, GSP_CG_STAGE_IMPORTS, gsp_now_ns() - t0, rv, true);
  gsp__cg_hook(cg, GSP_CG_STAGE_TYPES, 0, rv, true);
  rv = gsp__cg_build_edges(cg);
  if (rv == GSP_OK) gsp__cg_dbw_phase(cg, CG_DB_BOUND);
  return rv;
}

/* References: all bound, or (with a prior) only where a change reaches. */
static int bind_stage(gsp_cg *cg, gsp_exec *ex, const cg_prior *p) {
  uint8_t *todo = NULL;
  size_t n = 0;
  int rv = p ? gsp__cg_prior_affected(cg, p, &todo, &n) : GSP_OK;
  if (rv != GSP_OK) return rv;
  if (todo == NULL)
    for (size_t i = 0; i < cg->nfiles; i++) n += cg->files[i].res != NULL;
  cg->st.files_reresolved = n;
  cg->st.resolve_incremental = todo != NULL;
  rv = gsp__cg_bind_refs_only(cg, ex, todo);
  gsp_free(todo);
  return rv;
}

/* Imports, file edges, references: from the store when the tree's inputs
 * are unchanged, in part when some files changed, else computed; then
 * stored. */
static int resolve_stage(gsp_cg *cg, gsp_exec *ex) {
  cg_store st;
  cg_prior prior = {0};
  uint64_t t0 = gsp_now_ns();
  gsp__cg_inputs_key(cg, cg->inputs_key);
  bool stored = !cg->cfg.no_cache && gsp__cg_store_open(&cg->cfg, &st) == GSP_OK;
  int rv = stored ? gsp__cg_prior_load(cg, &st, &prior) : GSP_ENOENT;
  bool have = rv == GSP_OK;
  if (have && prior.nchanged == 0) {
    rv = resolve_cached(cg, &prior, t0);
    if (rv != GSP_ENOENT) {
      gsp__cg_prior_free(&prior);
      return rv;
    }
    have = false; /* unusable: resolve it all */
  }
  if (rv != GSP_OK && rv != GSP_ENOENT) return rv;
  rv = have ? gsp__cg_prior_imports(cg, ex, &prior) : gsp__cg_resolve_imports(cg, ex);
  if (rv == GSP_OK) rv = gsp__cg_build_edges(cg);
  uint64_t t1 = gsp_now_ns();
  gsp__cg_hook(cg, GSP_CG_STAGE_IMPORTS, t1 - t0, rv, false);
  if (rv != GSP_OK) {
    gsp__cg_prior_free(&prior);
    return rv;
  }
  gsp__cg_dbw_phase(cg, CG_DB_IMPORTS);
  rv = bind_stage(cg, ex, have ? &prior : NULL);
  gsp__cg_prior_free(&prior);
  if (rv == GSP_OK) gsp__cg_dbw_phase(cg, CG_DB_BOUND);
  if (rv == GSP_OK && stored) gsp__cg_resolution_save(cg, &st, cg->inputs_key);
  gsp__cg_hook(cg, GSP_CG_STAGE_TYPES, gsp_now_ns() - t1, rv, false);
  return rv;
}

static int run_stages(gsp_cg *cg, gsp_exec *ex) {
  uint64_t t0 = gsp_now_ns();
  int rv = gsp__cg_walk_tree(cg);
  if (rv == GSP_OK) rv = gsp__cg_cxx_headers(cg, ex); /* extension-less headers included */
  if (rv != GSP_OK) return rv;
  if (cg->nfiles > 1) qsort(cg->files, cg->nfiles, sizeof *cg->files, cmp_file);
  cg->st.files = cg->nfiles;
  for (size_t i = 0; i < cg->nfiles; i++) cg->st.bytes += cg->files[i].size;
  rv = gsp__cg_index_paths(cg);
  if (rv == GSP_OK && cg->cfg.db) rv = gsp__cg_dbw_start(cg);
  uint64_t t1 = gsp_now_ns();
  cg->st.walk_ns = t1 - t0;
  if (rv == GSP_OK) rv = gsp__cg_parse_stage(cg, ex);
  uint64_t t2 = gsp_now_ns();
  cg->st.parse_ns = t2 - t1;
  if (rv != GSP_OK) return rv;
  gsp__cg_dbw_phase(cg, CG_DB_PARSED);
  count_results(cg);
  rv = resolve_stage(cg, ex);
  uint64_t t3 = gsp_now_ns();
  cg->st.resolve_ns = t3 - t2;
  if (rv == GSP_OK) rv = gsp__cg_components(cg);
  cg->st.graph_ns = gsp_now_ns() - t3;
  if (rv == GSP_OK) gsp__cg_hook(cg, GSP_CG_STAGE_GRAPH, cg->st.graph_ns, rv, false);
  return rv;
}

/* The pool for cfg.jobs threads: jobs - 1 workers, as the calling thread
 * takes part in every parallel loop; none at all for one job. */
static int own_pool(gsp_cg *cg, gsp_exec **out) {
  unsigned jobs = cg->cfg.jobs ? cg->cfg.jobs : gsp_exec_default_workers();
  *out = NULL;
  if (jobs <= 1) return GSP_OK;
  int rv = gsp_exec_create(&(gsp_exec_config){.workers = jobs - 1}, out);
  if (rv != GSP_OK)
    gsp__cg_seterr(cg, "cannot start %u worker threads: %s", jobs - 1, gsp_strerror(rv));
  return rv;
}

int gsp_cg_run(gsp_cg *cg) {
  if (cg == NULL) return GSP_EINVAL;
  if (cg->ran) return GSP_ESTATE;
  cg->ran = true;
  gsp_exec *ex = cg->cfg.exec;
  int rv = ex ? GSP_OK : own_pool(cg, &ex);
  if (rv != GSP_OK) return rv;
  cg->st.workers = gsp__cg_threads(ex);
  rv = run_stages(cg, ex);
  rv = gsp__cg_dbw_finish(cg, rv);
  if (rv != GSP_OK && cg->err[0] == '\0') gsp__cg_seterr(cg, "%s: %s", cg->root, gsp_strerror(rv));
  if (ex != cg->cfg.exec) gsp_exec_destroy(ex);
  return rv;
}

/* ---- accessors ---- */

const char *gsp_cg_stage_name(gsp_cg_stage s) {
  static const char *const names[GSP_CG_STAGES] = {"read",  "parse", "imports",
                                                   "types", "graph", "database"};
  return (unsigned)s < GSP_CG_STAGES ? names[s] : "unknown";
}

void gsp_cg_stats_get(const gsp_cg *cg, gsp_cg_stats *out) { *out = cg->st; }
size_t gsp_cg_nfiles(const gsp_cg *cg) { return cg->nfiles; }
const char *gsp_cg_file_path(const gsp_cg *cg, size_t f) { return cg->files[f].path; }
long gsp_cg_file_find(const gsp_cg *cg, const char *path) {
  while (path[0] == '.' && path[1] == '/') path += 2;
  return gsp__cg_lookup(cg, path, strlen(path));
}
const gsp_cg_result *gsp_cg_file_result(const gsp_cg *cg, size_t f) { return cg->files[f].res; }
const uint8_t *gsp_cg_file_hash(const gsp_cg *cg, size_t f) { return cg->files[f].hash; }

long gsp_cg_import_target(const gsp_cg *cg, size_t f, size_t i) {
  return cg->files[f].imp_target ? cg->files[f].imp_target[i] : -1;
}

bool gsp_cg_ref_target(const gsp_cg *cg, size_t f, size_t i, size_t *tf, size_t *td) {
  const cg_target *t = cg->files[f].ref_target;
  if (t == NULL || t[i].file == 0) return false;
  *tf = t[i].file - 1;
  *td = t[i].def;
  return true;
}
