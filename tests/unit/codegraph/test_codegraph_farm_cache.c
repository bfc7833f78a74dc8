/*
 * test_codegraph_farm_cache.c - the parse farm with a result store, as
 * `gsperf analyze --distributed` runs with its cache: the run looks every
 * file up first and hands the farm only the misses; what the farm returns
 * is stored under the same keys a local run uses. A warm farmed run calls
 * the farm with no files and parses nothing; a local run is served by a
 * farmed run's entries and the other way round; after one file changes
 * the farm gets exactly that file; a file the farm leaves without a result
 * is skipped and not stored; files with the same content are farmed once.
 * Lookups run on the pool (TSan checks them).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "cg_dump.h"
#include "cg_run.h"
#include "cg_scratch.h"
#include "gsperf/cache.h"
#include "gsperf/codegraph.h"
#include "gsperf/exec.h"

typedef struct farm_ctx {
  unsigned calls;
  size_t n;
  char first[256]; /* path of the first file handed over */
  const char *skip;
  bool macros; /* parse with the learned macros handed over (farm_macros) */
} farm_ctx;

static int test_farm(void *user, const char *root, gsp_cg_farm_file *ff, size_t n) {
  farm_ctx *fc = user;
  fc->calls++, fc->n = n;
  if (n) snprintf(fc->first, sizeof fc->first, "%s", ff[0].path);
  cg_farm_how how = {.skip = fc->skip, .macros = fc->macros};
  assert_int_equal(cg_farm_parse(root, ff, n, &how), GSP_OK);
  for (size_t i = 0; i < n; i++) /* no names to a farm that ignores them */
    assert_true(fc->macros || ff[i].nmacros == 0);
  return GSP_OK;
}

typedef struct env {
  cg_scratch s;
  const char *root; /* s.tree: a copy of the fixture */
  gsp_cache *results;
  gsp_exec *ex;
} env;

static int setup(void **state) {
  env *e = calloc(1, sizeof *e);
  cg_scratch_make(&e->s, "cgfarmcache", CG_FIXTURE_DIR);
  e->root = e->s.tree;
  assert_int_equal(gsp_cache_create(&(gsp_cache_config){.max_entries = 1000}, &e->results), GSP_OK);
  assert_int_equal(gsp_exec_create(&(gsp_exec_config){.workers = 2}, &e->ex), GSP_OK);
  *state = e;
  return 0;
}

static int teardown(void **state) {
  env *e = *state;
  cg_scratch_drop(&e->s);
  gsp_cache_destroy(e->results);
  gsp_exec_destroy(e->ex);
  free(e);
  return 0;
}

/* One run over the copy, farmed when fc is set, with the cache given. */
static gsp_cg *analyze_with(env *e, farm_ctx *fc, gsp_cache *results, gsp_cg_stats *st) {
  const char *incs[] = {"c"};
  gsp_cg_config cfg = {.root = e->root,
                       .exec = e->ex,
                       .include_dirs = incs,
                       .n_include_dirs = 1,
                       .results = results,
                       .no_cache = results == NULL,
                       .farm = fc ? test_farm : NULL,
                       .farm_user = fc,
                       .farm_macros = fc && fc->macros};
  gsp_cg *cg = NULL;
  assert_int_equal(gsp_cg_create(&cfg, &cg), GSP_OK);
  assert_int_equal(gsp_cg_run(cg), GSP_OK);
  gsp_cg_stats_get(cg, st);
  return cg;
}

/* One run over the copy, farmed when fc is set, with the shared cache. */
static gsp_cg *analyze(env *e, farm_ctx *fc, gsp_cg_stats *st) {
  return analyze_with(e, fc, e->results, st);
}

static void assert_same_graph(const gsp_cg *a, const gsp_cg *b) {
  char *da = cg_dump(a), *db = cg_dump(b);
  assert_string_equal(da, db);
  free(da), free(db);
  assert_null(cg_check_invariants(b));
}

