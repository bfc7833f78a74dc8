/*
 * test_cache.c - behaviour of the cache: every strategy's eviction order,
 * bounds, TTL, pinned references, callbacks, get-or-compute, WEAK entries,
 * statistics, the manager and bad arguments. One shard throughout where
 * eviction order matters, so the order is exact.
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

/* ---- helpers ------------------------------------------------------------- */

static uint64_t g_now;
static uint64_t fake_now(void *user) {
  (void)user;
  return g_now;
}
#define FAKE_CLOCK ((gsp_clock){fake_now, NULL})

static gsp_cache *make(gsp_cache_strategy s, size_t entries) {
  gsp_cache *c = NULL;
  gsp_cache_config cfg = {.strategy = s, .max_entries = entries, .shards = 1, .clock = FAKE_CLOCK};
  assert_int_equal(gsp_cache_create(&cfg, &c), GSP_OK);
  return c;
}

static void put_int(gsp_cache *c, int k, int v) {
  assert_int_equal(gsp_cache_put(c, &k, sizeof k, &v, sizeof v, NULL), GSP_OK);
}

static bool has(gsp_cache *c, int k) { return gsp_cache_contains(c, &k, sizeof k); }

/* Value of key k, or -1 on a miss (a get counts for the policy). */
static int get_int(gsp_cache *c, int k) {
  int v = -1;
  size_t n = 0;
  int rv = gsp_cache_get_copy(c, &k, sizeof k, &v, sizeof v, &n);
  if (rv == GSP_ENOENT) return -1;
  assert_int_equal(rv, GSP_OK);
  assert_int_equal(n, sizeof v);
  return v;
}

typedef struct evlog {
  int n;
  int keys[64];
  gsp_cache_reason reasons[64];
} evlog;

static void on_evict(void *user, const void *key, size_t klen, const void *val, size_t vlen,
                     gsp_cache_reason reason) {
  evlog *l = user;
  int k = -1;
  if (klen == sizeof k) memcpy(&k, key, sizeof k);
  (void)val;
  (void)vlen;
  if (l->n < 64) {
    l->keys[l->n] = k;
    l->reasons[l->n] = reason;
  }
  l->n++;
}

/* ---- eviction orders --------------------------------------------------- */

static void test_lru_order(void **state) {
  (void)state;
  gsp_cache *c = make(GSP_CACHE_LRU, 3);
  put_int(c, 1, 10);
  put_int(c, 2, 20);
  put_int(c, 3, 30);
  assert_int_equal(get_int(c, 1), 10); /* 1 is now most recent */
  put_int(c, 4, 40);                   /* evicts 2 */
  assert_false(has(c, 2));
  assert_true(has(c, 1) && has(c, 3) && has(c, 4));
  put_int(c, 3, 31); /* an update counts as use */
  put_int(c, 5, 50); /* evicts 1 */
  assert_false(has(c, 1));
  assert_int_equal(get_int(c, 3), 31);
  gsp_cache_destroy(c);
}

static void test_fifo_order(void **state) {
  (void)state;
  gsp_cache *c = make(GSP_CACHE_FIFO, 3);
  put_int(c, 1, 10);
  put_int(c, 2, 20);
  put_int(c, 3, 30);
  assert_int_equal(get_int(c, 1), 10); /* hits do not matter to FIFO */
  put_int(c, 4, 40);
  assert_false(has(c, 1));
  assert_true(has(c, 2) && has(c, 3) && has(c, 4));
  gsp_cache_destroy(c);
}

static void test_lfu_order_and_ties(void **state) {
  (void)state;
  gsp_cache *c = make(GSP_CACHE_LFU, 3);
  put_int(c, 1, 10);
  put_int(c, 2, 20);
  put_int(c, 3, 30);
  for (int i = 0; i < 3; i++) get_int(c, 1); /* freq 4 */
  get_int(c, 2);                             /* freq 2 */
  put_int(c, 4, 40);                         /* 3 has freq 1: evicted */
  assert_false(has(c, 3));
  get_int(c, 4);     /* 4 -> freq 2, touched after 2 */
  put_int(c, 5, 50); /* tie between 2 and 4 at freq 2: 2 is older */
  assert_false(has(c, 2));
  assert_true(has(c, 1) && has(c, 4) && has(c, 5));
  put_int(c, 6, 60); /* 5 has freq 1 */
  assert_false(has(c, 5));
  gsp_cache_destroy(c);
}

