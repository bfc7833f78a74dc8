/*
 * test_exec_concurrent.c - the deque and the pool under real concurrency
 * (label `concurrency`: CI runs it again under ThreadSanitizer).
 *
 *  - one owner pushes and pops while thieves steal: every item is taken
 *    exactly once, none is lost or duplicated, across deque growth;
 *  - many threads submit to one pool at once, with futures and without,
 *    and every task runs exactly once;
 *  - several external threads run parallel-fors on one pool at once;
 *  - recursive fork-join (fib) from two outside threads at once: nested
 *    submissions to the workers' deques, steals and helping waits.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>

#include "deque.h"
#include "gsperf/exec.h"

enum { ITEMS = 200000, THIEVES = 3 };

static gsp__deque g_dq;
static _Atomic unsigned char g_taken[ITEMS];
static atomic_bool g_owner_done;
static char g_items[ITEMS]; /* item i is &g_items[i] */

static void take(void *x) {
  size_t i = (size_t)((char *)x - g_items);
  assert_true(i < ITEMS);
  assert_int_equal(atomic_fetch_add(&g_taken[i], 1), 0);
}

static void *thief(void *arg) {
  (void)arg;
  for (;;) {
    void *x = NULL;
    gsp__steal_result r = gsp__deque_steal(&g_dq, &x);
    if (r == GSP__STEAL_OK)
      take(x);
    else if (r == GSP__STEAL_EMPTY && atomic_load(&g_owner_done))
      return NULL;
  }
}

static void test_deque_owner_and_thieves(void **state) {
  (void)state;
  assert_int_equal(gsp__deque_init(&g_dq, 1), GSP_OK); /* starts tiny: grows under theft */
  atomic_store(&g_owner_done, false);
  pthread_t th[THIEVES];
  for (int i = 0; i < THIEVES; i++) assert_int_equal(pthread_create(&th[i], NULL, thief, NULL), 0);
  for (uintptr_t i = 0; i < ITEMS; i++) {
    assert_int_equal(gsp__deque_push(&g_dq, &g_items[i]), GSP_OK);
    if (i % 3 == 0) {
      void *x = gsp__deque_pop(&g_dq);
      if (x != NULL) take(x);
    }
  }
  void *x;
  while ((x = gsp__deque_pop(&g_dq)) != NULL) take(x);
  atomic_store(&g_owner_done, true);
  for (int i = 0; i < THIEVES; i++) pthread_join(th[i], NULL);
  for (size_t i = 0; i < ITEMS; i++) assert_int_equal(atomic_load(&g_taken[i]), 1);
  gsp__deque_fini(&g_dq);
}

/* ---- many submitters ---- */

enum { SUBMITTERS = 4, PER_SUBMITTER = 5000 };

typedef struct sub_ctx {
  gsp_exec *ex;
  _Atomic unsigned *hits;
  unsigned base;
} sub_ctx;

static int hit(void *arg) {
  atomic_fetch_add((_Atomic unsigned *)arg, 1);
  return 7;
}

static void *submitter(void *arg) {
  sub_ctx *c = arg;
  for (unsigned i = 0; i < PER_SUBMITTER; i++) {
    _Atomic unsigned *h = &c->hits[c->base + i];
    if (i % 2 == 0) {
      assert_int_equal(gsp_exec_submit(c->ex, hit, (void *)h, NULL), GSP_OK);
      continue;
    }
    gsp_exec_future *f = NULL;
    int result = 0;
    assert_int_equal(gsp_exec_submit(c->ex, hit, (void *)h, &f), GSP_OK);
    assert_int_equal(gsp_exec_future_wait(f, &result), GSP_OK);
    assert_int_equal(result, 7);
    gsp_exec_future_release(f);
  }
  return NULL;
}

