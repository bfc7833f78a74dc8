/*
 * test_tier_fault.c - fault injection: a tier's whole life (create with all
 * three levels, puts that demote through L2 into L3, gets that promote,
 * get-or-compute, delete, contains, stats and JSON, verify, flush, clear,
 * destroy) failing the Nth allocation, for every N until a run completes
 * without reaching N; in write-through and write-back. Every call must
 * succeed or fail cleanly (GSP_ENOMEM, or a miss for a lookup), a value
 * returned must be intact, and every block allocated must be freed.
 * (LMDB allocates with the C library directly; those are not counted.)
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "tier_scratch.h"

#include "../../support/fault_alloc.h"

static int compute(void *user, const void *key, size_t klen, void **val, size_t *vlen) {
  (void)user;
  (void)klen;
  unsigned i;
  if (sscanf(key, "key-%u", &i) != 1) return GSP_EINVAL;
  char *v = gsp_malloc(120);
  if (v == NULL) return GSP_ENOMEM;
  *vlen = make_value(v, 120, i, 1, 1);
  *val = v;
  return GSP_OK;
}

static void life_ops(gsp_tier *t) {
  char k[32], v[400];
  for (unsigned i = 0; i < 24; i++) {
    size_t n = make_value(v, 100 + i * 12, i, 1, 1);
    ok_or_nomem(gsp_tier_put(t, k, key_of(k, sizeof k, i), v, n, NULL));
  }
  for (unsigned i = 0; i < 24; i += 3) tier_get_check(t, i);
  for (unsigned i = 30; i < 34; i++) {
    void *cv = NULL;
    size_t cn;
    int rv = gsp_tier_get_or_compute(t, k, key_of(k, sizeof k, i), compute, NULL, NULL, &cv, &cn);
    ok_or_nomem(rv);
    if (rv == GSP_OK) assert_true(value_ok(cv, cn, i, 1));
    gsp_free(cv);
  }
  int rv = gsp_tier_delete(t, k, key_of(k, sizeof k, 5));
  assert_true(rv == GSP_OK || rv == GSP_ENOENT || rv == GSP_ENOMEM);
  (void)gsp_tier_contains(t, k, key_of(k, sizeof k, 6));
  gsp_tier_stats s;
  ok_or_nomem(gsp_tier_stats_get(t, &s));
  char json[2048];
  gsp_tier_stats_json(&s, json, sizeof json);
  uint64_t good, bad;
  ok_or_nomem(gsp_tier_verify(t, true, &good, &bad));
  ok_or_nomem(gsp_tier_flush(t));
  ok_or_nomem(gsp_tier_clear(t));
}

static bool life(gsp_tier_write_mode mode) {
  rm_dir(g_dir);
  gsp_tier *t = NULL;
  gsp_tier_config c = {.l1_max_entries = 4,
                       .l2_max_bytes = 2048,
                       .l3 = g_uri,
                       .write_mode = mode,
                       .wb_batch = 8,
                       .durability = GSP_TIER_NONE};
  int rv = gsp_tier_create(&c, &t, NULL, 0);
  ok_or_nomem(rv);
  if (rv != GSP_OK) {
    assert_null(t);
    return false;
  }
  life_ops(t);
  gsp_tier_destroy(t);
  return true;
}

static void life_of_mode(void *mode) { (void)life(*(gsp_tier_write_mode *)mode); }

static void run_all_failures(gsp_tier_write_mode mode) {
  assert_true(fault_each_allocation(life_of_mode, &mode) > 50);
}

static void test_fault_write_through(void **st) {
  (void)st;
  run_all_failures(GSP_TIER_WRITE_THROUGH);
}

static void test_fault_write_back(void **st) {
  (void)st;
  run_all_failures(GSP_TIER_WRITE_BACK);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_fault_write_through),
      cmocka_unit_test(test_fault_write_back),
  };
  return cmocka_run_group_tests(tests, tier_setup, tier_teardown);
}