static void test_ttl_strategy_order(void **state) {
  (void)state;
  g_now = 1000;
  gsp_cache *c = make(GSP_CACHE_TTL, 3);
  int k, v = 0;
  k = 1;
  gsp_cache_put(c, &k, sizeof k, &v, sizeof v, &(gsp_cache_put_opts){.ttl_ms = 500});
  k = 2;
  gsp_cache_put(c, &k, sizeof k, &v, sizeof v, &(gsp_cache_put_opts){.ttl_ms = 100});
  k = 3;
  gsp_cache_put(c, &k, sizeof k, &v, sizeof v, NULL); /* never expires: last */
  k = 4;
  gsp_cache_put(c, &k, sizeof k, &v, sizeof v, &(gsp_cache_put_opts){.ttl_ms = 900});
  assert_false(has(c, 2)); /* closest to expiry left first */
  assert_true(has(c, 1) && has(c, 3) && has(c, 4));
  k = 5;
  gsp_cache_put(c, &k, sizeof k, &v, sizeof v, &(gsp_cache_put_opts){.ttl_ms = 800});
  assert_false(has(c, 1));
  gsp_cache_destroy(c);
}

static void test_ttl_strategy_reaps_on_insert(void **state) {
  (void)state;
  g_now = 0;
  gsp_cache *c = make(GSP_CACHE_TTL, 100);
  int v = 0;
  for (int k = 0; k < 10; k++)
    gsp_cache_put(c, &k, sizeof k, &v, sizeof v, &(gsp_cache_put_opts){.ttl_ms = 10});
  g_now = 20 * 1000000u; /* all ten expired */
  int k = 99;
  gsp_cache_put(c, &k, sizeof k, &v, sizeof v, NULL);
  gsp_cache_stats s;
  gsp_cache_stats_get(c, &s);
  assert_int_equal(s.entries, 1);
  assert_int_equal(s.expirations, 10);
  gsp_cache_destroy(c);
}

static void test_adaptive_bounded_and_scan_resistant(void **state) {
  (void)state;
  gsp_cache *c = make(GSP_CACHE_ADAPTIVE, 100);
  /* a hot set of 50 keys used often */
  for (int round = 0; round < 20; round++)
    for (int k = 0; k < 50; k++)
      if (get_int(c, k) < 0) put_int(c, k, k);
  /* a long scan of one-time keys */
  for (int k = 1000; k < 11000; k++)
    if (get_int(c, k) < 0) put_int(c, k, k);
  gsp_cache_stats s;
  gsp_cache_stats_get(c, &s);
  assert_true(s.entries <= 100);
  int kept = 0;
  for (int k = 0; k < 50; k++) kept += has(c, k);
  /* a scan-resistant policy keeps (nearly) all of the hot set; LRU keeps none */
  assert_true(kept >= 45);
  gsp_cache_destroy(c);
  c = make(GSP_CACHE_LRU, 100);
  for (int round = 0; round < 20; round++)
    for (int k = 0; k < 50; k++)
      if (get_int(c, k) < 0) put_int(c, k, k);
  for (int k = 1000; k < 11000; k++)
    if (get_int(c, k) < 0) put_int(c, k, k);
  kept = 0;
  for (int k = 0; k < 50; k++) kept += has(c, k);
  assert_int_equal(kept, 0);
  gsp_cache_destroy(c);
}

