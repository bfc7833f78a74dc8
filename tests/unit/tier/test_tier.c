/*
 * test_tier.c - behaviour of the multi-level cache on one thread: put/get/
 * delete through every level, demotion L1 -> L2 -> L3 and promotion back,
 * LZ4 in L2 (compressible and incompressible values), persistence across a
 * reopen, write-back batches, TTL at every level, the L3 byte bound and its
 * LRU order surviving a restart, oversize entries (ENOSPC with L1 still
 * serving), clear, get-or-compute, statistics and their JSON, other
 * strategies with PERIODIC durability.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "tier_scratch.h"

static gsp_tier *make(gsp_tier_config cfg) {
  gsp_tier *t = NULL;
  char err[256];
  int rv = gsp_tier_create(&cfg, &t, err, sizeof err);
  if (rv != GSP_OK) fail_msg("create: %s: %s", gsp_err_name(rv), err);
  return t;
}

static void put_i(gsp_tier *t, unsigned i, unsigned v, size_t n, int text) {
  char k[32], *val = malloc(n);
  make_value(val, n, i, v, text);
  int rv = gsp_tier_put(t, k, key_of(k, sizeof k, i), val, n, NULL);
  if (rv != GSP_OK) fail_msg("put %u: %s: %s", i, gsp_err_name(rv), gsp_tier_errmsg(t));
  free(val);
}

/* 1 = found and intact (version v if v != 0), 0 = miss. */
static int get_i(gsp_tier *t, unsigned i, int text) {
  char k[32];
  void *val;
  size_t n;
  int rv = gsp_tier_get(t, k, key_of(k, sizeof k, i), &val, &n);
  if (rv == GSP_ENOENT) return 0;
  assert_int_equal(rv, GSP_OK);
  assert_true(value_ok(val, n, i, text));
  gsp_free(val);
  return 1;
}

static void test_invalid(void **st) {
  (void)st;
  gsp_tier *t = NULL;
  char err[256];
  assert_int_equal(gsp_tier_create(NULL, &t, err, sizeof err), GSP_EINVAL);
  assert_int_equal(gsp_tier_create(&(gsp_tier_config){.l3 = "redis:x"}, &t, err, sizeof err),
                   GSP_EINVAL);
  assert_non_null(strstr(err, "redis:x"));
  assert_int_equal(
      gsp_tier_create(&(gsp_tier_config){.l1_strategy = GSP_CACHE_WEAK}, &t, err, sizeof err),
      GSP_EINVAL);
  gsp_tier_config c = {.l3 = g_uri, .l3_strategy = GSP_CACHE_ADAPTIVE};
  assert_int_equal(gsp_tier_create(&c, &t, err, sizeof err), GSP_EINVAL);
  assert_null(t);
  gsp_tier_destroy(NULL);
  t = make((gsp_tier_config){0});
  void *v;
  size_t n;
  assert_int_equal(gsp_tier_put(t, NULL, 1, "x", 1, NULL), GSP_EINVAL);
  assert_int_equal(gsp_tier_put(t, "k", 0, "x", 1, NULL), GSP_EINVAL);
  assert_int_equal(gsp_tier_get(t, "k", 1, NULL, &n), GSP_EINVAL);
  assert_int_equal(gsp_tier_get(t, "k", 1, &v, &n), GSP_ENOENT);
  assert_int_equal(gsp_tier_delete(t, "k", 1), GSP_ENOENT);
  gsp_tier_destroy(t);
}

static void test_memory_only(void **st) {
  (void)st;
  gsp_tier *t = make((gsp_tier_config){.l2_max_bytes = SIZE_MAX});
  for (unsigned i = 0; i < 100; i++) put_i(t, i, 1, 100 + i, 1);
  for (unsigned i = 0; i < 100; i++) assert_int_equal(get_i(t, i, 1), 1);
  char k[32];
  assert_int_equal(gsp_tier_delete(t, k, key_of(k, sizeof k, 7)), GSP_OK);
  assert_int_equal(get_i(t, 7, 1), 0);
  assert_false(gsp_tier_contains(t, k, key_of(k, sizeof k, 7)));
  assert_true(gsp_tier_contains(t, k, key_of(k, sizeof k, 8)));
  gsp_tier_stats s;
  assert_int_equal(gsp_tier_stats_get(t, &s), GSP_OK);
  assert_false(s.level[1].present);
  assert_false(s.level[2].present);
  assert_int_equal(s.lookups, 101);
  assert_int_equal(s.hits, 100);
  assert_int_equal(s.level[0].read.count, 101);
  assert_int_equal(s.level[0].write.count, 100);
  gsp_tier_destroy(t);
}

