/*
 * test_cache_lf.c - the lock-free read path under stress: readers that never
 * take the shard lock racing writers that replace, delete, evict and grow
 * the hash table. Checks that every value read is the one written for its
 * key (never torn, never freed under the reader), that an expired value is
 * never returned even while a put replaces it, that every lookup is counted
 * exactly once as a hit or a miss, and that a single thread's hits are
 * applied to the policy in order (LRU and LFU eviction order). Run under
 * TSan and ASan by CI.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "gsperf/cache.h"

#define KEYS 256
#define VMAX 200

typedef struct shared {
  gsp_cache *c;
  atomic_bool stop;
  atomic_uint_fast64_t now; /* the cache's clock in TTL tests */
} shared;

typedef struct worker {
  shared *sh;
  unsigned seed;
  uint64_t lookups, hits, bad;
  int strategy_ttl;
} worker;

/* A value for key k: its length, k, then bytes derived from k and a tag. */
static size_t make_val(int k, unsigned tag, unsigned char *v) {
  size_t n = 16 + (size_t)((k * 7 + tag) % (VMAX - 16));
  memcpy(v, &k, sizeof k);
  memcpy(v + 4, &tag, sizeof tag);
  for (size_t i = 8; i < n; i++) v[i] = (unsigned char)(k + tag + i);
  return n;
}

static bool val_ok(int k, const unsigned char *v, size_t n) {
  int got;
  unsigned tag;
  if (n < 16) return false;
  memcpy(&got, v, sizeof got);
  memcpy(&tag, v + 4, sizeof tag);
  if (got != k || n != 16 + (size_t)((k * 7 + tag) % (VMAX - 16))) return false;
  for (size_t i = 8; i < n; i++)
    if (v[i] != (unsigned char)(k + tag + i)) return false;
  return true;
}

static void *reader(void *arg) {
  worker *w = arg;
  unsigned char buf[VMAX];
  while (!atomic_load(&w->sh->stop)) {
    int k = (int)((unsigned)rand_r(&w->seed) % KEYS);
    size_t n = 0;
    gsp_cache_ref *r = NULL;
    w->lookups++;
    if (rand_r(&w->seed) & 1) {
      if (gsp_cache_get_copy(w->sh->c, &k, sizeof k, buf, sizeof buf, &n) == GSP_OK) {
        w->hits++;
        w->bad += !val_ok(k, buf, n);
      }
    } else if (gsp_cache_get(w->sh->c, &k, sizeof k, &r) == GSP_OK) {
      w->hits++;
      const unsigned char *p = gsp_cache_ref_value(r, &n);
      w->bad += !val_ok(k, p, n);
      gsp_cache_ref_release(r);
    }
    (void)gsp_cache_contains(w->sh->c, &k, sizeof k);
  }
  return NULL;
}

static void *writer(void *arg) {
  worker *w = arg;
  unsigned char buf[VMAX];
  for (unsigned i = 0; i < 40000; i++) {
    int k = (int)((unsigned)rand_r(&w->seed) % KEYS);
    if (i % 16 == 15) {
      (void)gsp_cache_delete(w->sh->c, &k, sizeof k);
    } else {
      size_t n = make_val(k, i, buf);
      assert_int_equal(gsp_cache_put(w->sh->c, &k, sizeof k, buf, n, NULL), GSP_OK);
    }
  }
  return NULL;
}

static void race(gsp_cache_config cfg) {
  enum { R = 3, W = 2 };
  shared sh = {0};
  assert_int_equal(gsp_cache_create(&cfg, &sh.c), GSP_OK);
  pthread_t t[R + W];
  worker w[R + W];
  for (int i = 0; i < R + W; i++) {
    w[i] = (worker){.sh = &sh, .seed = (unsigned)(i * 7919 + 3)};
    pthread_create(&t[i], NULL, i < R ? reader : writer, &w[i]);
  }
  for (int i = R; i < R + W; i++) pthread_join(t[i], NULL);
  atomic_store(&sh.stop, true);
  uint64_t lookups = 0, hits = 0;
  for (int i = 0; i < R; i++) {
    pthread_join(t[i], NULL);
    assert_int_equal(w[i].bad, 0);
    lookups += w[i].lookups;
    hits += w[i].hits;
  }
  gsp_cache_stats st;
  gsp_cache_stats_get(sh.c, &st);
  assert_int_equal(st.hits, hits); /* every hit counted once, logged or dropped */
  assert_int_equal(st.hits + st.misses, lookups);
  assert_int_equal(st.insertions - st.evictions - st.deletions - st.expirations, st.entries);
  gsp_cache_destroy(sh.c);
}