static void test_every_strategy_stays_bounded(void **state) {
  (void)state;
  gsp_cache_strategy all[] = {GSP_CACHE_LRU, GSP_CACHE_LFU, GSP_CACHE_FIFO, GSP_CACHE_TTL,
                              GSP_CACHE_ADAPTIVE};
  for (size_t i = 0; i < sizeof all / sizeof *all; i++) {
    gsp_cache *c = NULL;
    gsp_cache_config cfg = {.strategy = all[i], .max_entries = 1000};
    assert_int_equal(gsp_cache_create(&cfg, &c), GSP_OK);
    uint32_t x = 12345;
    for (int n = 0; n < 50000; n++) {
      x = x * 1103515245u + 12345u;
      int k = (int)(x >> 16) % 5000;
      if (get_int(c, k) < 0)
        put_int(c, k, k);
      else
        assert_int_equal(get_int(c, k), k);
    }
    gsp_cache_stats s;
    gsp_cache_stats_get(c, &s);
    gsp_cache_config got;
    gsp_cache_config_get(c, &got);
    /* each shard holds at most its share, rounded up */
    assert_true(s.entries <= 1000 + got.shards);
    assert_true(s.hits > 0 && s.evictions > 0);
    assert_int_equal(s.insertions - s.evictions, s.entries);
    gsp_cache_destroy(c);
  }
}

/* ---- bounds, TTL, values ------------------------------------------------- */

static void test_byte_bound(void **state) {
  (void)state;
  gsp_cache *c = NULL;
  size_t per = 4 + 100 + GSP_CACHE_ENTRY_OVERHEAD;
  gsp_cache_config cfg = {.strategy = GSP_CACHE_LRU, .max_bytes = 10 * per, .shards = 1};
  assert_int_equal(gsp_cache_create(&cfg, &c), GSP_OK);
  char val[100] = {0};
  for (int k = 0; k < 20; k++) assert_int_equal(gsp_cache_put(c, &k, 4, val, 100, NULL), 0);
  gsp_cache_stats s;
  gsp_cache_stats_get(c, &s);
  assert_int_equal(s.entries, 10);
  assert_int_equal(s.bytes, 10 * per);
  /* an entry larger than the whole cache is accepted and evicted at once */
  char *big = calloc(1, 20 * per);
  int k = 99;
  assert_int_equal(gsp_cache_put(c, &k, 4, big, 20 * per, NULL), GSP_OK);
  assert_false(has(c, 99));
  free(big);
  /* explicit charge */
  gsp_cache_clear(c);
  k = 1;
  gsp_cache_put(c, &k, 4, val, 1, &(gsp_cache_put_opts){.charge = 6 * per});
  k = 2;
  gsp_cache_put(c, &k, 4, val, 1, &(gsp_cache_put_opts){.charge = 6 * per});
  assert_false(has(c, 1));
  assert_true(has(c, 2));
  gsp_cache_destroy(c);
}

static void test_ttl_default_and_per_entry(void **state) {
  (void)state;
  gsp_cache_strategy all[] = {GSP_CACHE_LRU, GSP_CACHE_LFU, GSP_CACHE_FIFO, GSP_CACHE_TTL,
                              GSP_CACHE_ADAPTIVE};
  for (size_t i = 0; i < sizeof all / sizeof *all; i++) {
    g_now = 0;
    evlog log = {0};
    gsp_cache *c = NULL;
    gsp_cache_config cfg = {.strategy = all[i],
                            .max_entries = 100,
                            .ttl_ms = 1000,
                            .shards = 1,
                            .clock = FAKE_CLOCK,
                            .on_evict = on_evict,
                            .evict_user = &log};
    assert_int_equal(gsp_cache_create(&cfg, &c), GSP_OK);
    int k = 1, v = 7;
    gsp_cache_put(c, &k, sizeof k, &v, sizeof v, NULL); /* default 1 s */
    k = 2;
    gsp_cache_put(c, &k, sizeof k, &v, sizeof v, &(gsp_cache_put_opts){.ttl_ms = 5000});
    k = 3;
    gsp_cache_put(c, &k, sizeof k, &v, sizeof v, &(gsp_cache_put_opts){.no_expire = true});
    g_now = 999999999; /* 1 ns before the default TTL */
    assert_int_equal(get_int(c, 1), 7);
    g_now = 1000000000;
    assert_int_equal(get_int(c, 1), -1); /* expired: never returned */
    assert_int_equal(log.n, 1);
    assert_int_equal(log.reasons[0], GSP_CACHE_EXPIRED);
    assert_true(has(c, 2));
    g_now = 6000000000u;
    assert_int_equal(gsp_cache_expire(c), 1); /* key 2 */
    assert_true(has(c, 3));
    gsp_cache_stats s;
    gsp_cache_stats_get(c, &s);
    assert_int_equal(s.expirations, 2);
    assert_int_equal(s.entries, 1);
    gsp_cache_destroy(c);
  }
}