/* A small L1 pushes entries down; every one stays readable and intact. */
static void test_demote_promote(void **st) {
  (void)st;
  gsp_tier *t = make((gsp_tier_config){
      .l1_max_entries = 16, .l2_max_bytes = 64 * 1024, .l3 = g_uri, .durability = GSP_TIER_NONE});
  for (unsigned i = 0; i < 400; i++) put_i(t, i, 1, 700, 1);
  gsp_tier_stats s;
  gsp_tier_stats_get(t, &s);
  assert_true(s.level[1].demotions > 0);
  assert_true(s.level[1].entries > 0);
  assert_true(s.level[1].compression_ratio > 2.0);                      /* repetitive text */
  assert_int_equal(s.level[2].entries, 400);                            /* write-through */
  for (unsigned i = 400; i-- > 0;) assert_int_equal(get_i(t, i, 1), 1); /* newest first */
  gsp_tier_stats_get(t, &s);
  assert_true(s.level[1].hits > 0 && s.level[1].promotions > 0);
  assert_true(s.level[2].hits > 0 && s.level[2].promotions > 0);
  assert_int_equal(s.hits, 400);
  assert_int_equal(s.level[0].hits + s.level[1].hits + s.level[2].hits, 400);
  char json[4096];
  size_t n = gsp_tier_stats_json(&s, json, sizeof json);
  assert_true(n < sizeof json);
  assert_non_null(strstr(json, "\"l2\":{\"present\":true"));
  assert_non_null(strstr(json, "\"compression_ratio\""));
  gsp_tier_destroy(t);
}

/* Values that do not shrink are stored raw and still read back intact. */
static void test_incompressible(void **st) {
  (void)st;
  gsp_tier *t = make((gsp_tier_config){.l1_max_entries = 4, .l2_max_bytes = 1 << 20});
  for (unsigned i = 0; i < 50; i++) put_i(t, i, 3, 2000, 0);
  gsp_tier_stats s;
  gsp_tier_stats_get(t, &s);
  assert_true(s.level[1].entries > 0);
  assert_true(s.level[1].compression_ratio > 0.99 && s.level[1].compression_ratio < 1.01);
  for (unsigned i = 0; i < 50; i++) assert_int_equal(get_i(t, i, 0), 1);
  gsp_tier_destroy(t);
}

/* Everything reaches L3 and is read back by the next process. */
static void test_persist_reopen(void **st) {
  (void)st;
  gsp_tier *t = make((gsp_tier_config){.l3 = g_uri});
  for (unsigned i = 0; i < 200; i++) put_i(t, i, 1, 3000, 1);
  gsp_tier_destroy(t);
  t = make((gsp_tier_config){.l3 = g_uri});
  for (unsigned i = 0; i < 200; i++) assert_int_equal(get_i(t, i, 1), 1);
  gsp_tier_stats s;
  gsp_tier_stats_get(t, &s);
  assert_int_equal(s.level[2].hits, 200);
  for (unsigned i = 0; i < 200; i++) assert_int_equal(get_i(t, i, 1), 1);
  gsp_tier_stats_get(t, &s);
  assert_int_equal(s.level[0].hits, 200); /* promoted */
  gsp_tier_destroy(t);
  /* the simple path */
  char err[256];
  assert_int_equal(gsp_tier_open(g_dir, 0, &t, err, sizeof err), GSP_OK);
  assert_int_equal(get_i(t, 17, 1), 1);
  gsp_tier_destroy(t);
}

static void test_write_back(void **st) {
  (void)st;
  gsp_tier *t = make((gsp_tier_config){.l1_max_entries = 8,
                                       .l2_max_bytes = SIZE_MAX,
                                       .l3 = g_uri,
                                       .write_mode = GSP_TIER_WRITE_BACK,
                                       .wb_batch = 64,
                                       .durability = GSP_TIER_NONE});
  for (unsigned i = 0; i < 40; i++) put_i(t, i, 1, 500, 1);
  gsp_tier_stats s;
  gsp_tier_stats_get(t, &s);
  assert_int_equal(s.wb_pending, 40);
  /* some were evicted from L1 and demoted into L3, the rest wait */
  for (unsigned i = 0; i < 40; i++) assert_int_equal(get_i(t, i, 1), 1);
  for (unsigned i = 0; i < 40; i++) put_i(t, i, 2, 500, 1); /* batch fills, is written */
  gsp_tier_stats_get(t, &s);
  assert_true(s.wb_pending < 64);
  assert_int_equal(gsp_tier_flush(t), GSP_OK);
  gsp_tier_stats_get(t, &s);
  assert_int_equal(s.wb_pending, 0);
  assert_int_equal(s.level[2].entries, 40);
  char k[32];
  assert_int_equal(gsp_tier_delete(t, k, key_of(k, sizeof k, 5)), GSP_OK);
  for (unsigned i = 40; i < 50; i++) put_i(t, i, 1, 500, 1);
  gsp_tier_destroy(t); /* flushes */
  t = make((gsp_tier_config){.l3 = g_uri});
  for (unsigned i = 0; i < 50; i++) assert_int_equal(get_i(t, i, 1), i != 5);
  void *v;
  size_t n;
  assert_int_equal(gsp_tier_get(t, k, key_of(k, sizeof k, 9), &v, &n), GSP_OK);
  assert_memory_equal(v, "k9.v2:", 6); /* the newest version won */
  gsp_free(v);
  gsp_tier_destroy(t);
}

