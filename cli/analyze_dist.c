/*
 * analyze_dist.c - `gsperf analyze --distributed` over MPI (gsperf/dist.h).
 *
 * The tool does not link the dist library (nor, through it, Open MPI):
 * analyze_dist_open loads libgsperf_dist.so.N with dlopen(RTLD_NOW |
 * RTLD_GLOBAL; Open MPI's components need libmpi's symbols global) and
 * resolves the gsp_dist_* functions it calls into a table, so a run
 * without --distributed never maps libmpi, open-pal, open-rte or libevent.
 * The library is GSPERF_DIST_LIBRARY when set, else the first that exists
 * of: next to this executable (the build tree), ../LIBDIR relative to it
 * (an install), else the bare name through the loader's search path.
 * libgsperf_dist carries its own reference to libgsperf.so (found through
 * its RUNPATH), whose state (allocator hooks, executors) is separate from
 * the tool's static copy: only plain memory and opaque handles of the dist
 * library cross between them, and both allocate with the C library.
 *
 * Every rank registers the task "cg.parse". Rank 0 runs the analysis with
 * a parse farm (gsp_cg_config.farm) that makes one task per file and calls
 * gsp_dist_map once; the other ranks call gsp_dist_map with no inputs,
 * which serves tasks until rank 0 is done. If rank 0's run fails before
 * its parse stage, analyze_dist_close makes the empty map that releases
 * the workers, so every rank makes exactly one map.
 *
 * Task input: one byte, the language, then the file's path (root/path,
 * NUL-terminated). Task output: the 16-byte content hash, then the
 * serialized result (gsp_cg_result_bytes); no output at all when the file
 * cannot be read (rank 0 then counts it as skipped, as the local run does).
 *
 * Data: the handle holds the function table (filled once by open), and a
 * stack of parsers, one per pool thread that has run a task, under a
 * mutex (tasks run concurrently on each rank's pool).
 * Invariants: the table is complete before any gsp_dist_* call; a parser
 * is used by one task at a time; every parser is destroyed by
 * analyze_dist_close; the library stays loaded until the process exits
 * (MPI cannot be re-initialized, so it is never dlclose'd).
 */
#include <dlfcn.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "analyze_dist.h"
#include "gsperf/dist.h"

#define TASK "cg.parse"
#define MAX_PARSERS 256
#define BATCH 64 /* files per message: fewer round trips; measured best of 4..256 */

/* The dist library's file name and where an install puts it relative to
 * the executable (set by src/dist/module.cmake). */
#ifndef GSP_DIST_LIBNAME
#error "GSP_DIST_LIBNAME must name libgsperf_dist's run-time file (src/dist/module.cmake)"
#endif
#ifndef GSP_DIST_LIBDIR_REL
#define GSP_DIST_LIBDIR_REL "../lib"
#endif

typedef struct dist_api {
  __typeof__(gsp_dist_create) *create;
  __typeof__(gsp_dist_destroy) *destroy;
  __typeof__(gsp_dist_register) *reg;
  __typeof__(gsp_dist_rank) *rank;
  __typeof__(gsp_dist_size) *size;
  __typeof__(gsp_dist_is_master) *is_master;
  __typeof__(gsp_dist_uses_mpi) *uses_mpi;
  __typeof__(gsp_dist_map) *map;
  __typeof__(gsp_dist_results_free) *results_free;
} dist_api;

struct analyze_dist {
  dist_api api;
  gsp_dist *d;
  bool mapped; /* this rank has made its one map */
  pthread_mutex_t mu;
  gsp_cg_parser *parsers[MAX_PARSERS];
  size_t nparsers;
};

static gsp_cg_parser *take_parser(analyze_dist *a) {
  gsp_cg_parser *p = NULL;
  pthread_mutex_lock(&a->mu);
  if (a->nparsers > 0) p = a->parsers[--a->nparsers];
  pthread_mutex_unlock(&a->mu);
  if (p == NULL && gsp_cg_parser_create(&p) != GSP_OK) p = NULL;
  return p;
}

static void give_parser(analyze_dist *a, gsp_cg_parser *p) {
  pthread_mutex_lock(&a->mu);
  if (a->nparsers < MAX_PARSERS) a->parsers[a->nparsers++] = p, p = NULL;
  pthread_mutex_unlock(&a->mu);
  gsp_cg_parser_destroy(p);
}

/* The task: read, hash and parse one file, with the annotation macros it
 * learned from its includes (the names after its path). */
