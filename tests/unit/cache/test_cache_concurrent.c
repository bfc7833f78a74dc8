/*
 * test_cache_concurrent.c - many threads on one cache, for every strategy:
 * values read are always the ones written for their key (never torn or
 * freed under the reader), bounds hold, get-or-compute runs a computation
 * once per key however many threads miss together, and WEAK entries vanish
 * correctly while objects die on other threads. Run under TSan by CI.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include "gsperf/cache.h"

#define THREADS 4
#define KEYS 512
#define OPS 20000

typedef struct worker {
  gsp_cache *c;
  unsigned seed;
  int bad;
} worker;

/* value for key k: 64 bytes all equal to (k & 0xff), then the key itself */
static void make_val(int k, unsigned char *v, size_t n) {
  memset(v, k & 0xff, n);
  memcpy(v, &k, sizeof k);
}

static bool val_ok(int k, const unsigned char *v, size_t n) {
  int got;
  memcpy(&got, v, sizeof got);
  if (got != k) return false;
  for (size_t i = sizeof k; i < n; i++)
    if (v[i] != (unsigned char)(k & 0xff)) return false;
  return true;
}

static int compute_val(void *user, const void *key, size_t klen, void **val, size_t *vlen) {
  (void)user;
  int k;
  memcpy(&k, key, sizeof k);
  (void)klen;
  unsigned char *v = gsp_malloc(300);
  if (v == NULL) return GSP_ENOMEM;
  make_val(k, v, 300);
  *val = v;
  *vlen = 300;
  return GSP_OK;
}

static void one_op(worker *w, int k, unsigned r) {
  unsigned char v[300];
  size_t n = 0;
  gsp_cache_ref *ref = NULL;
  switch (r % 6) {
    case 0:
    case 1:
      make_val(k, v, 64 + (r % 200));
      gsp_cache_put(w->c, &k, sizeof k, v, 64 + (r % 200), NULL);
      break;
    case 2:
      if (gsp_cache_get(w->c, &k, sizeof k, &ref) == GSP_OK) {
        const unsigned char *p = gsp_cache_ref_value(ref, &n);
        if (!val_ok(k, p, n)) w->bad++;
        gsp_cache_ref_release(ref);
      }
      break;
    case 3:
      if (gsp_cache_get_copy(w->c, &k, sizeof k, v, sizeof v, &n) == GSP_OK && !val_ok(k, v, n))
        w->bad++;
      break;
    case 4:
      if (gsp_cache_get_or_compute(w->c, &k, sizeof k, compute_val, NULL, NULL, &ref) == 0) {
        const unsigned char *p = gsp_cache_ref_value(ref, &n);
        if (!val_ok(k, p, n)) w->bad++;
        gsp_cache_ref_release(ref);
      }
      break;
    default:
      if (r % 30 == 5)
        gsp_cache_delete(w->c, &k, sizeof k);
      else
        (void)gsp_cache_contains(w->c, &k, sizeof k);
      break;
  }
}

static void *work(void *arg) {
  worker *w = arg;
  for (int i = 0; i < OPS; i++) {
    unsigned r = (unsigned)rand_r(&w->seed);
    one_op(w, (int)(r % KEYS), r >> 9);
  }
  return NULL;
}

static void hammer(gsp_cache_strategy s) {
  gsp_cache *c = NULL;
  gsp_cache_config cfg = {.strategy = s, .max_entries = 128, .shards = 4, .ttl_ms = 50};
  assert_int_equal(gsp_cache_create(&cfg, &c), GSP_OK);
  pthread_t t[THREADS];
  worker w[THREADS];
  for (int i = 0; i < THREADS; i++) {
    w[i] = (worker){.c = c, .seed = (unsigned)(i * 7919 + 1)};
    pthread_create(&t[i], NULL, work, &w[i]);
  }
  for (int i = 0; i < THREADS; i++) {
    pthread_join(t[i], NULL);
    assert_int_equal(w[i].bad, 0);
  }
  gsp_cache_stats st;
  gsp_cache_stats_get(c, &st);
  assert_true(st.entries <= 128 + 4);
  assert_true(st.hits > 0);
  assert_int_equal(st.insertions - st.evictions - st.deletions - st.expirations, st.entries);
  gsp_cache_destroy(c);
}