static void test_pinned_ref_survives(void **state) {
  (void)state;
  gsp_cache *c = make(GSP_CACHE_LRU, 1);
  const char *key = "alpha";
  const char *val = "the first value";
  gsp_cache_put(c, key, 5, val, strlen(val) + 1, NULL);
  gsp_cache_ref *r = NULL;
  assert_int_equal(gsp_cache_get(c, key, 5, &r), GSP_OK);
  gsp_cache_put(c, key, 5, "second", 7, NULL); /* replace */
  gsp_cache_put(c, "beta", 4, "x", 2, NULL);   /* evict alpha */
  assert_int_equal(gsp_cache_delete(c, key, 5), GSP_ENOENT);
  size_t vlen, klen;
  assert_string_equal(gsp_cache_ref_value(r, &vlen), val);
  assert_int_equal(vlen, strlen(val) + 1);
  assert_memory_equal(gsp_cache_ref_key(r, &klen), key, 5);
  assert_int_equal(klen, 5);
  gsp_cache_ref_release(r);
  gsp_cache_ref_release(NULL);
  assert_int_equal(gsp_cache_get(c, key, 5, &r), GSP_ENOENT);
  assert_null(r);
  gsp_cache_destroy(c);
}

static void test_get_copy_buffer_sizes(void **state) {
  (void)state;
  gsp_cache *c = make(GSP_CACHE_LRU, 10);
  char big[1000];
  for (int i = 0; i < 1000; i++) big[i] = (char)i;
  gsp_cache_put(c, "b", 1, big, sizeof big, NULL);
  gsp_cache_put(c, "s", 1, "abc", 3, NULL);
  char out[1000];
  size_t n = 0;
  assert_int_equal(gsp_cache_get_copy(c, "b", 1, out, 10, &n), GSP_ERANGE);
  assert_int_equal(n, 1000);
  assert_int_equal(gsp_cache_get_copy(c, "b", 1, out, sizeof out, &n), GSP_OK);
  assert_memory_equal(out, big, 1000);
  assert_int_equal(gsp_cache_get_copy(c, "s", 1, out, 2, &n), GSP_ERANGE);
  assert_int_equal(n, 3);
  assert_int_equal(gsp_cache_get_copy(c, "s", 1, out, 3, &n), GSP_OK);
  assert_memory_equal(out, "abc", 3);
  /* empty key and empty value are ordinary */
  assert_int_equal(gsp_cache_put(c, NULL, 0, NULL, 0, NULL), GSP_OK);
  assert_int_equal(gsp_cache_get_copy(c, NULL, 0, NULL, 0, &n), GSP_OK);
  assert_int_equal(n, 0);
  gsp_cache_destroy(c);
}