static void test_cold_then_warm(void **state) {
  env *e = *state;
  gsp_cg_stats sl, sc, sw;
  farm_ctx cold = {0}, warm = {0};
  gsp_cg *c = analyze(e, &cold, &sc);
  assert_int_equal(cold.calls, 1);
  assert_int_equal(cold.n, sc.files);
  assert_int_equal(sc.parsed, sc.files);
  assert_int_equal(sc.cache_misses, sc.files);
  assert_int_equal(sc.cache_hits, 0);
  gsp_cg *w = analyze(e, &warm, &sw);
  assert_int_equal(warm.calls, 1); /* called, with nothing to do */
  assert_int_equal(warm.n, 0);
  assert_int_equal(sw.parsed, 0);
  assert_int_equal(sw.cache_hits, sw.files);
  assert_same_graph(c, w);
  for (size_t f = 0; f < gsp_cg_nfiles(c); f++)
    assert_memory_equal(gsp_cg_file_hash(c, f), gsp_cg_file_hash(w, f), 16);
  /* a local run finds the farmed run's entries */
  gsp_cg *l = analyze(e, NULL, &sl);
  assert_int_equal(sl.parsed, 0);
  assert_int_equal(sl.cache_hits, sl.files);
  assert_same_graph(l, w);
  gsp_cg_destroy(c), gsp_cg_destroy(w), gsp_cg_destroy(l);
}

static void test_local_fills_farm_gets_changed(void **state) {
  env *e = *state;
  gsp_cg_stats sl, sf, sl2;
  gsp_cg_destroy(analyze(e, NULL, &sl));
  assert_int_equal(sl.parsed, sl.files);
  char path[256];
  snprintf(path, sizeof path, "%s/c/util.c", e->root);
  FILE *f = fopen(path, "a");
  assert_non_null(f);
  fputs("\nint util_extra(int x) { return x; }\n", f);
  fclose(f);
  farm_ctx fc = {0};
  gsp_cg *a = analyze(e, &fc, &sf);
  assert_int_equal(fc.n, 1);
  assert_string_equal(fc.first, "c/util.c");
  assert_int_equal(sf.parsed, 1);
  assert_int_equal(sf.cache_hits, sf.files - 1);
  gsp_cg *b = analyze(e, NULL, &sl2); /* the farmed result was stored */
  assert_int_equal(sl2.parsed, 0);
  assert_same_graph(a, b);
  gsp_cg_destroy(a), gsp_cg_destroy(b);
}

static void test_skipped_not_stored(void **state) {
  env *e = *state;
  gsp_cg_stats s1, s2;
  farm_ctx fc = {.skip = "c/util.h"}, again = {0};
  gsp_cg *a = analyze(e, &fc, &s1);
  assert_int_equal(s1.files_skipped, 1);
  assert_int_equal(s1.parsed, s1.files - 1);
  long u = gsp_cg_file_find(a, "c/util.h");
  assert_true(u >= 0);
  assert_null(gsp_cg_file_result(a, (size_t)u));
  gsp_cg *b = analyze(e, &again, &s2);
  assert_int_equal(again.n, 1);
  assert_string_equal(again.first, "c/util.h");
  assert_int_equal(s2.files_skipped, 0);
  gsp_cg_destroy(a), gsp_cg_destroy(b);
}

static void test_no_cache_farms_everything(void **state) {
  env *e = *state;
  gsp_cg_stats st;
  gsp_cg_destroy(analyze(e, NULL, &st)); /* fills the cache */
  const char *incs[] = {"c"};
  farm_ctx fc = {0};
  gsp_cg_config cfg = {.root = e->root,
                       .exec = e->ex,
                       .include_dirs = incs,
                       .n_include_dirs = 1,
                       .results = e->results,
                       .no_cache = true,
                       .farm = test_farm,
                       .farm_user = &fc};
  gsp_cg *cg = NULL;
  assert_int_equal(gsp_cg_create(&cfg, &cg), GSP_OK);
  assert_int_equal(gsp_cg_run(cg), GSP_OK);
  gsp_cg_stats_get(cg, &st);
  assert_int_equal(fc.n, st.files);
  assert_int_equal(st.parsed, st.files);
  assert_int_equal(st.cache_hits, 0);
  gsp_cg_destroy(cg);
}

/* Files with the same content are farmed once; the copies count as hits
 * and the graph is the local run's. */
