/*
 * test_codegraph_resolve_fault.c - the analysis of fixture_resolve/
 * (workspaces and their index, project references, export target lists,
 * Python attributes emitted after the walk, C include roots) under
 * allocation failure: the Nth allocation fails, for N = 1, 2, ... until a
 * run no longer reaches the failure. Every run either succeeds with the
 * known graph or fails with GSP_ENOMEM, and nothing allocated through the
 * gsperf hooks remains once the graph is destroyed.
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

#include "gsperf/codegraph.h"

#include "../../support/fault_alloc.h"

static void run_life(void *arg) {
  (void)arg;
  gsp_cg *cg = NULL;
  int rv = gsp_cg_create(&(gsp_cg_config){.root = CG_FIXTURE_RESOLVE_DIR, .jobs = 2}, &cg);
  if (rv == GSP_OK) rv = gsp_cg_run(cg);
  if (rv == GSP_OK) {
    gsp_cg_stats st;
    gsp_cg_stats_get(cg, &st);
    assert_int_equal(st.files, 31);
    assert_int_equal(st.file_edges, 22);
    assert_int_equal(st.imports_resolved, 25);
    assert_int_equal(st.refs_resolved, 24);
  }
  gsp_cg_destroy(cg);
  ok_or_nomem(rv);
  if (!g_failed) assert_int_equal(rv, GSP_OK);
}

static void test_analyze_resolve_faults(void **state) {
  (void)state;
  assert_true(fault_each_allocation(run_life, NULL) >= 50);
}

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_analyze_resolve_faults)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