static void test_race_lru_count(void **s) {
  (void)s;
  race((gsp_cache_config){.strategy = GSP_CACHE_LRU, .max_entries = 96, .shards = 2});
}
static void test_race_lfu_count(void **s) {
  (void)s;
  race((gsp_cache_config){.strategy = GSP_CACHE_LFU, .max_entries = 96, .shards = 2});
}
static void test_race_fifo_count(void **s) {
  (void)s;
  race((gsp_cache_config){.strategy = GSP_CACHE_FIFO, .max_entries = 96, .shards = 2});
}
static void test_race_adaptive_count(void **s) {
  (void)s;
  race((gsp_cache_config){.strategy = GSP_CACHE_ADAPTIVE, .max_entries = 96, .shards = 2});
}
/* Bounded by bytes, the tables start small and grow under the readers. */
static void test_race_adaptive_bytes_growth(void **s) {
  (void)s;
  race((gsp_cache_config){.strategy = GSP_CACHE_ADAPTIVE, .max_bytes = 64 * 1024, .shards = 1});
}
static void test_race_lru_bytes_growth_callback(void **s);

static atomic_int g_evicted;
static void on_evict(void *user, const void *key, size_t klen, const void *val, size_t vlen,
                     gsp_cache_reason why) {
  (void)user;
  (void)why;
  int k;
  memcpy(&k, key, sizeof k);
  assert_int_equal(klen, sizeof k);
  if (!val_ok(k, val, vlen)) fail_msg("eviction callback saw a bad value for key %d", k);
  atomic_fetch_add(&g_evicted, 1);
}

static void test_race_lru_bytes_growth_callback(void **s) {
  (void)s;
  race((gsp_cache_config){
      .strategy = GSP_CACHE_LRU, .max_bytes = 48 * 1024, .shards = 2, .on_evict = on_evict});
  assert_true(atomic_load(&g_evicted) > 0);
}

/* ---- TTL: an expired value is never returned, even as a put replaces it --- */

static uint64_t fake_now(void *user) { return atomic_load(&((shared *)user)->now); }

#define TTL_NS (10u * 1000000u)

static void *ttl_reader(void *arg) {
  worker *w = arg;
  unsigned char buf[VMAX];
  while (!atomic_load(&w->sh->stop)) {
    int k = (int)((unsigned)rand_r(&w->seed) % KEYS);
    size_t n = 0;
    uint64_t before = atomic_load(&w->sh->now);
    if (gsp_cache_get_copy(w->sh->c, &k, sizeof k, buf, sizeof buf, &n) != GSP_OK) continue;
    unsigned tag;
    memcpy(&tag, buf + 4, sizeof tag);
    /* tag 0: put at time 0 with the 10 ms TTL; others never expire */
    if (!val_ok(k, buf, n) || (tag == 0 && before >= TTL_NS)) w->bad++;
  }
  return NULL;
}

static void *ttl_writer(void *arg) {
  worker *w = arg;
  unsigned char buf[VMAX];
  for (unsigned i = 1; i < 20000; i++) {
    /* even keys only: odd keys keep their time-0 value and must expire */
    int k = (int)((unsigned)rand_r(&w->seed) % (KEYS / 2)) * 2;
    size_t n = make_val(k, i, buf);
    assert_int_equal(
        gsp_cache_put(w->sh->c, &k, sizeof k, buf, n, &(gsp_cache_put_opts){.no_expire = true}),
        GSP_OK);
    if (i == 10000) atomic_store(&w->sh->now, 2 * TTL_NS); /* everything from time 0 expires */
  }
  return NULL;
}

static void ttl_race(gsp_cache_strategy s) {
  enum { R = 3 };
  shared sh = {0};
  gsp_cache_config cfg = {
      .strategy = s, .max_entries = 4 * KEYS, .shards = 2, .ttl_ms = TTL_NS / 1000000u};
  cfg.clock.now = fake_now;
  cfg.clock.user = &sh;
  assert_int_equal(gsp_cache_create(&cfg, &sh.c), GSP_OK);
  unsigned char buf[VMAX];
  for (int k = 0; k < KEYS; k++) {
    size_t n = make_val(k, 0, buf);
    assert_int_equal(gsp_cache_put(sh.c, &k, sizeof k, buf, n, NULL), GSP_OK);
  }
  pthread_t t[R + 1];
  worker w[R + 1];
  for (int i = 0; i <= R; i++) {
    w[i] = (worker){.sh = &sh, .seed = (unsigned)(i * 31 + 7)};
    pthread_create(&t[i], NULL, i < R ? ttl_reader : ttl_writer, &w[i]);
  }
  pthread_join(t[R], NULL);
  atomic_store(&sh.stop, true);
  for (int i = 0; i < R; i++) {
    pthread_join(t[i], NULL);
    assert_int_equal(w[i].bad, 0);
  }
  gsp_cache_destroy(sh.c);
}