static int parse_task(void *user, const void *in, size_t in_len, void **out, size_t *out_len) {
  const char *s = in;
  *out = NULL, *out_len = 0;
  if (in_len < 3 || s[in_len - 1] != '\0') return GSP_EINVAL;
  analyze_dist *a = user;
  gsp_cg_parser *p = take_parser(a);
  if (p == NULL) return GSP_ENOMEM;
  size_t nnames = 0, first = strlen(s) + 1;
  for (size_t at = first; at < in_len; at += strlen(s + at) + 1) nnames++;
  const char **names = gsp_malloc((nnames + 1) * sizeof *names);
  if (names == NULL) {
    give_parser(a, p);
    return GSP_ENOMEM;
  }
  nnames = 0;
  for (size_t at = first; at < in_len; at += strlen(s + at) + 1) names[nnames++] = s + at;
  uint8_t hash[16];
  gsp_cg_result *r = NULL;
  int rv = gsp_cg_parse_file_with(p, s + 1, (gsp_cg_lang)(unsigned char)s[0], 0, names, nnames,
                                  hash, &r);
  gsp_free(names);
  give_parser(a, p);
  if (rv == GSP_EIO) return GSP_OK; /* unreadable: skipped */
  if (rv != GSP_OK) return rv;
  size_t len = 0;
  const void *bytes = gsp_cg_result_bytes(r, &len);
  char *o = gsp_malloc(16 + len);
  if (o != NULL) memcpy(o, hash, 16), memcpy(o + 16, bytes, len);
  gsp_cg_result_free(r);
  if (o == NULL) return GSP_ENOMEM;
  *out = o, *out_len = 16 + len;
  return GSP_OK;
}

/* The first readable candidate for the library into path: the
 * environment's choice, next to the executable, or in ../LIBDIR; false
 * (path = the bare name, for the loader's search path) when none is. */
static bool find_library(char *path, size_t cap, char *exe_dir, size_t dcap) {
  const char *env = getenv("GSPERF_DIST_LIBRARY");
  exe_dir[0] = '\0';
  if (env && *env) return snprintf(path, cap, "%s", env) < (int)cap;
  ssize_t n = readlink("/proc/self/exe", exe_dir, dcap - 1);
  exe_dir[n > 0 ? n : 0] = '\0';
  char *slash = strrchr(exe_dir, '/');
  if (slash != NULL) {
    *slash = '\0';
    static const char *const rel[] = {"", "/" GSP_DIST_LIBDIR_REL};
    for (size_t i = 0; i < sizeof rel / sizeof rel[0]; i++) {
      int w = snprintf(path, cap, "%s%s/%s", exe_dir, rel[i], GSP_DIST_LIBNAME);
      if (w > 0 && (size_t)w < cap && access(path, R_OK) == 0) return true;
    }
  } else {
    exe_dir[0] = '\0';
  }
  snprintf(path, cap, "%s", GSP_DIST_LIBNAME);
  return false;
}

static bool resolve(void *lib, const char *sym, void **slot) {
  *slot = dlsym(lib, sym);
  if (*slot == NULL) fprintf(stderr, "gsperf analyze: --distributed: %s\n", dlerror());
  return *slot != NULL;
}

/* Load the dist library (and with it Open MPI) and fill a->api; false
 * after printing which file could not be loaded and why. */
static bool load_api(analyze_dist *a) {
  char path[PATH_MAX], dir[PATH_MAX];
  bool found = find_library(path, sizeof path, dir, sizeof dir);
  void *lib = dlopen(path, RTLD_NOW | RTLD_GLOBAL);
  if (lib == NULL) {
    fprintf(stderr, "gsperf analyze: --distributed needs %s and Open MPI (libopenmpi3)\n",
            GSP_DIST_LIBNAME);
    if (!found && dir[0] != '\0')
      fprintf(stderr, "gsperf analyze: not in %s nor %s/%s\n", dir, dir, GSP_DIST_LIBDIR_REL);
    fprintf(stderr, "gsperf analyze: cannot load %s: %s\n", path, dlerror());
    return false;
  }
  dist_api *t = &a->api;
  return resolve(lib, "gsp_dist_create", (void **)&t->create) &&
         resolve(lib, "gsp_dist_destroy", (void **)&t->destroy) &&
         resolve(lib, "gsp_dist_register", (void **)&t->reg) &&
         resolve(lib, "gsp_dist_rank", (void **)&t->rank) &&
         resolve(lib, "gsp_dist_size", (void **)&t->size) &&
         resolve(lib, "gsp_dist_is_master", (void **)&t->is_master) &&
         resolve(lib, "gsp_dist_uses_mpi", (void **)&t->uses_mpi) &&
         resolve(lib, "gsp_dist_map", (void **)&t->map) &&
         resolve(lib, "gsp_dist_results_free", (void **)&t->results_free);
}

