/*
 * test_monitor_concurrent.c - the collector thread running with a 1 ms
 * interval while other threads record, query, evaluate and read events,
 * and start/stop repeated from two threads at once. Run under TSan in CI
 * (label concurrency). Asserts only counts that do not depend on timing.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <cmocka.h>

#include "gsperf/monitor.h"

#define RECORDS 20000

static gsp_monitor *g_mon;
static atomic_int g_done;
static atomic_long g_events;

static void on_alert(void *u, const gsp_alert_event *ev) {
  (void)u;
  (void)ev;
  atomic_fetch_add(&g_events, 1);
}

static void *recorder(void *arg) {
  const char *labels = arg;
  for (int i = 0; i < RECORDS; i++) {
    uint64_t t = gsp_now_ns();
    assert_int_equal(gsp_monitor_record(g_mon, "work_seconds", labels, 1e-3 * (1 + i % 7), t),
                     GSP_OK);
    assert_int_equal(gsp_monitor_record(g_mon, "queue_depth", labels, i % 100, t), GSP_OK);
  }
  return NULL;
}

static void *reader(void *arg) {
  (void)arg;
  while (!atomic_load(&g_done)) {
    gsp_monitor_point *p = NULL;
    size_t n = 0;
    int rv = gsp_monitor_query(g_mon, "queue_depth", "w=\"1\"", 0, UINT64_MAX, &p, &n, NULL);
    assert_true(rv == GSP_OK || rv == GSP_ENOENT);
    for (size_t i = 0; i < n; i++) assert_true(p[i].min <= p[i].mean && p[i].mean <= p[i].max);
    gsp_free(p);
    gsp_monitor_evaluate(g_mon, gsp_now_ns());
    gsp_alert_event ev[8];
    gsp_monitor_events(g_mon, ev, 8);
    gsp_monitor_sample s;
    gsp_monitor_last_sample(g_mon, &s);
  }
  return NULL;
}

static void test_collector_with_recorders(void **state) {
  (void)state;
  gsp_metrics *m = NULL;
  assert_int_equal(gsp_metrics_create(NULL, &m), GSP_OK);
  gsp_monitor_config cfg = {.collection_interval_ms = 1,
                            .metrics = m,
                            .on_alert = on_alert,
                            .regress_baseline = 64,
                            .regress_recent = 16};
  assert_int_equal(gsp_monitor_create(&cfg, &g_mon), GSP_OK);
  gsp_alert_rule r = {
      .name = "deep", .metric = "queue_depth", .cmp = GSP_ALERT_GT, .threshold = 50};
  assert_int_equal(gsp_monitor_add_rule(g_mon, &r), GSP_OK);
  assert_int_equal(gsp_monitor_start(g_mon), GSP_OK);
  pthread_t t[3];
  pthread_create(&t[0], NULL, recorder, "w=\"1\"");
  pthread_create(&t[1], NULL, recorder, "w=\"2\"");
  pthread_create(&t[2], NULL, reader, NULL);
  pthread_join(t[0], NULL);
  pthread_join(t[1], NULL);
  atomic_store(&g_done, 1);
  pthread_join(t[2], NULL);
  /* On a loaded machine the collector thread may not have run yet: wait
   * (bounded) for its first sample before stopping it. */
  gsp_monitor_sample s;
  for (int i = 0; i < 30000; i++) {
    gsp_monitor_last_sample(g_mon, &s);
    if (s.t_ns > 0) break;
    nanosleep(&(struct timespec){.tv_nsec = 1000000}, NULL);
  }
  gsp_monitor_stop(g_mon);
  gsp_monitor_point *p = NULL;
  size_t n = 0;
  assert_int_equal(gsp_monitor_query(g_mon, "work_seconds", "w=\"2\"", 0, UINT64_MAX, &p, &n, NULL),
                   GSP_OK);
  uint64_t total = 0;
  for (size_t i = 0; i < n; i++) total += p[i].count;
  assert_int_equal(total, RECORDS);
  gsp_free(p);
  gsp_monitor_last_sample(g_mon, &s);
  assert_true(s.t_ns > 0);
  gsp_monitor_destroy(g_mon);
  gsp_metrics_destroy(m);
}

static void *start_stop(void *arg) {
  (void)arg;
  for (int i = 0; i < 50; i++) {
    int rv = gsp_monitor_start(g_mon);
    assert_true(rv == GSP_OK || rv == GSP_ESTATE);
    gsp_monitor_stop(g_mon);
  }
  return NULL;
}

static void test_start_stop_repeatedly(void **state) {
  (void)state;
  gsp_monitor_config cfg = {.collection_interval_ms = 1};
  assert_int_equal(gsp_monitor_create(&cfg, &g_mon), GSP_OK);
  pthread_t a, b;
  pthread_create(&a, NULL, start_stop, NULL);
  pthread_create(&b, NULL, start_stop, NULL);
  pthread_join(a, NULL);
  pthread_join(b, NULL);
  assert_false(gsp_monitor_running(g_mon));
  /* destroy while running stops and joins */
  gsp_monitor_config slow = {.collection_interval_ms = 3600000};
  gsp_monitor_destroy(g_mon);
  assert_int_equal(gsp_monitor_create(&slow, &g_mon), GSP_OK);
  assert_int_equal(gsp_monitor_start(g_mon), GSP_OK);
  uint64_t t0 = gsp_now_ns();
  gsp_monitor_destroy(g_mon); /* wakes at once, not after an hour */
  print_message("stop of an idle collector took %.3f ms\n", (double)(gsp_now_ns() - t0) / 1e6);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_collector_with_recorders),
      cmocka_unit_test(test_start_stop_repeatedly),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