static void test_ttl(void **st) {
  (void)st;
  gsp_tier *t =
      make((gsp_tier_config){.l1_max_entries = 2, .l3 = g_uri, .durability = GSP_TIER_NONE});
  for (unsigned i = 0; i < 6; i++) {
    char k[32], v[64];
    make_value(v, sizeof v, i, 1, 1);
    gsp_tier_put_opts o = {.ttl_ms = i < 3 ? 30 : 0};
    assert_int_equal(gsp_tier_put(t, k, key_of(k, sizeof k, i), v, sizeof v, &o), GSP_OK);
  }
  usleep(80 * 1000);
  for (unsigned i = 0; i < 6; i++) assert_int_equal(get_i(t, i, 1), i >= 3);
  gsp_tier_destroy(t);
  t = make((gsp_tier_config){.l3 = g_uri});
  for (unsigned i = 0; i < 6; i++) assert_int_equal(get_i(t, i, 1), i >= 3);
  gsp_tier_destroy(t);
}

/* The L3 bound holds; LRU order is kept in the database across reopen. */
static void test_l3_bound_lru(void **st) {
  (void)st;
  gsp_tier_config c = {.l1_max_entries = 1,
                       .l2_max_bytes = SIZE_MAX,
                       .l3 = g_uri,
                       .l3_max_bytes = 10 * 1100,
                       .durability = GSP_TIER_NONE};
  gsp_tier *t = make(c);
  for (unsigned i = 0; i < 10; i++) put_i(t, i, 1, 1000, 1);
  gsp_tier_stats s;
  gsp_tier_stats_get(t, &s);
  assert_int_equal(s.level[2].entries, 10);
  assert_int_equal(get_i(t, 0, 1), 1); /* 0 becomes most recent */
  put_i(t, 10, 1, 1000, 1);            /* evicts 1, the least recent */
  gsp_tier_destroy(t);
  t = make(c);
  assert_int_equal(get_i(t, 1, 1), 0);
  assert_int_equal(get_i(t, 0, 1), 1);
  put_i(t, 11, 1, 1000, 1); /* evicts 2 */
  assert_int_equal(get_i(t, 2, 1), 0);
  assert_int_equal(get_i(t, 3, 1), 1);
  gsp_tier_stats_get(t, &s);
  assert_true(s.level[2].bytes <= c.l3_max_bytes);
  gsp_tier_destroy(t);
}

/* An entry larger than L3's bound: ENOSPC, message, and L1 still has it. */
static void test_l3_too_big(void **st) {
  (void)st;
  gsp_tier *t = make((gsp_tier_config){.l3 = g_uri, .l3_max_bytes = 4096});
  char *big = malloc(10000);
  make_value(big, 10000, 1, 1, 1);
  assert_int_equal(gsp_tier_put(t, "big", 3, big, 10000, NULL), GSP_ENOSPC);
  assert_non_null(strstr(gsp_tier_errmsg(t), g_dir));
  void *v;
  size_t n;
  assert_int_equal(gsp_tier_get(t, "big", 3, &v, &n), GSP_OK);
  assert_int_equal(n, 10000);
  gsp_free(v);
  put_i(t, 1, 1, 100, 1); /* L3 still works */
  gsp_tier_stats s;
  gsp_tier_stats_get(t, &s);
  assert_int_equal(s.level[2].errors, 1);
  assert_int_equal(s.level[2].entries, 1);
  free(big);
  gsp_tier_destroy(t);
}

