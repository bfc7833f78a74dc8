/*
 * test_codegraph_farm_fault.c - the parse farm with a result store under
 * allocation failure: allocation N fails for N = 1, 2, ... across a cold
 * farmed run (every file farmed, results stored) and a warm one (every
 * file from the store, the farm called with none) on one gsp_cache. Each
 * call must succeed or fail with GSP_ENOMEM, and nothing allocated
 * through the gsperf hooks may remain once everything is destroyed.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "gsperf/cache.h"
#include "gsperf/codegraph.h"

#include "../../support/fault_alloc.h"
#include "cg_run.h"

/* Parse the files here; any failure (ENOMEM under injection) fails the farm. */
static int farm(void *user, const char *root, gsp_cg_farm_file *ff, size_t n) {
  size_t *calls = user;
  (*calls)++;
  return cg_farm_parse(root, ff, n, &(cg_farm_how){0});
}

static int run_once(gsp_cache *results, gsp_cg_stats *st) {
  size_t calls = 0;
  gsp_cg *cg = NULL;
  gsp_cg_config cfg = {
      .root = CG_FIXTURE_DIR, .jobs = 1, .results = results, .farm = farm, .farm_user = &calls};
  int rv = gsp_cg_create(&cfg, &cg);
  if (rv == GSP_OK) rv = gsp_cg_run(cg);
  if (rv == GSP_OK) gsp_cg_stats_get(cg, st);
  if (rv == GSP_OK) assert_int_equal(calls, 1);
  gsp_cg_destroy(cg);
  return rv;
}

static void life(void *arg) {
  (void)arg;
  gsp_cache *results = NULL;
  gsp_cg_stats cold = {0}, warm = {0};
  int rv = gsp_cache_create(&(gsp_cache_config){.max_entries = 100}, &results);
  if (rv == GSP_OK) rv = run_once(results, &cold);
  if (rv == GSP_OK) rv = run_once(results, &warm);
  ok_or_nomem(rv);
  if (!g_failed) {
    assert_int_equal(rv, GSP_OK);
    assert_int_equal(cold.parsed, 17);
    assert_int_equal(warm.parsed, 0);
    assert_int_equal(warm.cache_hits, 17);
  }
  gsp_cache_destroy(results);
}

static void test_farm_store_faults(void **state) {
  (void)state;
  assert_true(fault_each_allocation(life, NULL) >= 50);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_farm_store_faults),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