static void test_ttl_race_lru(void **s) {
  (void)s;
  ttl_race(GSP_CACHE_LRU);
}
static void test_ttl_race_ttl(void **s) {
  (void)s;
  ttl_race(GSP_CACHE_TTL);
}
static void test_ttl_race_adaptive(void **s) {
  (void)s;
  ttl_race(GSP_CACHE_ADAPTIVE);
}

/* ---- a present key is never missed while the table grows --------------- */

#define RESIDENT 64

static void *resident_reader(void *arg) {
  worker *w = arg;
  unsigned char buf[VMAX];
  while (!atomic_load(&w->sh->stop)) {
    int k = (int)((unsigned)rand_r(&w->seed) % RESIDENT);
    size_t n = 0;
    gsp_cache_ref *r = NULL;
    w->lookups++;
    if (gsp_cache_get_copy(w->sh->c, &k, sizeof k, buf, sizeof buf, &n) != GSP_OK ||
        !val_ok(k, buf, n))
      w->bad++;
    if (gsp_cache_get(w->sh->c, &k, sizeof k, &r) != GSP_OK) {
      w->bad++;
    } else {
      w->bad += !val_ok(k, gsp_cache_ref_value(r, &n), n) || n == 0;
      gsp_cache_ref_release(r);
    }
  }
  return NULL;
}

/* Keys 0..RESIDENT-1 stay (the bound is never reached) while a writer adds
 * 60,000 more, so each shard's table doubles many times under the readers:
 * a lock-free lookup that crosses a rehash must not report a miss. */
static void test_no_false_miss_during_growth(void **s) {
  (void)s;
  enum { R = 3 };
  shared sh = {0};
  gsp_cache_config cfg = {.strategy = GSP_CACHE_ADAPTIVE, .max_bytes = 1u << 30, .shards = 2};
  assert_int_equal(gsp_cache_create(&cfg, &sh.c), GSP_OK);
  unsigned char buf[VMAX];
  for (int k = 0; k < RESIDENT; k++) {
    size_t n = make_val(k, 1, buf);
    assert_int_equal(gsp_cache_put(sh.c, &k, sizeof k, buf, n, NULL), GSP_OK);
  }
  pthread_t t[R];
  worker w[R];
  for (int i = 0; i < R; i++) {
    w[i] = (worker){.sh = &sh, .seed = (unsigned)(i * 13 + 5)};
    pthread_create(&t[i], NULL, resident_reader, &w[i]);
  }
  for (int k = RESIDENT; k < RESIDENT + 60000; k++) {
    size_t n = make_val(k, 2, buf);
    assert_int_equal(gsp_cache_put(sh.c, &k, sizeof k, buf, n, NULL), GSP_OK);
  }
  atomic_store(&sh.stop, true);
  for (int i = 0; i < R; i++) {
    pthread_join(t[i], NULL);
    assert_int_equal(w[i].bad, 0);
    assert_true(w[i].lookups > 0);
  }
  gsp_cache_stats st;
  gsp_cache_stats_get(sh.c, &st);
  assert_int_equal(st.evictions, 0);
  gsp_cache_destroy(sh.c);
}

/* ---- one thread: hits reach the policy before the next eviction ---------- */

static bool has(gsp_cache *c, int k) { return gsp_cache_contains(c, &k, sizeof k); }

static void get_n(gsp_cache *c, int k, int times) {
  unsigned char b[8];
  size_t n;
  for (int i = 0; i < times; i++)
    assert_int_equal(gsp_cache_get_copy(c, &k, sizeof k, b, 8, &n), 0);
}

/* More hits than a read buffer holds, then one put: the order must be the
 * one a cache applying each hit at once would have. */
static void test_single_thread_order(void **s) {
  (void)s;
  gsp_cache *lru = NULL, *lfu = NULL;
  assert_int_equal(
      gsp_cache_create(
          &(gsp_cache_config){.strategy = GSP_CACHE_LRU, .max_entries = 40, .shards = 1}, &lru),
      0);
  assert_int_equal(
      gsp_cache_create(
          &(gsp_cache_config){.strategy = GSP_CACHE_LFU, .max_entries = 40, .shards = 1}, &lfu),
      0);
  for (int k = 0; k < 40; k++) {
    assert_int_equal(gsp_cache_put(lru, &k, sizeof k, "v", 1, NULL), 0);
    assert_int_equal(gsp_cache_put(lfu, &k, sizeof k, "v", 1, NULL), 0);
  }
  /* LRU: touch 0..38 (39 hits, past one ring) -> 39 is the oldest */
  for (int k = 0; k < 39; k++) get_n(lru, k, 1);
  int k = 100;
  assert_int_equal(gsp_cache_put(lru, &k, sizeof k, "v", 1, NULL), 0);
  assert_false(has(lru, 39));
  assert_true(has(lru, 0));
  /* LFU: every key hit twice except 7 -> 7 is the least frequent */
  for (int j = 0; j < 40; j++)
    if (j != 7) get_n(lfu, j, 2);
  assert_int_equal(gsp_cache_put(lfu, &k, sizeof k, "v", 1, NULL), 0);
  assert_false(has(lfu, 7));
  gsp_cache_stats st;
  gsp_cache_stats_get(lfu, &st);
  assert_int_equal(st.hits, 78);
  gsp_cache_destroy(lru);
  gsp_cache_destroy(lfu);
}

