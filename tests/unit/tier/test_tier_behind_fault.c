/*
 * test_tier_behind_fault.c - fault injection for write-behind: a tier's
 * life (create, which starts the writer thread; puts through a small queue
 * and small batches, so the writer encodes and commits several batches;
 * gets that find values queued or in L3; delete, contains, stats, flush,
 * destroy) failing the Nth allocation, for every N until a run completes
 * without reaching N, with write-around and without. Allocations of the
 * writer thread are counted too. Every call must succeed or fail cleanly
 * (GSP_ENOMEM; after the writer failed, puts and flush return its
 * GSP_ENOMEM), a value returned must be intact, and every block allocated
 * must be freed. (LMDB allocates with the C library directly.)
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "tier_scratch.h"

#include "../../support/fault_alloc.h"

static void life_ops(gsp_tier *t) {
  char k[32], v[400];
  for (unsigned i = 0; i < 40; i++) {
    size_t n = make_value(v, 100 + i * 7, i, 1, 1);
    ok_or_nomem(gsp_tier_put(t, k, key_of(k, sizeof k, i), v, n, NULL));
    if (i % 5 == 0) tier_get_check(t, i);
  }
  for (unsigned i = 0; i < 40; i += 3) tier_get_check(t, i);
  int rv = gsp_tier_delete(t, k, key_of(k, sizeof k, 5));
  assert_true(rv == GSP_OK || rv == GSP_ENOENT || rv == GSP_ENOMEM);
  (void)gsp_tier_contains(t, k, key_of(k, sizeof k, 6));
  gsp_tier_stats s;
  ok_or_nomem(gsp_tier_stats_get(t, &s));
  ok_or_nomem(gsp_tier_flush(t));
  for (unsigned i = 1; i < 40; i += 4) tier_get_check(t, i);
}

static void life(void *around) {
  rm_dir(g_dir);
  gsp_tier *t = NULL;
  gsp_tier_config c = {.l1_max_entries = 4,
                       .l3 = g_uri,
                       .write_mode = GSP_TIER_WRITE_BEHIND,
                       .wbh_queue_bytes = 2048,
                       .wbh_batch_bytes = 700,
                       .write_around = *(bool *)around,
                       .durability = GSP_TIER_NONE};
  int rv = gsp_tier_create(&c, &t, NULL, 0);
  ok_or_nomem(rv);
  if (rv != GSP_OK) {
    assert_null(t);
    return;
  }
  life_ops(t);
  gsp_tier_destroy(t);
}

static void test_fault_behind(void **st) {
  (void)st;
  bool around = false;
  assert_true(fault_each_allocation(life, &around) > 30);
}

static void test_fault_behind_around(void **st) {
  (void)st;
  bool around = true;
  assert_true(fault_each_allocation(life, &around) > 30);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_fault_behind),
      cmocka_unit_test(test_fault_behind_around),
  };
  return cmocka_run_group_tests(tests, tier_setup, tier_teardown);
}