static void test_eviction_callback_reasons(void **state) {
  (void)state;
  evlog log = {0};
  gsp_cache *c = NULL;
  gsp_cache_config cfg = {.strategy = GSP_CACHE_LRU,
                          .max_entries = 2,
                          .shards = 1,
                          .on_evict = on_evict,
                          .evict_user = &log};
  assert_int_equal(gsp_cache_create(&cfg, &c), GSP_OK);
  put_int(c, 1, 1);
  put_int(c, 1, 2); /* replaced */
  put_int(c, 2, 2);
  put_int(c, 3, 3); /* evicts 1 */
  assert_int_equal(gsp_cache_delete(c, &(int){2}, sizeof(int)), GSP_OK);
  gsp_cache_clear(c); /* deletes 3 */
  assert_int_equal(log.n, 4);
  assert_int_equal(log.reasons[0], GSP_CACHE_REPLACED);
  assert_int_equal(log.keys[0], 1);
  assert_int_equal(log.reasons[1], GSP_CACHE_EVICTED);
  assert_int_equal(log.keys[1], 1);
  assert_int_equal(log.reasons[2], GSP_CACHE_DELETED);
  assert_int_equal(log.keys[2], 2);
  assert_int_equal(log.reasons[3], GSP_CACHE_DELETED);
  assert_int_equal(log.keys[3], 3);
  gsp_cache_stats s;
  gsp_cache_stats_get(c, &s);
  assert_int_equal(s.updates, 1);
  assert_int_equal(s.insertions, 3);
  assert_int_equal(s.evictions, 1);
  assert_int_equal(s.deletions, 2);
  assert_int_equal(s.entries, 0);
  assert_int_equal(s.bytes, 0);
  gsp_cache_destroy(c);
}

/* The callback may re-enter the cache: no lock is held. */
static void reenter_evict(void *user, const void *key, size_t klen, const void *val, size_t vlen,
                          gsp_cache_reason reason) {
  (void)val;
  (void)vlen;
  gsp_cache *c = *(gsp_cache **)user;
  if (reason == GSP_CACHE_EVICTED) assert_false(gsp_cache_contains(c, key, klen));
}

static void test_callback_may_reenter(void **state) {
  (void)state;
  gsp_cache *c = NULL;
  gsp_cache_config cfg = {.strategy = GSP_CACHE_LFU,
                          .max_entries = 2,
                          .shards = 1,
                          .on_evict = reenter_evict,
                          .evict_user = &c};
  assert_int_equal(gsp_cache_create(&cfg, &c), GSP_OK);
  for (int k = 0; k < 10; k++) put_int(c, k, k);
  gsp_cache_destroy(c);
}

/* ---- get-or-compute -------------------------------------------------------- */

static int g_computed;
static int compute_square(void *user, const void *key, size_t klen, void **val, size_t *vlen) {
  (void)user;
  int k;
  assert_int_equal(klen, sizeof k);
  memcpy(&k, key, sizeof k);
  int *v = gsp_malloc(sizeof *v);
  if (v == NULL) return GSP_ENOMEM;
  *v = k * k;
  *val = v;
  *vlen = sizeof *v;
  g_computed++;
  return GSP_OK;
}

static int compute_fail(void *user, const void *key, size_t klen, void **val, size_t *vlen) {
  (void)user;
  (void)key;
  (void)klen;
  (void)val;
  (void)vlen;
  return GSP_EIO;
}

static void test_get_or_compute(void **state) {
  (void)state;
  gsp_cache *c = make(GSP_CACHE_LRU, 10);
  g_computed = 0;
  int k = 12;
  gsp_cache_ref *r = NULL;
  assert_int_equal(gsp_cache_get_or_compute(c, &k, sizeof k, compute_square, NULL, NULL, &r), 0);
  assert_int_equal(*(const int *)gsp_cache_ref_value(r, NULL), 144);
  gsp_cache_ref_release(r);
  assert_int_equal(gsp_cache_get_or_compute(c, &k, sizeof k, compute_square, NULL, NULL, &r), 0);
  assert_int_equal(*(const int *)gsp_cache_ref_value(r, NULL), 144);
  gsp_cache_ref_release(r);
  assert_int_equal(g_computed, 1);
  k = 13;
  assert_int_equal(gsp_cache_get_or_compute(c, &k, sizeof k, compute_fail, NULL, NULL, &r),
                   GSP_EIO);
  assert_null(r);
  assert_false(has(c, 13)); /* errors are not cached */
  gsp_cache_stats s;
  gsp_cache_stats_get(c, &s);
  assert_int_equal(s.hits, 1);
  assert_int_equal(s.misses, 2);
  gsp_cache_destroy(c);
}

/* ---- WEAK ---------------------------------------------------------------- */

static void free_obj(void *obj, void *user) {
  (void)user;
  free(obj);
}