/* ---- recycled entry blocks ---------------------------------------------- */

/* Key i: 4..27 bytes (inline and long keys); value: 0..47 bytes (several
 * size classes), both derived from i and the round r. */
static size_t recycle_key(unsigned i, unsigned char *k) {
  size_t n = 4 + i % 24;
  for (size_t j = 0; j < n; j++) k[j] = (unsigned char)(i * 31u + j);
  return n;
}

static size_t recycle_val(unsigned i, unsigned r, unsigned char *v) {
  size_t n = (i * 7u + r) % 48u;
  for (size_t j = 0; j < n; j++) v[j] = (unsigned char)(i + r * 13u + j);
  return n;
}

/* Evicted blocks are reused by later puts of the same shard: every value
 * read back is the one last put (never a stale or mixed one), replacing a
 * value works, and values pinned when their entry left stay intact while
 * the cache keeps recycling memory around them (ASan checks the rest). */
static void test_recycled_blocks(void **s) {
  (void)s;
  gsp_cache_strategy strats[] = {GSP_CACHE_LRU, GSP_CACHE_ADAPTIVE};
  for (unsigned si = 0; si < 2; si++) {
    gsp_cache *c = NULL;
    gsp_cache_config cfg = {.strategy = strats[si], .max_entries = 64, .shards = 2};
    assert_int_equal(gsp_cache_create(&cfg, &c), 0);
    enum { RKEYS = 400, ROUNDS = 30, PINS = 64 };
    gsp_cache_ref *pins[PINS] = {0};
    unsigned pin_key[PINS], pin_round[PINS], npins = 0;
    unsigned char k[32], v[64], out[64];
    for (unsigned r = 0; r < ROUNDS; r++) {
      for (unsigned i = 0; i < RKEYS; i++) {
        size_t kl = recycle_key(i, k), vl = recycle_val(i, r, v), got = 0;
        assert_int_equal(gsp_cache_put(c, k, kl, v, vl, NULL), 0);
        if (i % 3 == 0) { /* a replacement of the value just put */
          vl = recycle_val(i, r + 1000u, v);
          assert_int_equal(gsp_cache_put(c, k, kl, v, vl, NULL), 0);
        }
        int rv = gsp_cache_get_copy(c, k, kl, out, sizeof out, &got);
        if (rv == GSP_ENOENT) continue; /* ADAPTIVE may decline a newcomer */
        assert_int_equal(rv, 0);
        assert_int_equal(got, vl);
        assert_memory_equal(out, v, vl);
        if ((i * 13u + r) % 97u == 0 && npins < PINS &&
            gsp_cache_get(c, k, kl, &pins[npins]) == 0) {
          pin_key[npins] = i;
          pin_round[npins] = i % 3 == 0 ? r + 1000u : r;
          npins++;
        }
      }
    }
    assert_true(npins > 10);
    for (unsigned p = 0; p < npins; p++) {
      size_t vl = recycle_val(pin_key[p], pin_round[p], v), got = 0;
      const void *pv = gsp_cache_ref_value(pins[p], &got);
      assert_int_equal(got, vl);
      assert_memory_equal(pv, v, vl);
      gsp_cache_ref_release(pins[p]);
    }
    gsp_cache_destroy(c);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_recycled_blocks),
      cmocka_unit_test(test_race_lru_count),
      cmocka_unit_test(test_race_lfu_count),
      cmocka_unit_test(test_race_fifo_count),
      cmocka_unit_test(test_race_adaptive_count),
      cmocka_unit_test(test_race_adaptive_bytes_growth),
      cmocka_unit_test(test_race_lru_bytes_growth_callback),
      cmocka_unit_test(test_ttl_race_lru),
      cmocka_unit_test(test_ttl_race_ttl),
      cmocka_unit_test(test_ttl_race_adaptive),
      cmocka_unit_test(test_no_false_miss_during_growth),
      cmocka_unit_test(test_single_thread_order),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
