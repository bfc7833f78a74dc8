/*
 * test_codegraph_db_fault.c - the database written during the run
 * (gsp_cg_config.db) under allocation failure: the Nth allocation fails,
 * for N = 1, 2, ... until a run no longer reaches the failure. The writer
 * thread allocates while the run's threads do, so which allocation fails
 * varies between lives; every run must still succeed or fail with
 * GSP_ENOMEM, leave no PATH.tmp behind, and free everything it allocated
 * through the gsperf hooks (SQLite's own allocations do not go through
 * them).
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

typedef struct life {
  const char *db;
  unsigned jobs;
} life;

static void one_life(void *arg) {
  const life *l = arg;
  char tmp[128];
  unlink(l->db); /* every life writes the file anew */
  gsp_cg *cg = NULL;
  int rv =
      gsp_cg_create(&(gsp_cg_config){.root = CG_FIXTURE_DIR, .jobs = l->jobs, .db = l->db}, &cg);
  if (rv == GSP_OK) rv = gsp_cg_run(cg);
  ok_or_nomem(rv);
  if (!g_failed) assert_int_equal(rv, GSP_OK);
  snprintf(tmp, sizeof tmp, "%s.tmp", l->db);
  assert_int_not_equal(access(tmp, F_OK), 0);
  assert_int_equal(access(l->db, F_OK) == 0, rv == GSP_OK);
  gsp_cg_destroy(cg);
}

static void check(unsigned jobs) {
  char dir[] = "/tmp/cgdbfaultXXXXXX", db[64];
  assert_non_null(mkdtemp(dir));
  snprintf(db, sizeof db, "%s/f.db", dir);
  life l = {db, jobs};
  assert_true(fault_each_allocation(one_life, &l) >= 50);
  unlink(db);
  rmdir(dir);
}

static void test_db_during_run_faults_1(void **state) {
  (void)state;
  check(1);
}

static void test_db_during_run_faults_2(void **state) {
  (void)state;
  check(2);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_db_during_run_faults_1),
      cmocka_unit_test(test_db_during_run_faults_2),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