static void test_duplicates_farmed_once(void **state) {
  env *e = *state;
  char cmd[1024];
  snprintf(cmd, sizeof cmd,
           "cp '%s/c/util.h' '%s/c/util_copy.h' && cp '%s/py/pkg/core.py' '%s/core2.py'", e->root,
           e->root, e->root, e->root);
  assert_int_equal(system(cmd), 0);
  gsp_cg_stats sf, sl;
  farm_ctx fc = {0};
  gsp_cg *a = analyze(e, &fc, &sf);
  assert_int_equal(fc.n, sf.files - 2);
  assert_int_equal(sf.parsed, sf.files - 2);
  assert_int_equal(sf.cache_hits, 2);
  assert_int_equal(sf.cache_misses, sf.files - 2);
  assert_int_equal(sf.files_skipped, 0);
  long c = gsp_cg_file_find(a, "c/util_copy.h"), o = gsp_cg_file_find(a, "c/util.h");
  assert_true(c >= 0 && o >= 0);
  assert_memory_equal(gsp_cg_file_hash(a, (size_t)c), gsp_cg_file_hash(a, (size_t)o), 16);
  gsp_cache_destroy(e->results); /* a local run from scratch */
  assert_int_equal(gsp_cache_create(&(gsp_cache_config){.max_entries = 1000}, &e->results), GSP_OK);
  gsp_cg *b = analyze(e, NULL, &sl);
  assert_same_graph(b, a);
  gsp_cg_destroy(a), gsp_cg_destroy(b);
}

static void write_file(const char *path, const char *text) {
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  fputs(text, f);
  fclose(f);
}

static bool file_has_error(const gsp_cg *cg, const char *path) {
  long f = gsp_cg_file_find(cg, path);
  assert_true(f >= 0);
  return gsp_cg_result_has_error(gsp_cg_file_result(cg, (size_t)f));
}

/* A header teaches an annotation macro to its includer. A farm that does
 * not say it honours learned macros gets none and its results are keyed by
 * content alone: a later local run does not take them for the includer
 * (no poisoned store). A farm that honours them parses as a local run
 * does, and a local run after it is served by its entries. */
static void test_learned_macros(void **state) {
  env *e = *state;
  char path[256];
  snprintf(path, sizeof path, "%s/c/teach.h", e->root);
  write_file(path, "#define API __attribute__((visibility(\"default\")))\n");
  snprintf(path, sizeof path, "%s/c/taught.c", e->root);
  write_file(path, "#include \"teach.h\"\nint f(void) API;\nint g(int x) API { return x; }\n");
  gsp_cg_stats s0, s1, s2, s3, s4;
  gsp_cg *ref = analyze_with(e, NULL, NULL, &s0); /* local, no store */
  assert_false(file_has_error(ref, "c/taught.c"));

  farm_ctx ignoring = {0};
  gsp_cg *fi = analyze(e, &ignoring, &s1);
  assert_true(file_has_error(fi, "c/taught.c")); /* parsed without the names */
  gsp_cg *l1 = analyze(e, NULL, &s2);
  assert_true(s2.parsed >= 1); /* the includer's entry was not the farm's */
  assert_same_graph(ref, l1);

  gsp_cache_destroy(e->results);
  assert_int_equal(gsp_cache_create(&(gsp_cache_config){.max_entries = 1000}, &e->results), GSP_OK);
  farm_ctx honouring = {.macros = true};
  gsp_cg *fh = analyze(e, &honouring, &s3);
  assert_int_equal(honouring.n, s3.files);
  assert_same_graph(ref, fh);
  gsp_cg *l2 = analyze(e, NULL, &s4);
  assert_int_equal(s4.parsed, 0);
  assert_same_graph(ref, l2);
  for (size_t f = 0; f < gsp_cg_nfiles(ref); f++)
    assert_memory_equal(gsp_cg_file_hash(fh, f), gsp_cg_file_hash(ref, f), 16);
  gsp_cg_destroy(ref), gsp_cg_destroy(fi), gsp_cg_destroy(l1);
  gsp_cg_destroy(fh), gsp_cg_destroy(l2);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_cold_then_warm, setup, teardown),
      cmocka_unit_test_setup_teardown(test_local_fills_farm_gets_changed, setup, teardown),
      cmocka_unit_test_setup_teardown(test_skipped_not_stored, setup, teardown),
      cmocka_unit_test_setup_teardown(test_no_cache_farms_everything, setup, teardown),
      cmocka_unit_test_setup_teardown(test_duplicates_farmed_once, setup, teardown),
      cmocka_unit_test_setup_teardown(test_learned_macros, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