static void test_clear(void **st) {
  (void)st;
  gsp_tier *t =
      make((gsp_tier_config){.l1_max_entries = 4, .l3 = g_uri, .durability = GSP_TIER_NONE});
  for (unsigned i = 0; i < 30; i++) put_i(t, i, 1, 300, 1);
  assert_int_equal(gsp_tier_clear(t), GSP_OK);
  for (unsigned i = 0; i < 30; i++) assert_int_equal(get_i(t, i, 1), 0);
  gsp_tier_stats s;
  gsp_tier_stats_get(t, &s);
  assert_int_equal(s.level[0].entries + s.level[1].entries + s.level[2].entries, 0);
  assert_int_equal(s.level[2].bytes, 0);
  gsp_tier_destroy(t);
  t = make((gsp_tier_config){.l3 = g_uri});
  assert_int_equal(get_i(t, 3, 1), 0);
  gsp_tier_destroy(t);
}

static int g_computes;
static int compute(void *user, const void *key, size_t klen, void **val, size_t *vlen) {
  (void)user;
  g_computes++;
  unsigned i;
  if (sscanf((const char *)key, "key-%u", &i) != 1) return GSP_EINVAL;
  if (i == 999) return GSP_EIO;
  *val = gsp_malloc(256);
  *vlen = make_value(*val, 256, i, 1, 1);
  (void)klen;
  return GSP_OK;
}

static void test_get_or_compute(void **st) {
  (void)st;
  gsp_tier *t = make((gsp_tier_config){.l3 = g_uri, .durability = GSP_TIER_NONE});
  char k[32];
  void *v;
  size_t n;
  g_computes = 0;
  for (int round = 0; round < 2; round++) {
    size_t kl = key_of(k, sizeof k, 5);
    assert_int_equal(gsp_tier_get_or_compute(t, k, kl, compute, NULL, NULL, &v, &n), GSP_OK);
    assert_true(value_ok(v, n, 5, 1));
    gsp_free(v);
  }
  assert_int_equal(g_computes, 1);
  size_t kl = key_of(k, sizeof k, 999);
  assert_int_equal(gsp_tier_get_or_compute(t, k, kl, compute, NULL, NULL, &v, &n), GSP_EIO);
  assert_null(v);
  assert_false(gsp_tier_contains(t, k, kl));
  gsp_tier_destroy(t);
  /* the next process finds it in L3 without computing */
  t = make((gsp_tier_config){.l3 = g_uri});
  kl = key_of(k, sizeof k, 5);
  assert_int_equal(gsp_tier_get_or_compute(t, k, kl, compute, NULL, NULL, &v, &n), GSP_OK);
  gsp_free(v);
  assert_int_equal(g_computes, 2); /* found in L3: not computed again */
  gsp_tier_destroy(t);
}

/* Other strategies in L1/L2, PERIODIC durability (its sync thread starts
 * and stops), FIFO order in L3: every value still reads back intact. */
static void test_strategies_periodic(void **st) {
  (void)st;
  gsp_tier *t = make((gsp_tier_config){.l1_strategy = GSP_CACHE_ADAPTIVE,
                                       .l1_max_entries = 32,
                                       .l2_strategy = GSP_CACHE_LFU,
                                       .l2_max_bytes = 16 * 1024,
                                       .l3 = g_uri,
                                       .l3_strategy = GSP_CACHE_FIFO,
                                       .durability = GSP_TIER_PERIODIC,
                                       .sync_interval_ms = 20});
  for (unsigned i = 0; i < 300; i++) put_i(t, i, 1, 200 + i, 1);
  usleep(60 * 1000); /* a few syncs */
  for (unsigned round = 0; round < 2; round++)
    for (unsigned i = 0; i < 300; i++) assert_int_equal(get_i(t, i, 1), 1);
  gsp_tier_stats s;
  gsp_tier_stats_get(t, &s);
  assert_int_equal(s.hits, 600);
  gsp_tier_destroy(t);
}

/* Check a view of key i: found, intact, version v. */
static void view_ok(gsp_tier *t, unsigned i, unsigned v, int text, gsp_tier_view *out) {
  char k[32];
  int rv = gsp_tier_get_view(t, k, key_of(k, sizeof k, i), out);
  if (rv != GSP_OK) fail_msg("view %u: %s: %s", i, gsp_err_name(rv), gsp_tier_errmsg(t));
  assert_non_null(out->data);
  assert_true(value_ok(out->data, out->len, i, text));
  unsigned ki, vi;
  assert_true(value_head(out->data, out->len, &ki, &vi));
  assert_int_equal(vi, v);
}

/* Borrowed gets from every place a value can be: L3 in place (raw), L3
 * decoded (LZ4), L1 pinned, L2 decoded; many held at once (more than the
 * pool of read transactions); a view keeps its bytes while the key is
 * overwritten; misses leave nothing to release. */
