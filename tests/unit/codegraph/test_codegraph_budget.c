/*
 * test_codegraph_budget.c - the parse budget of a memory-first run
 * (GSP_CG_MEMORY_AGGRESSIVE) on a generated tree whose files make it work:
 * two Python files whose estimated trees are each larger than the whole
 * budget (they must still be parsed, each alone), six whose estimates fit
 * a few at a time (some wait for room and are parsed later, from a second
 * read), a large C file, and many small files that never wait. Checked
 * on 2 and 3 threads:
 *  - the database equals the default run's byte for byte and every file
 *    is parsed once (parsed == files, nothing skipped);
 *  - with a result store, a cold run puts every result (deferred ones
 *    included) and a warm run parses nothing and finds every file.
 * The generator is shared with test_codegraph_budget_fault.c (cg_gen.h).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "gsperf/cache.h"
#include "gsperf/codegraph.h"

#include "cg_gen.h"

#define NSMALL 40

static char *slurp(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  assert_non_null(f);
  fseek(f, 0, SEEK_END);
  *len = (size_t)ftell(f);
  rewind(f);
  char *b = malloc(*len + 1);
  assert_non_null(b);
  assert_int_equal(fread(b, 1, *len, f), *len);
  fclose(f);
  return b;
}

/* Analyze root and write its database to db; returns the run's stats. */
static gsp_cg_stats analyze(const char *root, gsp_cg_memory mem, unsigned jobs, gsp_cache *results,
                            const char *db) {
  gsp_cg *cg = NULL;
  gsp_cg_config cfg = {
      .root = root, .jobs = jobs, .no_cache = results == NULL, .results = results, .memory = mem};
  assert_int_equal(gsp_cg_create(&cfg, &cg), GSP_OK);
  assert_int_equal(gsp_cg_run(cg), GSP_OK);
  assert_int_equal(gsp_cg_write_db(cg, db, NULL), GSP_OK);
  gsp_cg_stats st;
  gsp_cg_stats_get(cg, &st);
  gsp_cg_destroy(cg);
  return st;
}

static void assert_same_file(const char *a, const char *b) {
  size_t na, nb;
  char *ba = slurp(a, &na), *bb = slurp(b, &nb);
  assert_int_equal(na, nb);
  assert_memory_equal(ba, bb, na);
  free(ba), free(bb);
}

static void same_db_on(unsigned jobs) {
  char dir[] = "/tmp/cgbudgetXXXXXX", a[64], b[64];
  make_tree(dir, NSMALL, 2, 6, 64 << 10);
  snprintf(a, sizeof a, "%s.default.db", dir), snprintf(b, sizeof b, "%s.aggr.db", dir);
  gsp_cg_stats sd = analyze(dir, GSP_CG_MEMORY_DEFAULT, jobs, NULL, a);
  gsp_cg_stats sa = analyze(dir, GSP_CG_MEMORY_AGGRESSIVE, jobs, NULL, b);
  assert_int_equal(sa.files, 2 + 6 + 1 + NSMALL + 2);
  assert_int_equal(sa.parsed, sa.files);
  assert_int_equal(sa.files_skipped, 0);
  assert_int_equal(sd.defs, sa.defs);
  assert_true(sa.refs_resolved > 0 && sa.imports_resolved > 0);
  assert_same_file(a, b);
  unlink(a), unlink(b);
  remove_tree(dir);
}

static void test_same_db_2_threads(void **state) {
  (void)state;
  same_db_on(2);
}

static void test_same_db_3_threads(void **state) {
  (void)state;
  same_db_on(3);
}

/* Deferred files go through the store like any other. */
static void test_store_cold_then_warm(void **state) {
  (void)state;
  char dir[] = "/tmp/cgbudgetXXXXXX", a[64], b[64], c[64];
  make_tree(dir, NSMALL, 2, 6, 64 << 10);
  snprintf(a, sizeof a, "%s.default.db", dir), snprintf(b, sizeof b, "%s.cold.db", dir);
  snprintf(c, sizeof c, "%s.warm.db", dir);
  gsp_cache *results = NULL;
  assert_int_equal(gsp_cache_create(&(gsp_cache_config){.max_entries = 1000}, &results), GSP_OK);
  analyze(dir, GSP_CG_MEMORY_DEFAULT, 2, NULL, a);
  gsp_cg_stats cold = analyze(dir, GSP_CG_MEMORY_AGGRESSIVE, 2, results, b);
  assert_int_equal(cold.parsed, cold.files);
  assert_int_equal(cold.cache_misses, cold.files);
  assert_int_equal(cold.cache_hits, 0);
  gsp_cg_stats warm = analyze(dir, GSP_CG_MEMORY_AGGRESSIVE, 2, results, c);
  assert_int_equal(warm.parsed, 0);
  assert_int_equal(warm.cache_hits, warm.files);
  assert_same_file(a, b);
  assert_same_file(a, c);
  gsp_cache_destroy(results);
  unlink(a), unlink(b), unlink(c);
  remove_tree(dir);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_same_db_2_threads),
      cmocka_unit_test(test_same_db_3_threads),
      cmocka_unit_test(test_store_cold_then_warm),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