static void test_weak(void **state) {
  (void)state;
  evlog log = {0};
  gsp_cache *c = NULL;
  gsp_cache_config cfg = {.strategy = GSP_CACHE_WEAK, .on_evict = on_evict, .evict_user = &log};
  assert_int_equal(gsp_cache_create(&cfg, &c), GSP_OK);
  gsp_rc *objs[5];
  for (int i = 0; i < 5; i++) {
    int *o = malloc(sizeof *o);
    *o = i * 100;
    assert_int_equal(gsp_rc_create(o, free_obj, NULL, &objs[i]), GSP_OK);
    assert_int_equal(gsp_cache_put_weak(c, &i, sizeof i, objs[i], NULL), GSP_OK);
  }
  /* no capacity eviction ever: live objects stay */
  gsp_cache_stats s;
  gsp_cache_stats_get(c, &s);
  assert_int_equal(s.entries, 5);
  gsp_rc *got = NULL;
  int k = 3;
  assert_int_equal(gsp_cache_get_weak(c, &k, sizeof k, &got), GSP_OK);
  assert_ptr_equal(got, objs[3]);
  assert_int_equal(*(int *)gsp_rc_get(got), 300);
  gsp_rc_release(objs[3]); /* the cache's caller still holds `got` */
  assert_true(has(c, 3));
  gsp_rc_release(got); /* last strong reference: the entry vanishes at once */
  assert_false(has(c, 3));
  assert_int_equal(gsp_cache_get_weak(c, &k, sizeof k, &got), GSP_ENOENT);
  assert_int_equal(log.n, 1);
  assert_int_equal(log.reasons[0], GSP_CACHE_COLLECTED);
  assert_int_equal(log.keys[0], 3);
  gsp_cache_stats_get(c, &s);
  assert_int_equal(s.entries, 4);
  assert_int_equal(s.collections, 1);
  /* replacing a key's object */
  k = 1;
  assert_int_equal(gsp_cache_put_weak(c, &k, sizeof k, objs[2], NULL), GSP_OK);
  assert_int_equal(gsp_cache_get_weak(c, &k, sizeof k, &got), GSP_OK);
  assert_ptr_equal(got, objs[2]);
  gsp_rc_release(got);
  /* a dead object cannot be put */
  gsp_rc *dead;
  assert_int_equal(gsp_rc_create(malloc(1), free_obj, NULL, &dead), GSP_OK);
  gsp_rc_weak_retain(dead);
  gsp_rc_release(dead);
  k = 9;
  assert_int_equal(gsp_cache_put_weak(c, &k, sizeof k, dead, NULL), GSP_ESTATE);
  gsp_rc_weak_release(dead);
  /* byte-value calls are refused on WEAK and weak calls on others */
  assert_int_equal(gsp_cache_put(c, &k, sizeof k, "x", 1, NULL), GSP_ENOTSUP);
  gsp_cache_destroy(c); /* objects 0, 2, 4 still alive: destroy drops weak refs */
  for (int i = 0; i < 5; i++)
    if (i != 1 && i != 3) gsp_rc_release(objs[i]);
  gsp_rc_release(objs[1]);
  gsp_cache *lru = make(GSP_CACHE_LRU, 4);
  assert_int_equal(gsp_cache_get_weak(lru, &k, sizeof k, &got), GSP_ENOTSUP);
  gsp_cache_destroy(lru);
}

/* ---- stats, manager, bad input ------------------------------------------ */

