/* test_umbrella.c - the umbrella header compiles on its own and exposes
 * every module (a compile-time check plus one call per module). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "gsperf/gsperf.h"

static void test_umbrella(void **state) {
  (void)state;
  assert_string_equal(gsp_err_name(GSP_ENOMEM), "GSP_ENOMEM");
  assert_string_equal(gsp_cache_strategy_name(GSP_CACHE_ADAPTIVE), "adaptive");
  gsp_metrics *m = NULL;
  assert_int_equal(gsp_metrics_create(NULL, &m), GSP_OK);
  gsp_metrics_destroy(m);
  assert_string_equal(gsp_alert_level_name(GSP_ALERT_CRITICAL), "CRITICAL");
}

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_umbrella)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
