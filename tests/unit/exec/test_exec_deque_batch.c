/*
 * test_exec_deque_batch.c - gsp__deque_push_batch(), the one-publish push
 * the pool uses to move a batch of tasks onto a worker's deque (label
 * `concurrency`: CI runs it again under ThreadSanitizer).
 *
 *  - a batch keeps its order (thieves take it oldest first, the owner
 *    pops it newest first) and grows the ring as many times as it needs;
 *  - an empty batch changes nothing;
 *  - a batch that cannot grow the ring (allocation fails) pushes nothing
 *    and leaves the items already queued intact;
 *  - an owner pushing batches and popping while thieves steal: every item
 *    is taken exactly once, across growth.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "deque.h"
#include "gsperf/common.h"
#include "../../support/fault_alloc.h"

enum { ITEMS = 200000, THIEVES = 3, BATCH = 15 };

static char g_items[ITEMS];
static void *item(uintptr_t i) { return &g_items[i]; } /* never NULL */

static void test_order_and_growth(void **state) {
  (void)state;
  gsp__deque d;
  assert_int_equal(gsp__deque_init(&d, 1), GSP_OK); /* room for 2: a batch of 9 grows it 3 times */
  void *x[9];
  for (uintptr_t i = 0; i < 9; i++) x[i] = item(i);
  assert_int_equal(gsp__deque_push(&d, item(100)), GSP_OK);
  assert_int_equal(gsp__deque_push_batch(&d, x, 9), GSP_OK);
  assert_int_equal(gsp__deque_size(&d), 10);
  void *got = NULL;
  assert_int_equal(gsp__deque_steal(&d, &got), GSP__STEAL_OK);
  assert_ptr_equal(got, item(100));
  for (uintptr_t i = 0; i < 4; i++) { /* oldest first from the top */
    assert_int_equal(gsp__deque_steal(&d, &got), GSP__STEAL_OK);
    assert_ptr_equal(got, item(i));
  }
  for (uintptr_t i = 9; i-- > 4;) assert_ptr_equal(gsp__deque_pop(&d), item(i)); /* newest first */
  assert_null(gsp__deque_pop(&d));
  assert_int_equal(gsp__deque_push_batch(&d, x, 0), GSP_OK);
  assert_true(gsp__deque_empty(&d));
  gsp__deque_fini(&d);
}

/* One life under fault injection: a batch that must grow the ring. */
static void batch_life(void *arg) {
  (void)arg;
  gsp__deque d;
  int rv = gsp__deque_init(&d, 1);
  ok_or_nomem(rv);
  if (rv != GSP_OK) return;
  assert_int_equal(gsp__deque_push(&d, item(50)), GSP_OK); /* room for 2: no allocation */
  void *x[4] = {item(0), item(1), item(2), item(3)};
  rv = gsp__deque_push_batch(&d, x, 4);
  ok_or_nomem(rv);
  if (rv == GSP_OK) {
    assert_int_equal(gsp__deque_size(&d), 5);
    for (uintptr_t i = 4; i-- > 0;) assert_ptr_equal(gsp__deque_pop(&d), item(i));
  } else {
    assert_int_equal(gsp__deque_size(&d), 1); /* nothing of the batch went in */
  }
  assert_ptr_equal(gsp__deque_pop(&d), item(50));
  assert_null(gsp__deque_pop(&d));
  gsp__deque_fini(&d);
}

static void test_enomem_pushes_nothing(void **state) {
  (void)state;
  /* the ring of 2, then two doublings (4, 8) for 5 items */
  assert_int_equal(fault_each_allocation(batch_life, NULL), 3);
}

/* ---- owner batches and pops, thieves steal ---- */

static gsp__deque g_dq;
static _Atomic unsigned char g_taken[ITEMS];
static atomic_bool g_owner_done;

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

static void test_batches_and_thieves(void **state) {
  (void)state;
  assert_int_equal(gsp__deque_init(&g_dq, 1), GSP_OK);
  atomic_store(&g_owner_done, false);
  pthread_t th[THIEVES];
  for (int i = 0; i < THIEVES; i++) assert_int_equal(pthread_create(&th[i], NULL, thief, NULL), 0);
  uintptr_t next = 0;
  while (next < ITEMS) {
    void *x[BATCH];
    size_t n = 0;
    size_t want = 1 + next % BATCH; /* batches of 1..15 */
    while (n < want && next < ITEMS) x[n++] = item(next++);
    assert_int_equal(gsp__deque_push_batch(&g_dq, x, n), GSP_OK);
    void *y = gsp__deque_pop(&g_dq);
    if (y != NULL) take(y);
  }
  void *y;
  while ((y = gsp__deque_pop(&g_dq)) != NULL) take(y);
  atomic_store(&g_owner_done, true);
  for (int i = 0; i < THIEVES; i++) pthread_join(th[i], NULL);
  for (size_t i = 0; i < ITEMS; i++) assert_int_equal(atomic_load(&g_taken[i]), 1);
  gsp__deque_fini(&g_dq);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_order_and_growth),
      cmocka_unit_test(test_enomem_pushes_nothing),
      cmocka_unit_test(test_batches_and_thieves),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
