/*
 * test_cache_fault.c - fault injection: for every strategy, run a cache's
 * whole life (create, inserts, updates, evictions, lookups, get-or-compute,
 * deletes, clear, destroy) failing the Nth allocation, for every N until a
 * run completes without reaching N. Each run must not crash, must return
 * only success or a clean GSP_ENOMEM from every call, must keep the cache
 * usable, and must free every byte it allocated.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "gsperf/cache.h"

#include "../../support/fault_alloc.h"

static int compute(void *user, const void *key, size_t klen, void **val, size_t *vlen) {
  (void)user;
  char *v = gsp_malloc(klen + 1);
  if (v == NULL) return GSP_ENOMEM;
  memcpy(v, key, klen);
  v[klen] = '!';
  *val = v;
  *vlen = klen + 1;
  return GSP_OK;
}

/* A cache's life; returns false if create failed (a valid outcome). */
static bool life(gsp_cache_strategy s) {
  gsp_cache *c = NULL;
  gsp_cache_config cfg = {.strategy = s, .max_entries = 8, .shards = 2, .ttl_ms = 60000};
  int rv = gsp_cache_create(&cfg, &c);
  ok_or_nomem(rv);
  if (rv != GSP_OK) return false;
  char key[16], val[64];
  for (int i = 0; i < 40; i++) {
    int k = (i * 7) % 13;
    snprintf(key, sizeof key, "k%d", k);
    memset(val, 'a' + k, sizeof val);
    ok_or_nomem(gsp_cache_put(c, key, strlen(key), val, (size_t)(k * 3), NULL));
    gsp_cache_ref *r = NULL;
    rv = gsp_cache_get_or_compute(c, key, strlen(key), compute, NULL, NULL, &r);
    ok_or_nomem(rv);
    if (rv == GSP_OK) gsp_cache_ref_release(r);
    size_t n;
    rv = gsp_cache_get_copy(c, key, strlen(key), val, sizeof val, &n);
    assert_true(rv == GSP_OK || rv == GSP_ENOENT);
    if (i % 5 == 0) gsp_cache_delete(c, key, strlen(key));
  }
  gsp_cache_stats st;
  gsp_cache_stats_get(c, &st);
  assert_true(st.entries <= 8 + 2);
  assert_int_equal(st.insertions - st.evictions - st.deletions - st.expirations, st.entries);
  gsp_cache_clear(c);
  gsp_cache_stats_get(c, &st);
  assert_int_equal(st.entries, 0);
  assert_int_equal(st.bytes, 0);
  gsp_cache_destroy(c);
  return true;
}

static void free_int(void *obj, void *user) {
  (void)user;
  free(obj);
}

static bool weak_life(void) {
  gsp_cache *c = NULL;
  int rv = gsp_cache_create(&(gsp_cache_config){.strategy = GSP_CACHE_WEAK}, &c);
  ok_or_nomem(rv);
  if (rv != GSP_OK) return false;
  for (int i = 0; i < 10; i++) {
    gsp_rc *o = NULL;
    int *obj = malloc(sizeof *obj);
    rv = gsp_rc_create(obj, free_int, NULL, &o);
    ok_or_nomem(rv);
    if (rv != GSP_OK) {
      free(obj);
      continue;
    }
    ok_or_nomem(gsp_cache_put_weak(c, &i, sizeof i, o, NULL));
    gsp_rc *got = NULL;
    if (gsp_cache_get_weak(c, &i, sizeof i, &got) == GSP_OK) gsp_rc_release(got);
    gsp_rc_release(o);
    assert_false(gsp_cache_contains(c, &i, sizeof i));
  }
  gsp_cache_destroy(c);
  return true;
}

/* One life of a strategy, as fault_each_allocation() calls it. */
typedef struct {
  bool (*fn)(gsp_cache_strategy);
  gsp_cache_strategy s;
} strategy_life;

static void run_strategy_life(void *arg) {
  strategy_life *l = arg;
  (void)l->fn(l->s);
}

static void run_all_failures(bool (*fn)(gsp_cache_strategy), gsp_cache_strategy s) {
  strategy_life l = {fn, s};
  long runs = fault_each_allocation(run_strategy_life, &l);
  if (runs <= 20)
    fail_msg("%s: only %ld allocations failed in turn", gsp_cache_strategy_name(s), runs);
}

static bool weak_adapter(gsp_cache_strategy s) {
  (void)s;
  return weak_life();
}

static void test_fault_lru(void **st) {
  (void)st;
  run_all_failures(life, GSP_CACHE_LRU);
}
static void test_fault_lfu(void **st) {
  (void)st;
  run_all_failures(life, GSP_CACHE_LFU);
}
static void test_fault_fifo(void **st) {
  (void)st;
  run_all_failures(life, GSP_CACHE_FIFO);
}
static void test_fault_ttl(void **st) {
  (void)st;
  run_all_failures(life, GSP_CACHE_TTL);
}
static void test_fault_adaptive(void **st) {
  (void)st;
  run_all_failures(life, GSP_CACHE_ADAPTIVE);
}
static void test_fault_weak(void **st) {
  (void)st;
  run_all_failures(weak_adapter, GSP_CACHE_WEAK);
}

static void manager_life(void *arg) {
  (void)arg;
  gsp_cache_manager *m = NULL;
  int rv = gsp_cache_manager_create(&m);
  ok_or_nomem(rv);
  if (rv == GSP_OK) {
    gsp_cache_config cfg = {.max_entries = 100};
    char name[16];
    for (int i = 0; i < 12; i++) {
      snprintf(name, sizeof name, "c%d", i);
      ok_or_nomem(gsp_cache_manager_create_cache(m, name, &cfg, NULL));
    }
    gsp_cache_manager_destroy(m);
  }
}

static void test_fault_manager(void **st) {
  (void)st;
  (void)fault_each_allocation(manager_life, NULL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_fault_lru),      cmocka_unit_test(test_fault_lfu),
      cmocka_unit_test(test_fault_fifo),     cmocka_unit_test(test_fault_ttl),
      cmocka_unit_test(test_fault_adaptive), cmocka_unit_test(test_fault_weak),
      cmocka_unit_test(test_fault_manager),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
