/*
 * test_mem_pressure_concurrent.c - the monitor thread sampling every 1 ms
 * (and reclaiming: max_memory_mb = 1 keeps it CRITICAL) while other
 * threads register reclaimers, sample on their own and read the state; and
 * start/stop racing with samplers. Run under TSan (label concurrency).
 * Checks counts only, never time.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>

#include "gsperf/mem.h"

#define THREADS 3
#define ROUNDS 200

static atomic_long g_calls;

static size_t count_fn(void *user, gsp_mem_level level, size_t wanted) {
  (void)user;
  (void)wanted;
  assert_int_equal(level, GSP_MEM_CRITICAL);
  atomic_fetch_add(&g_calls, 1);
  return 0;
}

static atomic_long g_events;

static void on_event(void *user, const gsp_mem_event *ev) {
  (void)user;
  (void)ev;
  atomic_fetch_add(&g_events, 1);
}

static void *worker(void *arg) {
  gsp_mempressure *mp = arg;
  gsp_mem_event h[4];
  gsp_mempressure_stats st;
  gsp_mem_sample s;
  char msg[64];
  for (int i = 0; i < ROUNDS; i++) {
    if (i % 20 == 0) assert_int_equal(gsp_mempressure_add_reclaimer(mp, "w", count_fn, NULL), 0);
    assert_int_equal(gsp_mempressure_sample_now(mp, &s), 0);
    assert_int_equal(s.level, GSP_MEM_CRITICAL);
    gsp_mempressure_last(mp, &s);
    (void)gsp_mempressure_history(mp, h, 4);
    gsp_mempressure_stats_get(mp, &st);
    gsp_mempressure_errmsg(mp, msg, sizeof msg);
  }
  return NULL;
}

static void test_thread_and_samplers(void **st) {
  (void)st;
  gsp_mempressure_config c = {.max_memory_mb = 1, .interval_ms = 1, .on_event = on_event};
  gsp_mempressure *mp;
  assert_int_equal(gsp_mempressure_create(&c, &mp), 0);
  assert_int_equal(gsp_mempressure_start(mp), 0);
  pthread_t t[THREADS];
  for (int i = 0; i < THREADS; i++) assert_int_equal(pthread_create(&t[i], NULL, worker, mp), 0);
  for (int i = 0; i < THREADS; i++) pthread_join(t[i], NULL);
  gsp_mempressure_stop(mp);
  gsp_mempressure_stats s;
  gsp_mempressure_stats_get(mp, &s);
  assert_true(s.samples >= THREADS * ROUNDS);
  assert_true(s.reclaims >= THREADS * ROUNDS);
  assert_true(atomic_load(&g_calls) > 0);
  assert_int_equal(atomic_load(&g_events), 1); /* NORMAL -> CRITICAL once */
  gsp_mempressure_destroy(mp);
}

static void *start_stop(void *arg) {
  gsp_mempressure *mp = arg;
  for (int i = 0; i < 50; i++) {
    int rc = gsp_mempressure_start(mp);
    assert_true(rc == 0 || rc == GSP_ESTATE);
    gsp_mempressure_stop(mp);
  }
  return NULL;
}

static void test_start_stop_race(void **st) {
  (void)st;
  gsp_mempressure_config c = {.max_memory_mb = 1, .interval_ms = 1};
  gsp_mempressure *mp;
  assert_int_equal(gsp_mempressure_create(&c, &mp), 0);
  pthread_t a, b, w;
  assert_int_equal(pthread_create(&a, NULL, start_stop, mp), 0);
  assert_int_equal(pthread_create(&b, NULL, start_stop, mp), 0);
  assert_int_equal(pthread_create(&w, NULL, worker, mp), 0);
  pthread_join(a, NULL);
  pthread_join(b, NULL);
  pthread_join(w, NULL);
  gsp_mempressure_destroy(mp);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_thread_and_samplers),
      cmocka_unit_test(test_start_stop_race),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