static void test_shrink(void **state) {
  (void)state;
  gsp_cache *c = NULL;
  evlog log = {0};
  gsp_cache_config cfg = {.strategy = GSP_CACHE_LRU,
                          .max_entries = 1000,
                          .shards = 4,
                          .on_evict = on_evict,
                          .evict_user = &log};
  assert_int_equal(gsp_cache_create(&cfg, &c), GSP_OK);
  for (int k = 0; k < 400; k++) put_int(c, k, k);
  uint64_t one = sizeof(int) * 2 + GSP_CACHE_ENTRY_OVERHEAD;
  assert_int_equal(gsp_cache_shrink(c, 0), 0);
  uint64_t freed = gsp_cache_shrink(c, 100 * one);
  assert_true(freed >= 100 * one && freed < 104 * one); /* at most one extra per shard */
  gsp_cache_stats s;
  gsp_cache_stats_get(c, &s);
  assert_int_equal(s.entries, 400 - freed / one);
  assert_int_equal(s.evictions, freed / one);
  assert_int_equal((uint64_t)log.n, freed / one);
  assert_int_equal(log.reasons[0], GSP_CACHE_EVICTED);
  /* more than there is: empties the cache and stops */
  assert_int_equal(gsp_cache_shrink(c, UINT64_MAX), s.entries * one);
  gsp_cache_stats_get(c, &s);
  assert_int_equal(s.entries, 0);
  assert_int_equal(s.bytes, 0);
  gsp_cache_destroy(c);
}

static void test_stats_json(void **state) {
  (void)state;
  gsp_cache *c = make(GSP_CACHE_LRU, 10);
  put_int(c, 1, 1);
  get_int(c, 1);
  get_int(c, 2);
  gsp_cache_stats s;
  gsp_cache_stats_get(c, &s);
  assert_true(s.hit_rate > 0.49 && s.hit_rate < 0.51);
  char buf[512];
  size_t n = gsp_cache_stats_json(&s, buf, sizeof buf);
  assert_true(n < sizeof buf);
  assert_non_null(strstr(buf, "\"hits\":1,"));
  assert_non_null(strstr(buf, "\"misses\":1,"));
  assert_non_null(strstr(buf, "\"hit_rate\":0.500000"));
  assert_non_null(strstr(buf, "\"entries\":1,"));
  char tiny[8];
  assert_int_equal(gsp_cache_stats_json(&s, tiny, sizeof tiny), n); /* snprintf-like */
  gsp_cache_stats_reset(c);
  gsp_cache_stats_get(c, &s);
  assert_int_equal(s.hits, 0);
  assert_int_equal(s.entries, 1);
  gsp_cache_destroy(c);
}

static void test_manager(void **state) {
  (void)state;
  gsp_cache_manager *m = NULL;
  assert_int_equal(gsp_cache_manager_create(&m), GSP_OK);
  gsp_cache *fp = NULL, *tr = NULL, *dup = NULL;
  gsp_cache_config lru = {.strategy = GSP_CACHE_LRU, .max_entries = 5000, .ttl_ms = 3600000};
  gsp_cache_config lfu = {.strategy = GSP_CACHE_LFU, .max_entries = 10000, .ttl_ms = 1800000};
  assert_int_equal(gsp_cache_manager_create_cache(m, "type_resolution", &lfu, &tr), GSP_OK);
  assert_int_equal(gsp_cache_manager_create_cache(m, "file_parsing", &lru, &fp), GSP_OK);
  assert_int_equal(gsp_cache_manager_create_cache(m, "file_parsing", &lru, &dup), GSP_EEXIST);
  assert_null(dup);
  assert_non_null(strstr(gsp_cache_manager_errmsg(m), "file_parsing"));
  assert_int_equal(gsp_cache_manager_create_cache(m, "", &lru, &dup), GSP_EINVAL);
  assert_int_equal(gsp_cache_manager_create_cache(m, "a\"b", &lru, &dup), GSP_EINVAL);
  assert_non_null(strstr(gsp_cache_manager_errmsg(m), "character 2 (0x22)"));
  assert_ptr_equal(gsp_cache_manager_find(m, "file_parsing"), fp);
  assert_null(gsp_cache_manager_find(m, "nope"));
  assert_int_equal(gsp_cache_manager_count(m), 2);
  assert_string_equal(gsp_cache_manager_name(m, 0), "file_parsing");
  assert_string_equal(gsp_cache_manager_name(m, 1), "type_resolution");
  assert_null(gsp_cache_manager_name(m, 2));
  put_int(fp, 1, 1);
  get_int(fp, 1);
  char buf[2048];
  size_t n = gsp_cache_manager_stats_json(m, buf, sizeof buf);
  assert_true(n < sizeof buf);
  assert_non_null(strstr(buf, "{\"file_parsing\":{\"hits\":1,"));
  assert_non_null(strstr(buf, ",\"type_resolution\":{\"hits\":0,"));
  assert_int_equal(buf[n - 1], '}');
  char small[16];
  assert_int_equal(gsp_cache_manager_stats_json(m, small, sizeof small), n);
  assert_int_equal(strlen(small), sizeof small - 1);
  assert_int_equal(gsp_cache_manager_remove(m, "file_parsing"), GSP_OK);
  assert_int_equal(gsp_cache_manager_remove(m, "file_parsing"), GSP_ENOENT);
  assert_int_equal(gsp_cache_manager_count(m), 1);
  gsp_cache_manager_destroy(m);
  gsp_cache_manager_destroy(NULL);
}