int analyze_dist_open(analyze_dist **out) {
  analyze_dist *a = gsp_calloc(1, sizeof *a);
  if (a == NULL) return fprintf(stderr, "gsperf analyze: %s\n", gsp_strerror(GSP_ENOMEM)), 1;
  pthread_mutex_init(&a->mu, NULL);
  a->mapped = true; /* nothing to release until the workers exist */
  if (!load_api(a)) {
    analyze_dist_close(a);
    return 1;
  }
  int rv = a->api.create(&(gsp_dist_config){.mode = GSP_DIST_AUTO, .batch = BATCH}, &a->d);
  if (rv == GSP_OK) rv = a->api.reg(a->d, TASK, parse_task, a);
  if (rv != GSP_OK) {
    fprintf(stderr, "gsperf analyze: --distributed: %s\n", gsp_strerror(rv));
    analyze_dist_close(a);
    return 1;
  }
  a->mapped = false;
  *out = a;
  return 0;
}

bool analyze_dist_is_worker(const analyze_dist *a) { return !a->api.is_master(a->d); }
int analyze_dist_size(const analyze_dist *a) { return a->api.size(a->d); }

int analyze_dist_serve(analyze_dist *a) {
  a->mapped = true;
  int rv = a->api.map(a->d, TASK, 0, NULL, NULL);
  if (rv != GSP_OK)
    fprintf(stderr, "gsperf analyze: rank %d: %s\n", a->api.rank(a->d), gsp_strerror(rv));
  return rv == GSP_OK ? 0 : 1;
}

/* Inputs for n files: "<lang>root/path\0" each, followed by the names of
 * the annotation macros the file learned from its includes, each "\0"-
 * terminated, in one block. */
static int make_inputs(const char *root, const gsp_cg_farm_file *ff, size_t n, char **block,
                       gsp_dist_input *in) {
  size_t rl = strlen(root), total = 0;
  for (size_t i = 0; i < n; i++) {
    total += rl + strlen(ff[i].path) + 3;
    for (size_t m = 0; m < ff[i].nmacros; m++) total += strlen(ff[i].macros[m]) + 1;
  }
  char *b = gsp_malloc(total + 1);
  if (b == NULL) return GSP_ENOMEM;
  size_t at = 0;
  for (size_t i = 0; i < n; i++) {
    size_t start = at;
    at += (size_t)sprintf(b + at, "%c%s/%s", (char)ff[i].lang, root, ff[i].path) + 1;
    for (size_t m = 0; m < ff[i].nmacros; m++)
      at += (size_t)sprintf(b + at, "%s", ff[i].macros[m]) + 1;
    in[i] = (gsp_dist_input){.data = b + start, .len = at - start};
  }
  *block = b;
  return GSP_OK;
}

static int take_results(gsp_cg_farm_file *ff, size_t n, const gsp_dist_result *res) {
  for (size_t i = 0; i < n; i++) {
    if (res[i].data == NULL) continue; /* unreadable: skipped */
    if (res[i].len < 16) return GSP_ECORRUPT;
    memcpy(ff[i].hash, res[i].data, 16);
    int rv = gsp_cg_result_load((const char *)res[i].data + 16, res[i].len - 16, &ff[i].res);
    if (rv != GSP_OK) return rv;
  }
  return GSP_OK;
}

/* The parse farm on rank 0: one task per file, results in file order. */
static int farm(void *user, const char *root, gsp_cg_farm_file *ff, size_t n) {
  analyze_dist *a = user;
  gsp_dist_input *in = gsp_calloc(n + 1, sizeof *in);
  gsp_dist_result *res = gsp_calloc(n + 1, sizeof *res);
  char *block = NULL;
  int rv = in && res ? make_inputs(root, ff, n, &block, in) : GSP_ENOMEM;
  a->mapped = true;
  /* Map even on failure (with no inputs) so that the workers stop. */
  int mrv = a->api.map(a->d, TASK, rv == GSP_OK ? n : 0, rv == GSP_OK ? in : NULL,
                       rv == GSP_OK ? res : NULL);
  if (rv == GSP_OK) rv = mrv;
  if (rv == GSP_OK) rv = take_results(ff, n, res);
  if (res) a->api.results_free(res, n);
  gsp_free(res), gsp_free(in), gsp_free(block);
  return rv;
}

void analyze_dist_apply(analyze_dist *a, gsp_cg_config *cfg) {
  if (a->api.uses_mpi(a->d) && a->api.size(a->d) > 1) {
    cfg->farm = farm;
    cfg->farm_user = a;
    cfg->farm_macros = true; /* parse_task parses with the names */
  }
}

void analyze_dist_close(analyze_dist *a) {
  if (a == NULL) return;
  if (a->d && !a->mapped && a->api.is_master(a->d))
    (void)a->api.map(a->d, TASK, 0, NULL, NULL); /* release the workers */
  if (a->d) a->api.destroy(a->d);
  for (size_t i = 0; i < a->nparsers; i++) gsp_cg_parser_destroy(a->parsers[i]);
  pthread_mutex_destroy(&a->mu);
  gsp_free(a);
}
