/*
 * test_exec_outside.c - submission slots of threads outside the pool, and
 * the batch steal they rely on (label `concurrency`: CI runs it again
 * under ThreadSanitizer).
 *
 *  - batch steal on a push-only deque: thieves taking batches while the
 *    owner pushes take every item exactly once, across growth;
 *  - more submitting threads than slots at once: every task runs exactly
 *    once (the threads beyond the slots use the injection queue);
 *  - a thread that submits and exits without waiting: its queued tasks
 *    still run, and its slot is free again afterwards;
 *  - slots come back when threads exit: many short-lived submitting
 *    threads one after another all get a slot (none falls back);
 *  - one thread alternating between two pools, and a pool destroyed then
 *    a new one created: the stale binding is never used;
 *  - statistics count tasks queued in slots as queued.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>

#include "exec_int.h"
#include "gsperf/exec.h"

enum { ITEMS = 200000, THIEVES = 3, BATCH = 16 };

/* ---- batch steal ---- */

static gsp__deque g_dq;
static _Atomic unsigned char g_taken[ITEMS];
static atomic_bool g_owner_done;
static char g_items[ITEMS];

static void *batch_thief(void *arg) {
  (void)arg;
  void *x[BATCH];
  for (;;) {
    size_t k = gsp__deque_steal_batch(&g_dq, x, BATCH);
    for (size_t i = 0; i < k; i++) {
      size_t at = (size_t)((char *)x[i] - g_items);
      assert_true(at < ITEMS);
      assert_int_equal(atomic_fetch_add(&g_taken[at], 1), 0);
    }
    if (k == 0 && atomic_load(&g_owner_done) && gsp__deque_empty(&g_dq)) return NULL;
  }
}

static void test_batch_steal_takes_each_once(void **state) {
  (void)state;
  assert_int_equal(gsp__deque_init(&g_dq, 1), GSP_OK); /* tiny: grows under theft */
  atomic_store(&g_owner_done, false);
  pthread_t th[THIEVES];
  for (int i = 0; i < THIEVES; i++)
    assert_int_equal(pthread_create(&th[i], NULL, batch_thief, NULL), 0);
  for (size_t i = 0; i < ITEMS; i++) assert_int_equal(gsp__deque_push(&g_dq, &g_items[i]), GSP_OK);
  atomic_store(&g_owner_done, true);
  for (int i = 0; i < THIEVES; i++) pthread_join(th[i], NULL);
  for (size_t i = 0; i < ITEMS; i++) assert_int_equal(atomic_load(&g_taken[i]), 1);
  gsp__deque_fini(&g_dq);
}

/* ---- pools ---- */

enum { SUBMITTERS = GSP__OUTSIDE_SLOTS + 4, PER_THREAD = 20000 };

static gsp_exec *g_ex;
static _Atomic unsigned char g_ran[SUBMITTERS * PER_THREAD];

static int mark(void *arg) {
  size_t i = (size_t)(uintptr_t)arg;
  atomic_fetch_add(&g_ran[i], 1);
  return 0;
}

static void *submitter(void *arg) {
  size_t base = (size_t)(uintptr_t)arg * PER_THREAD;
  gsp_exec_group *g = NULL;
  assert_int_equal(gsp_exec_group_create(g_ex, &g), GSP_OK);
  for (size_t i = 0; i < PER_THREAD; i++) {
    if (i % 7 == 0) { /* some with futures, released at once */
      gsp_exec_future *f = NULL;
      assert_int_equal(gsp_exec_submit(g_ex, mark, (void *)(uintptr_t)(base + i), &f), GSP_OK);
      gsp_exec_future_release(f);
    } else {
      assert_int_equal(gsp_exec_group_spawn(g, mark, (void *)(uintptr_t)(base + i)), GSP_OK);
    }
  }
  assert_int_equal(gsp_exec_group_wait(g), GSP_OK);
  gsp_exec_group_destroy(g);
  return NULL;
}

static unsigned owned_slots(gsp_exec *ex) {
  unsigned n = 0, nout = atomic_load(&ex->nout);
  for (unsigned i = 0; i < nout; i++) n += ex->out[i].owned;
  return n;
}