static void test_many_submitters(void **state) {
  (void)state;
  gsp_exec *ex = NULL;
  gsp_exec_config cfg = {.workers = 3};
  assert_int_equal(gsp_exec_create(&cfg, &ex), GSP_OK);
  static _Atomic unsigned hits[SUBMITTERS * PER_SUBMITTER];
  pthread_t th[SUBMITTERS];
  sub_ctx ctx[SUBMITTERS];
  for (unsigned i = 0; i < SUBMITTERS; i++) {
    ctx[i] = (sub_ctx){ex, hits, i * PER_SUBMITTER};
    assert_int_equal(pthread_create(&th[i], NULL, submitter, &ctx[i]), 0);
  }
  for (unsigned i = 0; i < SUBMITTERS; i++) pthread_join(th[i], NULL);
  gsp_exec_destroy(ex); /* drains the fire-and-forget half */
  for (size_t i = 0; i < (size_t)SUBMITTERS * PER_SUBMITTER; i++)
    assert_int_equal(atomic_load(&hits[i]), 1);
}

/* ---- concurrent parallel-fors ---- */

enum { PF_THREADS = 3, PF_N = 20000 };

static int mark(void *user, size_t begin, size_t end) {
  _Atomic unsigned char *seen = user;
  for (size_t i = begin; i < end; i++) atomic_fetch_add(&seen[i], 1);
  return 0;
}

typedef struct pf_ctx {
  gsp_exec *ex;
  _Atomic unsigned char seen[PF_N];
} pf_ctx;

static void *pf_thread(void *arg) {
  pf_ctx *c = arg;
  assert_int_equal(gsp_exec_parallel_for(c->ex, PF_N, 0, mark, c->seen), GSP_OK);
  return NULL;
}

static void test_concurrent_parallel_for(void **state) {
  (void)state;
  gsp_exec *ex = NULL;
  gsp_exec_config cfg = {.workers = 2};
  assert_int_equal(gsp_exec_create(&cfg, &ex), GSP_OK);
  pf_ctx *ctx = calloc(PF_THREADS, sizeof(*ctx));
  assert_non_null(ctx);
  pthread_t th[PF_THREADS];
  for (int i = 0; i < PF_THREADS; i++) {
    ctx[i].ex = ex;
    assert_int_equal(pthread_create(&th[i], NULL, pf_thread, &ctx[i]), 0);
  }
  for (int i = 0; i < PF_THREADS; i++) pthread_join(th[i], NULL);
  for (int t = 0; t < PF_THREADS; t++)
    for (size_t i = 0; i < PF_N; i++) assert_int_equal(atomic_load(&ctx[t].seen[i]), 1);
  free(ctx);
  gsp_exec_destroy(ex);
}

/* ---- nested fork-join ---- */

#include "fib_task.h"

static void *fib_thread(void *p) {
  fib_arg *a = p;
  gsp_exec_future *f = NULL;
  int r = -1;
  assert_int_equal(gsp_exec_submit(a->ex, fib_task, a, &f), GSP_OK);
  assert_int_equal(gsp_exec_future_wait(f, &r), GSP_OK);
  assert_int_equal(r, 0);
  gsp_exec_future_release(f);
  return NULL;
}

static void test_nested_fib_two_callers(void **state) {
  (void)state;
  gsp_exec *ex = NULL;
  gsp_exec_config cfg = {.workers = 2};
  assert_int_equal(gsp_exec_create(&cfg, &ex), GSP_OK);
  fib_arg a[2] = {{ex, 16, 0}, {ex, 17, 0}};
  pthread_t th[2];
  for (int i = 0; i < 2; i++) assert_int_equal(pthread_create(&th[i], NULL, fib_thread, &a[i]), 0);
  for (int i = 0; i < 2; i++) pthread_join(th[i], NULL);
  assert_int_equal(a[0].out, 987);
  assert_int_equal(a[1].out, 1597);
  gsp_exec_destroy(ex);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_deque_owner_and_thieves),
      cmocka_unit_test(test_many_submitters),
      cmocka_unit_test(test_concurrent_parallel_for),
      cmocka_unit_test(test_nested_fib_two_callers),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