static void test_views(void **st) {
  (void)st;
  gsp_tier_config c = {.l1_max_entries = 4,
                       .l2_max_bytes = SIZE_MAX,
                       .l3 = g_uri,
                       .durability = GSP_TIER_NONE,
                       .no_promote = true};
  gsp_tier *t = make(c);
  for (unsigned i = 0; i < 100; i++) put_i(t, i, 1, 4096 + i, (int)(i % 2));
  gsp_tier_destroy(t);
  t = make(c); /* L1 empty: everything is in L3 */
  gsp_tier_view v[100];
  for (unsigned i = 0; i < 100; i++) view_ok(t, i, 1, (int)(i % 2), &v[i]);
  gsp_tier_stats s;
  gsp_tier_stats_get(t, &s);
  assert_int_equal(s.level[2].hits, 100);
  assert_int_equal(s.level[2].promotions, 0);
  assert_int_equal(s.lookups, 100);
  /* overwrite key 0 while its view is held: the view keeps the old bytes */
  put_i(t, 0, 2, 4096, 0);
  assert_true(value_ok(v[0].data, v[0].len, 0, 0));
  for (unsigned i = 0; i < 100; i++) gsp_tier_view_release(&v[i]);
  gsp_tier_view_release(&v[0]); /* released views are zeroed: a no-op */
  view_ok(t, 0, 2, 0, &v[0]);   /* now from L1 (the put) */
  gsp_tier_view_release(&v[0]);
  char k[32];
  assert_int_equal(gsp_tier_get_view(t, "nope", 4, &v[0]), GSP_ENOENT);
  assert_null(v[0].data);
  gsp_tier_view_release(&v[0]);
  assert_int_equal(gsp_tier_get_view(t, k, 0, &v[0]), GSP_EINVAL);
  assert_int_equal(gsp_tier_put(t, "empty", 5, NULL, 0, NULL), GSP_OK);
  assert_int_equal(gsp_tier_get_view(t, "empty", 5, &v[0]), GSP_OK);
  assert_int_equal(v[0].len, 0);
  assert_null(v[0].data);
  gsp_tier_view_release(&v[0]);
  gsp_tier_destroy(t);

  /* compressed L3 records, with promotion into L1 and an L2 */
  c.l3_compress = true;
  c.no_promote = false;
  c.l2_max_bytes = 64 * 1024;
  t = make(c);
  for (unsigned i = 0; i < 40; i++) put_i(t, i, 3, 2000, 1);
  gsp_tier_destroy(t);
  t = make(c);
  for (unsigned i = 0; i < 40; i++) {
    view_ok(t, i, 3, 1, &v[i]);
    gsp_tier_view_release(&v[i]);
  }
  gsp_tier_stats_get(t, &s);
  assert_int_equal(s.level[2].hits, 40);
  assert_int_equal(s.level[2].promotions, 40);
  /* L1 holds the last 4; the rest were demoted into L2 and are lent from there */
  for (unsigned i = 40; i-- > 0;) {
    view_ok(t, i, 3, 1, &v[i]);
    gsp_tier_view_release(&v[i]);
  }
  gsp_tier_stats_get(t, &s);
  assert_int_equal(s.level[2].hits, 40);
  assert_true(s.level[1].hits > 0);
  assert_true(s.level[0].hits > 0);
  assert_int_equal(s.hits, 80);
  gsp_tier_destroy(t);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_invalid, tier_setup, tier_teardown),
      cmocka_unit_test(test_memory_only),
      cmocka_unit_test_setup_teardown(test_demote_promote, tier_setup, tier_teardown),
      cmocka_unit_test(test_incompressible),
      cmocka_unit_test_setup_teardown(test_persist_reopen, tier_setup, tier_teardown),
      cmocka_unit_test_setup_teardown(test_write_back, tier_setup, tier_teardown),
      cmocka_unit_test_setup_teardown(test_ttl, tier_setup, tier_teardown),
      cmocka_unit_test_setup_teardown(test_l3_bound_lru, tier_setup, tier_teardown),
      cmocka_unit_test_setup_teardown(test_l3_too_big, tier_setup, tier_teardown),
      cmocka_unit_test_setup_teardown(test_clear, tier_setup, tier_teardown),
      cmocka_unit_test_setup_teardown(test_get_or_compute, tier_setup, tier_teardown),
      cmocka_unit_test_setup_teardown(test_strategies_periodic, tier_setup, tier_teardown),
      cmocka_unit_test_setup_teardown(test_views, tier_setup, tier_teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
