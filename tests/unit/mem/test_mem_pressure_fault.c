/*
 * test_mem_pressure_fault.c - fault injection for the pressure monitor:
 * create, register reclaimers, sample (reclaim included) and destroy,
 * failing the Nth allocation for every N until a run completes without
 * reaching N. Each call must succeed or fail with a clean GSP_ENOMEM, and
 * every run must free every block it allocated.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "gsperf/mem.h"
#include "gsperf/metrics.h"

#include "../../support/fault_alloc.h"

static size_t give(void *user, gsp_mem_level level, size_t wanted) {
  (void)level;
  (void)wanted;
  (*(int *)user)++;
  return 1;
}

static void one_run(void *arg) {
  (void)arg;
  gsp_metrics *m = NULL;
  gsp_mempressure *mp = NULL;
  int calls = 0;
  int rc = gsp_metrics_create(NULL, &m);
  ok_or_nomem(rc);
  if (rc != 0) return;
  gsp_mempressure_config c = {.max_memory_mb = 1, .metrics = m, .history = 2};
  rc = gsp_mempressure_create(&c, &mp);
  ok_or_nomem(rc);
  if (rc == 0) {
    for (int i = 0; i < 6; i++) ok_or_nomem(gsp_mempressure_add_reclaimer(mp, "r", give, &calls));
    gsp_mem_sample s;
    assert_int_equal(gsp_mempressure_sample_now(mp, &s), 0); /* sampling never allocates */
    assert_int_equal(s.level, GSP_MEM_CRITICAL);             /* RSS > 1 MB */
  }
  gsp_mempressure_destroy(mp);
  gsp_metrics_destroy(m);
}

static void test_fault_each_allocation(void **st) {
  (void)st;
  assert_true(fault_each_allocation(one_run, NULL) > 4);
}

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_fault_each_allocation)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
