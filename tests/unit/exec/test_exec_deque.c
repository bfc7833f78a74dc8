/*
 * test_exec_deque.c - the Chase-Lev deque on one thread: the owner pops
 * newest first, a thief takes oldest first, growth keeps every item and
 * its order, and an empty deque says so.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "deque.h"
#include "gsperf/common.h"

static char g_items[8192];
static void *item(uintptr_t i) { return &g_items[i]; } /* never NULL */

static void test_lifo_pop(void **state) {
  (void)state;
  gsp__deque d;
  assert_int_equal(gsp__deque_init(&d, 2), GSP_OK);
  assert_null(gsp__deque_pop(&d));
  for (uintptr_t i = 0; i < 3; i++) assert_int_equal(gsp__deque_push(&d, item(i)), GSP_OK);
  for (uintptr_t i = 3; i-- > 0;) assert_ptr_equal(gsp__deque_pop(&d), item(i));
  assert_null(gsp__deque_pop(&d));
  assert_true(gsp__deque_empty(&d));
  gsp__deque_fini(&d);
}

static void test_fifo_steal(void **state) {
  (void)state;
  gsp__deque d;
  void *x = NULL;
  assert_int_equal(gsp__deque_init(&d, 2), GSP_OK);
  assert_int_equal(gsp__deque_steal(&d, &x), GSP__STEAL_EMPTY);
  for (uintptr_t i = 0; i < 4; i++) assert_int_equal(gsp__deque_push(&d, item(i)), GSP_OK);
  for (uintptr_t i = 0; i < 4; i++) {
    assert_int_equal(gsp__deque_steal(&d, &x), GSP__STEAL_OK);
    assert_ptr_equal(x, item(i));
  }
  assert_int_equal(gsp__deque_steal(&d, &x), GSP__STEAL_EMPTY);
  assert_null(gsp__deque_pop(&d));
  gsp__deque_fini(&d);
}

/* Growth from 2 slots to thousands, with wrap-around (top far from 0). */
static void test_growth_keeps_order(void **state) {
  (void)state;
  gsp__deque d;
  void *x = NULL;
  assert_int_equal(gsp__deque_init(&d, 1), GSP_OK);
  for (uintptr_t i = 0; i < 5; i++) { /* move top and bottom off zero */
    assert_int_equal(gsp__deque_push(&d, item(i)), GSP_OK);
    assert_int_equal(gsp__deque_steal(&d, &x), GSP__STEAL_OK);
  }
  enum { N = 5000 };
  for (uintptr_t i = 0; i < N; i++) assert_int_equal(gsp__deque_push(&d, item(i)), GSP_OK);
  for (uintptr_t i = 0; i < N / 2; i++) { /* oldest half by stealing */
    assert_int_equal(gsp__deque_steal(&d, &x), GSP__STEAL_OK);
    assert_ptr_equal(x, item(i));
  }
  for (uintptr_t i = N; i-- > N / 2;) assert_ptr_equal(gsp__deque_pop(&d), item(i));
  assert_true(gsp__deque_empty(&d));
  gsp__deque_fini(&d);
}

/* Mixed pushes and pops: a stack discipline at the bottom. */
static void test_interleaved(void **state) {
  (void)state;
  gsp__deque d;
  assert_int_equal(gsp__deque_init(&d, 3), GSP_OK);
  uintptr_t depth = 0;
  for (int round = 0; round < 1000; round++) {
    if (round % 3 != 2) {
      assert_int_equal(gsp__deque_push(&d, item(depth)), GSP_OK);
      depth++;
    } else {
      depth--;
      assert_ptr_equal(gsp__deque_pop(&d), item(depth));
    }
  }
  while (depth-- > 0) assert_ptr_equal(gsp__deque_pop(&d), item(depth));
  assert_null(gsp__deque_pop(&d));
  gsp__deque_fini(&d);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_lifo_pop),
      cmocka_unit_test(test_fifo_steal),
      cmocka_unit_test(test_growth_keeps_order),
      cmocka_unit_test(test_interleaved),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