static void test_hammer_lru(void **st) {
  (void)st;
  hammer(GSP_CACHE_LRU);
}
static void test_hammer_lfu(void **st) {
  (void)st;
  hammer(GSP_CACHE_LFU);
}
static void test_hammer_fifo(void **st) {
  (void)st;
  hammer(GSP_CACHE_FIFO);
}
static void test_hammer_ttl(void **st) {
  (void)st;
  hammer(GSP_CACHE_TTL);
}
static void test_hammer_adaptive(void **st) {
  (void)st;
  hammer(GSP_CACHE_ADAPTIVE);
}

/* ---- single flight --------------------------------------------------------- */

static atomic_int g_calls;
static int slow_compute(void *user, const void *key, size_t klen, void **val, size_t *vlen) {
  (void)user;
  (void)key;
  (void)klen;
  atomic_fetch_add(&g_calls, 1);
  nanosleep(&(struct timespec){0, 50 * 1000 * 1000}, NULL);
  char *v = gsp_malloc(6);
  if (v == NULL) return GSP_ENOMEM;
  memcpy(v, "value", 6);
  *val = v;
  *vlen = 6;
  return GSP_OK;
}

static int failing_slow_compute(void *user, const void *key, size_t klen, void **val,
                                size_t *vlen) {
  (void)val;
  (void)vlen;
  (void)user;
  (void)key;
  (void)klen;
  atomic_fetch_add(&g_calls, 1);
  nanosleep(&(struct timespec){0, 200 * 1000 * 1000}, NULL);
  return GSP_ETIMEDOUT;
}

typedef struct sf_arg {
  gsp_cache *c;
  gsp_cache_compute_fn fn;
  int rv;
  char got[8];
  pthread_barrier_t *bar;
} sf_arg;

static void *sf_worker(void *p) {
  sf_arg *a = p;
  gsp_cache_ref *r = NULL;
  pthread_barrier_wait(a->bar);
  a->rv = gsp_cache_get_or_compute(a->c, "same", 4, a->fn, NULL, NULL, &r);
  if (a->rv == GSP_OK) {
    memcpy(a->got, gsp_cache_ref_value(r, NULL), 6);
    gsp_cache_ref_release(r);
  }
  return NULL;
}

static void single_flight(gsp_cache_compute_fn fn, int want_rv) {
  gsp_cache *c = NULL;
  assert_int_equal(gsp_cache_create(&(gsp_cache_config){.max_entries = 100}, &c), GSP_OK);
  enum { N = 8 };
  pthread_t t[N];
  sf_arg a[N];
  pthread_barrier_t bar;
  pthread_barrier_init(&bar, NULL, N);
  atomic_store(&g_calls, 0);
  for (int i = 0; i < N; i++) {
    a[i] = (sf_arg){.c = c, .fn = fn, .bar = &bar};
    pthread_create(&t[i], NULL, sf_worker, &a[i]);
  }
  for (int i = 0; i < N; i++) {
    pthread_join(t[i], NULL);
    assert_int_equal(a[i].rv, want_rv);
    if (want_rv == GSP_OK) assert_string_equal(a[i].got, "value");
  }
  pthread_barrier_destroy(&bar);
  /* all eight arrive within the 50 ms computation: exactly one runs it
   * (a thread arriving after a failed flight may legitimately start another) */
  if (want_rv == GSP_OK)
    assert_int_equal(atomic_load(&g_calls), 1);
  else
    assert_true(atomic_load(&g_calls) >= 1 && atomic_load(&g_calls) < N);
  gsp_cache_destroy(c);
}

static void test_single_flight(void **st) {
  (void)st;
  single_flight(slow_compute, GSP_OK);
}

static void test_single_flight_error_shared(void **st) {
  (void)st;
  single_flight(failing_slow_compute, GSP_ETIMEDOUT);
}

/* ---- WEAK with deaths on other threads ------------------------------------ */

static void free_obj(void *obj, void *user) {
  (void)user;
  free(obj);
}

