/*
 * test_http_fault.c - fault injection for gsp_http_create(): with a
 * registry and a monitor, fail the Nth allocation made through the gsperf
 * hooks, for every N until a run completes without reaching N. Each run
 * must end in GSP_OK or a clean GSP_ENOMEM, and after destroying the
 * server, the monitor and the registry every byte must be freed.
 * (libmicrohttpd's own allocations do not go through the hooks.)
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>

#include "gsperf/http.h"

#include "../../support/fault_alloc.h"

static void one_run(void *arg) {
  (void)arg;
  gsp_metrics *m = NULL;
  gsp_monitor *mon = NULL;
  gsp_http *h = NULL;
  int rv = gsp_metrics_create(NULL, &m);
  if (rv == GSP_OK) {
    gsp_monitor_config mc = {.metrics = m};
    rv = gsp_monitor_create(&mc, &mon);
  }
  if (rv == GSP_OK) {
    gsp_http_config cfg = {.metrics = m, .monitor = mon, .port_ephemeral = true, .token = "t"};
    rv = gsp_http_create(&cfg, &h, NULL, 0);
    if (rv != GSP_OK) assert_null(h);
  }
  if (rv != GSP_OK && rv != GSP_ENOMEM) fail_msg("N=%ld: %s", g_fail_at, gsp_err_name(rv));
  gsp_http_destroy(h);
  gsp_monitor_destroy(mon);
  gsp_metrics_destroy(m);
}

static void test_create_fault(void **state) {
  (void)state;
  long failed = fault_each_allocation(one_run, NULL);
  print_message("fault injection: %ld allocation points\n", failed);
  assert_true(failed > 2);
}

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_create_fault)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
