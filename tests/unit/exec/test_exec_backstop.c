/*
 * test_exec_backstop.c - a wake-up lost by the condition variable costs
 * latency, never a hang (label `concurrency`: CI runs it again under
 * ThreadSanitizer).
 *
 * The pool's protocol loses no wake-up, but the C library's condition
 * variable can (see "Backstop" in src/exec/exec.c). The test makes the
 * pool count a signal as sent without sending it (the pool's
 * `lose_signals` knob): a fixed-size pool with every worker asleep, one
 * task submitted whose signal is lost. Without the backstop the workers
 * sleep for ever and the wait below fails at its bound; with it a worker
 * wakes within a second, finds the task and runs it. The bound is a
 * failure bound, never a measurement.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include <cmocka.h>

#include "exec_int.h"
#include "gsperf/exec.h"

enum { SETTLE_S = 60, WAIT_MS = 30000 };

static uint64_t now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec;
}

static void wait_all_asleep(gsp_exec *ex, unsigned n) {
  uint64_t until = now_s() + SETTLE_S;
  while (atomic_load(&ex->nsleeping) != n || atomic_load(&ex->nspinning) != 0) {
    assert_true(now_s() < until);
    struct timespec ts = {0, 100000};
    nanosleep(&ts, NULL);
  }
}

static int mark_task(void *arg) {
  atomic_fetch_add((_Atomic unsigned *)arg, 1);
  return 7;
}

/* n workers asleep, one signal lost: the task still runs. */
static void lost_signal_case(unsigned n) {
  gsp_exec_config cfg = {.workers = n, .spin_iters = 1};
  gsp_exec *ex = NULL;
  assert_int_equal(gsp_exec_create(&cfg, &ex), GSP_OK);
  wait_all_asleep(ex, n);
  atomic_store(&ex->lose_signals, 1);
  _Atomic unsigned ran = 0;
  gsp_exec_future *f = NULL;
  assert_int_equal(gsp_exec_submit(ex, mark_task, (void *)&ran, &f), GSP_OK);
  int result = 0;
  assert_int_equal(gsp_exec_future_wait_for(f, WAIT_MS, &result), GSP_OK);
  assert_int_equal(result, 7);
  assert_int_equal(atomic_load(&ran), 1);
  /* the signal was really lost: the knob was consumed by the submission */
  assert_int_equal(atomic_load(&ex->lose_signals), 0);
  gsp_exec_future_release(f);
  gsp_exec_destroy(ex);
}

static void test_one_worker(void **state) {
  (void)state;
  lost_signal_case(1);
}

static void test_two_workers(void **state) {
  (void)state;
  lost_signal_case(2);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_one_worker),
      cmocka_unit_test(test_two_workers),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
