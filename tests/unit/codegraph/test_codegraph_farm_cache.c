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
#include "gsperf/cache.h"
#include "gsperf/codegraph.h"
#include "gsperf/exec.h"

typedef struct farm_ctx {
  unsigned calls;
  size_t n;
  char first[256]; /* path of the first file handed over */
  const char *skip;
} farm_ctx;

static int test_farm(void *user, const char *root, gsp_cg_farm_file *ff, size_t n) {
  farm_ctx *fc = user;
  fc->calls++, fc->n = n;
  if (n) snprintf(fc->first, sizeof fc->first, "%s", ff[0].path);
  gsp_cg_parser *p = NULL;
  assert_int_equal(gsp_cg_parser_create(&p), GSP_OK);
  for (size_t i = 0; i < n; i++) {
    if (fc->skip && strcmp(ff[i].path, fc->skip) == 0) continue;
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", root, ff[i].path);
    assert_int_equal(gsp_cg_parse_file(p, path, ff[i].lang, 0, ff[i].hash, &ff[i].res), GSP_OK);
  }
  gsp_cg_parser_destroy(p);
  return GSP_OK;
}

typedef struct env {
  char dir[64], root[128];
  gsp_cache *results;
  gsp_exec *ex;
} env;

static int setup(void **state) {
  env *e = calloc(1, sizeof *e);
  snprintf(e->dir, sizeof e->dir, "/tmp/cgfarmcacheXXXXXX");
  assert_non_null(mkdtemp(e->dir));
  snprintf(e->root, sizeof e->root, "%s/tree", e->dir);
  char cmd[512];
  snprintf(cmd, sizeof cmd, "cp -R '%s' '%s'", CG_FIXTURE_DIR, e->root);
  assert_int_equal(system(cmd), 0);
  assert_int_equal(gsp_cache_create(&(gsp_cache_config){.max_entries = 1000}, &e->results), GSP_OK);
  assert_int_equal(gsp_exec_create(&(gsp_exec_config){.workers = 2}, &e->ex), GSP_OK);
  *state = e;
  return 0;
}

static int teardown(void **state) {
  env *e = *state;
  char cmd[256];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", e->dir);
  assert_int_equal(system(cmd), 0);
  gsp_cache_destroy(e->results);
  gsp_exec_destroy(e->ex);
  free(e);
  return 0;
}

/* One run over the copy, farmed when fc is set, with the shared cache. */
static gsp_cg *analyze(env *e, farm_ctx *fc, gsp_cg_stats *st) {
  const char *incs[] = {"c"};
  gsp_cg_config cfg = {.root = e->root,
                       .exec = e->ex,
                       .include_dirs = incs,
                       .n_include_dirs = 1,
                       .results = e->results,
                       .farm = fc ? test_farm : NULL,
                       .farm_user = fc};
  gsp_cg *cg = NULL;
  assert_int_equal(gsp_cg_create(&cfg, &cg), GSP_OK);
  assert_int_equal(gsp_cg_run(cg), GSP_OK);
  gsp_cg_stats_get(cg, st);
  return cg;
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

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_cold_then_warm, setup, teardown),
      cmocka_unit_test_setup_teardown(test_local_fills_farm_gets_changed, setup, teardown),
      cmocka_unit_test_setup_teardown(test_skipped_not_stored, setup, teardown),
      cmocka_unit_test_setup_teardown(test_no_cache_farms_everything, setup, teardown),
      cmocka_unit_test_setup_teardown(test_duplicates_farmed_once, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