typedef struct weak_arg {
  gsp_cache *c;
  int base;
  int bad;
} weak_arg;

static void *weak_worker(void *p) {
  weak_arg *a = p;
  for (int i = 0; i < 2000; i++) {
    int k = a->base + (i % 64);
    int *o = malloc(sizeof *o);
    *o = k;
    gsp_rc *rc = NULL;
    if (gsp_rc_create(o, free_obj, NULL, &rc) != GSP_OK) {
      free(o);
      continue;
    }
    gsp_cache_put_weak(a->c, &k, sizeof k, rc, NULL);
    int other = (k + 17) % 256; /* maybe another thread's key */
    gsp_rc *got = NULL;
    if (gsp_cache_get_weak(a->c, &other, sizeof other, &got) == GSP_OK) {
      if (*(int *)gsp_rc_get(got) != other) a->bad++;
      gsp_rc_release(got);
    }
    gsp_rc_release(rc); /* dies here (or when `got` above is released) */
    if (gsp_cache_get_weak(a->c, &k, sizeof k, &got) == GSP_OK) {
      /* only possible if another thread stored a live object under k */
      if (*(int *)gsp_rc_get(got) != k) a->bad++;
      gsp_rc_release(got);
    }
  }
  return NULL;
}

static void test_weak_concurrent(void **st) {
  (void)st;
  gsp_cache *c = NULL;
  assert_int_equal(gsp_cache_create(&(gsp_cache_config){.strategy = GSP_CACHE_WEAK}, &c), 0);
  pthread_t t[THREADS];
  weak_arg a[THREADS];
  for (int i = 0; i < THREADS; i++) {
    a[i] = (weak_arg){.c = c, .base = (i % 2) * 64}; /* pairs of threads share keys */
    pthread_create(&t[i], NULL, weak_worker, &a[i]);
  }
  for (int i = 0; i < THREADS; i++) {
    pthread_join(t[i], NULL);
    assert_int_equal(a[i].bad, 0);
  }
  gsp_cache_stats s;
  gsp_cache_stats_get(c, &s);
  assert_int_equal(s.entries, 0); /* every object died, so no entry is left */
  gsp_cache_destroy(c);
}

/* Destroying a WEAK cache while another thread releases its objects. */
typedef struct release_arg {
  gsp_rc **objs;
  int n;
  pthread_barrier_t *bar;
} release_arg;

static void *release_all(void *p) {
  release_arg *a = p;
  pthread_barrier_wait(a->bar);
  for (int i = 0; i < a->n; i++) gsp_rc_release(a->objs[i]);
  return NULL;
}

static void test_weak_destroy_races_release(void **st) {
  (void)st;
  enum { N = 2000 };
  for (int round = 0; round < 5; round++) {
    gsp_cache *c = NULL;
    assert_int_equal(gsp_cache_create(&(gsp_cache_config){.strategy = GSP_CACHE_WEAK}, &c), 0);
    static gsp_rc *objs[N];
    for (int i = 0; i < N; i++) {
      int *o = malloc(sizeof *o);
      *o = i;
      assert_int_equal(gsp_rc_create(o, free_obj, NULL, &objs[i]), GSP_OK);
      assert_int_equal(gsp_cache_put_weak(c, &i, sizeof i, objs[i], NULL), GSP_OK);
    }
    pthread_barrier_t bar;
    pthread_barrier_init(&bar, NULL, 2);
    release_arg a = {objs, N, &bar};
    pthread_t t;
    pthread_create(&t, NULL, release_all, &a);
    pthread_barrier_wait(&bar);
    gsp_cache_destroy(c);
    pthread_join(t, NULL);
    pthread_barrier_destroy(&bar);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_hammer_lru),
      cmocka_unit_test(test_hammer_lfu),
      cmocka_unit_test(test_hammer_fifo),
      cmocka_unit_test(test_hammer_ttl),
      cmocka_unit_test(test_hammer_adaptive),
      cmocka_unit_test(test_single_flight),
      cmocka_unit_test(test_single_flight_error_shared),
      cmocka_unit_test(test_weak_concurrent),
      cmocka_unit_test(test_weak_destroy_races_release),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
