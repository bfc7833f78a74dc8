/*
 * test_codegraph_budget_fault.c - a memory-first run (parse budget,
 * deferred files read again, trims) under allocation failure: every
 * allocation of an aggressive run on a tree with two files whose trees
 * are too large to be parsed at the same time fails in turn; each run
 * ends in GSP_OK or GSP_ENOMEM and leaves nothing allocated.
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

#include "gsperf/codegraph.h"

#include "../../support/fault_alloc.h"
#include "cg_gen.h"

static void budget_life(void *arg) {
  gsp_cg *cg = NULL;
  gsp_cg_config cfg = {
      .root = arg, .jobs = 2, .no_cache = true, .memory = GSP_CG_MEMORY_AGGRESSIVE};
  int rv = gsp_cg_create(&cfg, &cg);
  if (rv == GSP_OK) rv = gsp_cg_run(cg);
  ok_or_nomem(rv);
  gsp_cg_destroy(cg);
}

/* Two files of 136 KB (estimates of 4.25 MiB each: never both at once). */
static void test_fault_each_allocation(void **state) {
  (void)state;
  char dir[] = "/tmp/cgbudgetXXXXXX";
  make_tree(dir, 4, 0, 2, 136 << 10);
  long n = fault_each_allocation(budget_life, dir);
  assert_true(n > 10);
  remove_tree(dir);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_fault_each_allocation),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