static void test_bad_arguments(void **state) {
  (void)state;
  gsp_cache *c = NULL;
  assert_int_equal(gsp_cache_create(NULL, &c), GSP_EINVAL);
  assert_int_equal(gsp_cache_create(&(gsp_cache_config){.strategy = GSP_CACHE_LRU}, &c),
                   GSP_EINVAL); /* no bound */
  assert_int_equal(gsp_cache_create(&(gsp_cache_config){.max_entries = 10, .shards = 3}, &c),
                   GSP_EINVAL);
  assert_int_equal(gsp_cache_create(&(gsp_cache_config){.max_entries = 10, .strategy = 99}, &c),
                   GSP_EINVAL);
  c = make(GSP_CACHE_LRU, 10);
  size_t n;
  assert_int_equal(gsp_cache_put(c, NULL, 3, "x", 1, NULL), GSP_EINVAL);
  assert_int_equal(gsp_cache_put(c, "k", 1, NULL, 3, NULL), GSP_EINVAL);
  assert_int_equal(gsp_cache_get_copy(c, "k", 1, NULL, 0, NULL), GSP_EINVAL);
  assert_int_equal(gsp_cache_get(c, "k", 1, NULL), GSP_EINVAL);
  assert_int_equal(gsp_cache_get_copy(c, "k", 1, NULL, 0, &n), GSP_ENOENT);
  assert_int_equal(gsp_cache_get_or_compute(c, "k", 1, NULL, NULL, NULL, NULL), GSP_EINVAL);
  assert_int_equal(gsp_cache_delete(c, "k", 1), GSP_ENOENT);
  gsp_cache_destroy(c);
  gsp_cache_destroy(NULL);
  gsp_cache_strategy s;
  assert_int_equal(gsp_cache_strategy_parse("Adaptive", &s), GSP_OK);
  assert_int_equal(s, GSP_CACHE_ADAPTIVE);
  assert_int_equal(gsp_cache_strategy_parse("arc", &s), GSP_EINVAL);
  assert_string_equal(gsp_cache_strategy_name(GSP_CACHE_LFU), "lfu");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_lru_order),
      cmocka_unit_test(test_fifo_order),
      cmocka_unit_test(test_lfu_order_and_ties),
      cmocka_unit_test(test_ttl_strategy_order),
      cmocka_unit_test(test_ttl_strategy_reaps_on_insert),
      cmocka_unit_test(test_adaptive_bounded_and_scan_resistant),
      cmocka_unit_test(test_every_strategy_stays_bounded),
      cmocka_unit_test(test_byte_bound),
      cmocka_unit_test(test_ttl_default_and_per_entry),
      cmocka_unit_test(test_pinned_ref_survives),
      cmocka_unit_test(test_get_copy_buffer_sizes),
      cmocka_unit_test(test_eviction_callback_reasons),
      cmocka_unit_test(test_callback_may_reenter),
      cmocka_unit_test(test_get_or_compute),
      cmocka_unit_test(test_weak),
      cmocka_unit_test(test_shrink),
      cmocka_unit_test(test_stats_json),
      cmocka_unit_test(test_manager),
      cmocka_unit_test(test_bad_arguments),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
