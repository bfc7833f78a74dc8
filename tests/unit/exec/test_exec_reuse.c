/*
 * test_exec_reuse.c - task objects are reused, the reuse is bounded, and
 * deferred group counts never hold a waiter back.
 *
 *  - a warm pool runs a second burst of group tasks spawned from a task
 *    without allocating a task object per spawn;
 *  - after a burst bigger than the pool keeps for reuse, the objects held
 *    are bounded by the cache's size, and destroy returns every byte;
 *  - a worker that finished a group's task and then runs another task
 *    (plain, or of another group) that blocks until the first group's
 *    waiter has returned does not deadlock: the worker's deferred count
 *    for the first group is paid before the other task starts.
 *
 * One worker, so which thread allocates, runs and frees is fixed and the
 * counts are exact. The allocator hooks of fault_alloc.h count (they
 * never fail here: g_fail_at stays 0).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>
#include <pthread.h>

#include "exec_int.h"
#include "gsperf/exec.h"

#include "../../support/fault_alloc.h"

/* Free tasks the pool may keep: the depot, two worker magazines, one per outside slot. */
enum { MAG = 64, BURST = 1000, BIG_BURST = 100000 };
enum { TASK_CACHE_MAX = GSP__DEPOT_CHAINS * MAG + 2 * MAG + GSP__OUTSIDE_SLOTS * MAG };

static gsp_exec *g_ex;
static size_t g_spawns;
static atomic_size_t g_ran;

static int count_task(void *arg) {
  (void)arg;
  atomic_fetch_add(&g_ran, 1);
  return 0;
}

/* A task that spawns g_spawns group tasks onto its worker's deque and waits. */
static int spawner(void *arg) {
  (void)arg;
  gsp_exec_group *g = NULL;
  int rv = gsp_exec_group_create(g_ex, &g);
  if (rv != GSP_OK) return rv;
  for (size_t i = 0; i < g_spawns && rv == GSP_OK; i++)
    rv = gsp_exec_group_spawn(g, count_task, NULL);
  int wr = gsp_exec_group_wait(g);
  gsp_exec_group_destroy(g);
  return rv != GSP_OK ? rv : wr;
}

static void run_in_pool(size_t spawns) {
  g_spawns = spawns;
  gsp_exec_future *f = NULL;
  int r = -1;
  assert_int_equal(gsp_exec_submit(g_ex, spawner, NULL, &f), GSP_OK);
  assert_int_equal(gsp_exec_future_wait(f, &r), GSP_OK);
  assert_int_equal(r, GSP_OK);
  gsp_exec_future_release(f);
}

static long counted(long *live) {
  pthread_mutex_lock(&g_fault_mu);
  long n = g_count;
  if (live != NULL) *live = g_live;
  pthread_mutex_unlock(&g_fault_mu);
  return n;
}

static int setup(void **state) {
  (void)state;
  static gsp_allocator a = {f_malloc, f_realloc, f_free, NULL};
  g_fail_at = 0;
  g_count = g_live = 0;
  gsp_set_allocator(&a);
  atomic_store(&g_ran, 0);
  return gsp_exec_create(&(gsp_exec_config){.workers = 1}, &g_ex) == GSP_OK ? 0 : -1;
}

static int teardown(void **state) {
  (void)state;
  gsp_exec_destroy(g_ex);
  g_ex = NULL;
  long live = 0;
  counted(&live);
  gsp_set_allocator(NULL);
  return live == 0 ? 0 : -1; /* every cached task went back to the allocator */
}

static void test_warm_pool_reuses_tasks(void **state) {
  (void)state;
  run_in_pool(BURST); /* warms the worker's magazines and the depot */
  long before = counted(NULL);
  run_in_pool(BURST);
  long allocs = counted(NULL) - before;
  assert_int_equal(atomic_load(&g_ran), 2 * BURST);
  /* The group, and at most one chain the outside submit moved from the
     depot into this thread's slot (the worker then allocates that many
     anew): nothing per spawn. */
  assert_true(allocs <= 4 + MAG);
}

static void test_cache_is_bounded(void **state) {
  (void)state;
  long live0 = 0;
  counted(&live0);
  run_in_pool(BIG_BURST); /* one worker: every task is queued before any runs */
  long live = 0;
  counted(&live);
  assert_int_equal(atomic_load(&g_ran), BIG_BURST);
  assert_true(live - live0 <= TASK_CACHE_MAX + 32); /* + the grown deque's rings */
  assert_true(live - live0 < BIG_BURST * 3 / 4);
}

/* ---- deferred group counts ---- */

static atomic_bool g_waiter_returned;

static int quick(void *arg) {
  (void)arg;
  return 0;
}

/* Blocks until the main thread's wait on the first group has returned. */
static int block_until_waited(void *arg) {
  (void)arg;
  while (!atomic_load(&g_waiter_returned)) {
    struct timespec ts = {0, 100000};
    nanosleep(&ts, NULL);
  }
  return 0;
}

static void debt_case(bool second_in_group) {
  atomic_store(&g_waiter_returned, false);
  gsp_exec_group *first = NULL, *second = NULL;
  gsp_exec_future *f = NULL;
  assert_int_equal(gsp_exec_group_create(g_ex, &first), GSP_OK);
  assert_int_equal(gsp_exec_group_spawn(first, quick, NULL), GSP_OK);
  if (second_in_group) {
    assert_int_equal(gsp_exec_group_create(g_ex, &second), GSP_OK);
    assert_int_equal(gsp_exec_group_spawn(second, block_until_waited, NULL), GSP_OK);
  } else {
    assert_int_equal(gsp_exec_submit(g_ex, block_until_waited, NULL, &f), GSP_OK);
  }
  assert_int_equal(gsp_exec_group_wait(first), GSP_OK); /* hangs if the count stayed deferred */
  atomic_store(&g_waiter_returned, true);
  gsp_exec_group_destroy(first);
  if (second != NULL) assert_int_equal(gsp_exec_group_wait(second), GSP_OK);
  gsp_exec_group_destroy(second);
  if (f != NULL) assert_int_equal(gsp_exec_future_wait(f, NULL), GSP_OK);
  gsp_exec_future_release(f);
}

static void test_debt_paid_before_other_task(void **state) {
  (void)state;
  for (int i = 0; i < 20; i++) {
    debt_case(false);
    debt_case(true);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_warm_pool_reuses_tasks, setup, teardown),
      cmocka_unit_test_setup_teardown(test_cache_is_bounded, setup, teardown),
      cmocka_unit_test_setup_teardown(test_debt_paid_before_other_task, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
