/*
 * test_prof_fault.c - fault injection: a profile's create/start/stop and
 * building and writing a report, failing the Nth allocation for every N
 * until a run completes without reaching N. Each run must not crash, get
 * only success or a clean GSP_ENOMEM, and free every byte it allocated.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include "gsperf/prof.h"

#include "../../support/fault_alloc.h"
#include "prof_test_util.h"

static volatile uint64_t g_sink;

__attribute__((noinline)) static void burn(double cpu_s) {
  double end = cpu_now() + cpu_s, now = 0;
  uint64_t x = 1;
  while (now < end) {
    for (int i = 0; i < 1000; i++) x = x * 6364136223846793005ull + 1;
    now = cpu_now();
  }
  g_sink = x;
}

static void one_run(void *sampled) {
  gsp_prof *p = NULL;
  int rv = gsp_prof_create(&(gsp_prof_config){.hz = 997}, &p);
  ok_or_nomem(rv);
  if (rv == GSP_OK) gsp_prof_destroy(p);
  gsp_prof_report *r = NULL;
  rv = gsp_prof_report_create(sampled, &r);
  ok_or_nomem(rv);
  if (rv != GSP_OK) return;
  FILE *f = fopen("/dev/null", "w");
  ok_or_nomem(gsp_prof_report_write_pprof(r, "/dev/null"));
  ok_or_nomem(gsp_prof_report_write_flame(r, "/dev/null", "x"));
  ok_or_nomem(gsp_prof_report_write_text(r, f, 10));
  fclose(f);
  gsp_prof_report_destroy(r);
  gsp_prof_zone_stats *z;
  size_t n;
  rv = gsp_prof_zones_get(&z, &n);
  ok_or_nomem(rv);
  if (rv == GSP_OK) gsp_free(z);
}

static void test_report_faults(void **state) {
  (void)state;
  static gsp_prof_zone_site site = {"fault.zone", 0};
  gsp_prof *p;
  assert_int_equal(gsp_prof_create(&(gsp_prof_config){.hz = 997}, &p), GSP_OK);
  assert_int_equal(gsp_prof_start(p), GSP_OK);
  gsp_prof_zone_begin(&site);
  burn(0.1);
  gsp_prof_zone_end(&site);
  assert_int_equal(gsp_prof_stop(p), GSP_OK);
  (void)fault_each_allocation(one_run, p);
  gsp_prof_destroy(p);
}

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_report_faults)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
