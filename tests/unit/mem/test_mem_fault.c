/*
 * test_mem_fault.c - fault injection: run a pool's and an arena's whole
 * life failing the Nth allocation, for every N until a run completes
 * without reaching N. Each run must not crash, must get only success or a
 * clean GSP_ENOMEM / NULL from every call, must stay usable, and must free
 * every byte it allocated; ctor and dtor counts must still match.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "gsperf/mem.h"

#include "../../support/fault_alloc.h"

typedef struct counts {
  int ctor, dtor;
} counts;

static void c_ctor(void *obj, void *user) {
  memset(obj, 0x11, 48);
  ((counts *)user)->ctor++;
}

static void c_dtor(void *obj, void *user) {
  (void)obj;
  ((counts *)user)->dtor++;
}

#define NOBJ 64

static void churn(gsp_pool *p, void **o) {
  for (int i = 0; i < NOBJ; i++) {
    o[i] = gsp_pool_alloc(p);
    if (o[i] == NULL)
      assert_true(g_failed);
    else
      memset(o[i], i, 48);
  }
  for (int i = 0; i < NOBJ; i += 2) gsp_pool_free(p, o[i]);
  (void)gsp_pool_trim(p);
  for (int i = 0; i < NOBJ; i += 2) o[i] = gsp_pool_alloc(p);
  for (int i = 0; i < NOBJ; i++) gsp_pool_free(p, o[i]);
}

static bool pool_life(void) {
  counts c = {0, 0};
  gsp_pool_stats fin;
  gsp_pool *p = NULL;
  gsp_pool_config cfg = {.obj_size = 48,
                         .batch = 4,
                         .slab_bytes = 1024,
                         .reserve = 10,
                         .ctor = c_ctor,
                         .dtor = c_dtor,
                         .user = &c,
                         .name = "fault",
                         .final_stats = &fin};
  int rv = gsp_pool_create(&cfg, &p);
  ok_or_nomem(rv);
  if (rv != GSP_OK) {
    assert_int_equal(c.ctor, c.dtor);
    return false;
  }
  void *o[NOBJ];
  churn(p, o);
  ok_or_nomem(gsp_pool_reserve(p, 200));
  gsp_pool_stats st;
  gsp_pool_stats_get(p, &st);
  assert_int_equal(st.live, 0);
  assert_non_null(gsp_pool_errmsg(p));
  gsp_pool_destroy(p);
  assert_int_equal(fin.leaked, 0);
  assert_int_equal(c.ctor, c.dtor);
  return true;
}

static bool arena_life(void) {
  gsp_arena *a = NULL;
  int rv = gsp_arena_create(&(gsp_arena_config){.chunk_bytes = 256}, &a);
  ok_or_nomem(rv);
  if (rv != GSP_OK) return false;
  for (int round = 0; round < 3; round++) {
    gsp_arena_mark m = gsp_arena_mark_get(a);
    for (int i = 0; i < 20; i++) {
      char *x = gsp_arena_alloc(a, (size_t)i * 10 + 1, 8);
      if (x == NULL)
        assert_true(g_failed);
      else
        memset(x, i, (size_t)i * 10 + 1);
    }
    gsp_arena_reset_to(a, m);
    if (round == 1) (void)gsp_arena_trim(a);
  }
  gsp_arena_reset(a);
  gsp_arena_destroy(a);
  return true;
}

static void run_life(void *life) {
  bool (*life_fn)(void) = *(bool (**)(void))life;
  (void)life_fn();
}

static void run_all_faults(bool (*life)(void)) { (void)fault_each_allocation(run_life, &life); }

static void test_pool_faults(void **state) {
  (void)state;
  run_all_faults(pool_life);
}

static void test_arena_faults(void **state) {
  (void)state;
  run_all_faults(arena_life);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_pool_faults),
      cmocka_unit_test(test_arena_faults),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