static void test_more_threads_than_slots(void **state) {
  (void)state;
  assert_int_equal(gsp_exec_create(&(gsp_exec_config){.workers = 2}, &g_ex), GSP_OK);
  pthread_t th[SUBMITTERS];
  for (uintptr_t i = 0; i < SUBMITTERS; i++)
    assert_int_equal(pthread_create(&th[i], NULL, submitter, (void *)i), 0);
  for (int i = 0; i < SUBMITTERS; i++) pthread_join(th[i], NULL);
  gsp_exec_destroy(g_ex); /* drains the tasks submitted with futures */
  for (size_t i = 0; i < SUBMITTERS * PER_THREAD; i++) assert_int_equal(atomic_load(&g_ran[i]), 1);
}

/* Submits without waiting, then exits: its slot keeps the queued tasks. */
static atomic_int g_late;
static atomic_bool g_gate;

static int gated(void *arg) {
  (void)arg;
  while (!atomic_load(&g_gate)) {
    struct timespec ts = {0, 100000};
    nanosleep(&ts, NULL);
  }
  atomic_fetch_add(&g_late, 1);
  return 0;
}

static void *submit_and_leave(void *arg) {
  for (int i = 0; i < 100; i++) assert_int_equal(gsp_exec_submit(arg, gated, NULL, NULL), GSP_OK);
  return NULL;
}

static void test_exited_thread_tasks_run_and_slot_returns(void **state) {
  (void)state;
  gsp_exec *ex = NULL;
  assert_int_equal(gsp_exec_create(&(gsp_exec_config){.workers = 1}, &ex), GSP_OK);
  atomic_store(&g_late, 0);
  atomic_store(&g_gate, false);
  pthread_t th;
  assert_int_equal(pthread_create(&th, NULL, submit_and_leave, ex), 0);
  pthread_join(th, NULL);
  assert_int_equal(owned_slots(ex), 0); /* given back on exit */
  gsp_exec_stats st;
  assert_int_equal(gsp_exec_stats_get(ex, &st), GSP_OK);
  assert_true(st.queued >= 100 - BATCH); /* the one worker took one batch at most, then blocked */
  atomic_store(&g_gate, true);
  gsp_exec_destroy(ex); /* drain: every queued task runs */
  assert_int_equal(atomic_load(&g_late), 100);
}

static int nop(void *arg) {
  (void)arg;
  return 0;
}

static void *submit_one(void *arg) {
  gsp_exec_future *f = NULL;
  assert_int_equal(gsp_exec_submit(arg, nop, NULL, &f), GSP_OK);
  assert_int_equal(gsp_exec_future_wait(f, NULL), GSP_OK);
  gsp_exec_future_release(f);
  return NULL;
}

static void test_slots_reused_after_exit(void **state) {
  (void)state;
  gsp_exec *ex = NULL;
  assert_int_equal(gsp_exec_create(&(gsp_exec_config){.workers = 1}, &ex), GSP_OK);
  for (int i = 0; i < 4 * GSP__OUTSIDE_SLOTS; i++) {
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, submit_one, ex), 0);
    pthread_join(th, NULL);
  }
  assert_int_equal(atomic_load(&ex->nout), 1); /* each thread took slot 0 again */
  assert_int_equal(owned_slots(ex), 0);
  gsp_exec_destroy(ex);
}

static void test_two_pools_and_rebirth(void **state) {
  (void)state;
  gsp_exec *a = NULL, *b = NULL;
  for (int round = 0; round < 3; round++) {
    assert_int_equal(gsp_exec_create(&(gsp_exec_config){.workers = 1}, &a), GSP_OK);
    assert_int_equal(gsp_exec_create(&(gsp_exec_config){.workers = 1}, &b), GSP_OK);
    for (int i = 0; i < 50; i++) {
      submit_one(i % 2 ? a : b);
      assert_true(owned_slots(a) + owned_slots(b) <= 1); /* one binding per thread */
    }
    gsp_exec_destroy(a); /* a new pool may take a's address: the binding must not match it */
    gsp_exec_destroy(b);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_batch_steal_takes_each_once),
      cmocka_unit_test(test_more_threads_than_slots),
      cmocka_unit_test(test_exited_thread_tasks_run_and_slot_returns),
      cmocka_unit_test(test_slots_reused_after_exit),
      cmocka_unit_test(test_two_pools_and_rebirth),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
