/*
 * test_optimize_mflight.c - MEMORY_OPTIMIZED's single-flight: threads
 * racing on one key compute it once and share the result (cached, not
 * cached, and large results in the compressed store); a failure reaches
 * every sharer; many threads over many keys compute each key exactly once;
 * asynchronous calls released before they run never compute, and the
 * ones that run share. The leader's fn holds until every other racer is
 * waiting on its flight (gsp__opt_memory_waiters, the engine's count), so
 * sharing is certain, not a matter of timing. Runs under TSan in CI.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include "gsperf/optimize.h"

#include "../../../src/optimize/opt_int.h"

#define RACERS 6
#define BIG (64u * 1024u)

typedef struct gate {
  gsp_opt_func *f; /* set after registration */
  unsigned want;   /* waiters to hold for */
  int fail;        /* status fn returns (0: a result) */
  size_t size;     /* result bytes (0: the argument, twice) */
  _Atomic unsigned runs;
} gate;

static void pause_ms(long ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

/* Hold until `want` callers wait on the flight (at most ~20 s: then the
 * test fails on its counts rather than hanging). */
static void hold(gate *g) {
  for (int i = 0; i < 20000 && gsp__opt_memory_waiters(g->f) < g->want; i++) pause_ms(1);
}

static int gated(void *user, const void *arg, size_t n, void **out, size_t *outlen) {
  gate *g = user;
  atomic_fetch_add(&g->runs, 1);
  if (g->want) hold(g);
  if (g->fail) return g->fail;
  size_t len = g->size ? g->size : 2 * n;
  unsigned char *r = gsp_malloc(len ? len : 1);
  if (r == NULL) return GSP_ENOMEM;
  for (size_t i = 0; i < len; i++) r[i] = n ? ((const unsigned char *)arg)[i % n] : 0;
  *out = r;
  *outlen = len;
  return GSP_OK;
}

typedef struct racer {
  gsp_opt_func *f;
  pthread_barrier_t *start;
  const char *key;
  int rv;
  size_t len;
  unsigned char first, last;
} racer;

static void *race(void *p) {
  racer *r = p;
  pthread_barrier_wait(r->start);
  gsp_opt_result res;
  r->rv = gsp_opt_call(r->f, r->key, strlen(r->key), &res);
  if (r->rv == GSP_OK) {
    r->len = res.len;
    r->first = ((const unsigned char *)res.data)[0];
    r->last = ((const unsigned char *)res.data)[res.len - 1];
  }
  gsp_opt_result_release(&res);
  return NULL;
}

/* RACERS threads call key at once; returns fn's runs during the race. */
static unsigned run_race(gate *g, const char *key, racer *rs) {
  pthread_barrier_t b;
  pthread_t th[RACERS];
  unsigned before = atomic_load(&g->runs);
  pthread_barrier_init(&b, NULL, RACERS);
  for (int i = 0; i < RACERS; i++) {
    rs[i] = (racer){.f = g->f, .start = &b, .key = key};
    assert_int_equal(pthread_create(&th[i], NULL, race, &rs[i]), 0);
  }
  for (int i = 0; i < RACERS; i++) pthread_join(th[i], NULL);
  pthread_barrier_destroy(&b);
  return atomic_load(&g->runs) - before;
}

static gsp_opt_engine *engine(size_t max_value_bytes) {
  gsp_opt_engine *e = NULL;
  gsp_opt_config cfg = {.max_workers = 2, .max_value_bytes = max_value_bytes};
  assert_int_equal(gsp_opt_engine_create(&cfg, &e), GSP_OK);
  return e;
}

static gsp_opt_func *memory_func(gsp_opt_engine *e, gate *g, gsp_opt_switch caching) {
  gsp_opt_func *f = NULL;
  gsp_opt_func_opts o = {.strategy = GSP_OPT_MEMORY, .caching = caching};
  assert_int_equal(gsp_opt_register(e, "mf", gated, g, &o, &f), GSP_OK);
  g->f = f;
  return f;
}

static void check_shared(const racer *rs, size_t len, unsigned char first) {
  for (int i = 0; i < RACERS; i++) {
    assert_int_equal(rs[i].rv, GSP_OK);
    assert_int_equal(rs[i].len, len);
    assert_int_equal(rs[i].first, first);
  }
}

static void test_race_cached(void **state) {
  (void)state;
  gsp_opt_engine *e = engine(0);
  gate g = {.want = RACERS - 1};
  gsp_opt_func *f = memory_func(e, &g, GSP_OPT_SWITCH_DEFAULT);
  racer rs[RACERS];
  assert_int_equal(run_race(&g, "alpha", rs), 1);
  check_shared(rs, 10, 'a');
  gsp_opt_func_stats st;
  assert_int_equal(gsp_opt_func_stats_get(f, &st), GSP_OK);
  assert_int_equal(st.calls, RACERS);
  assert_int_equal(st.cache_misses, 1);
  assert_int_equal(st.cache_hits, RACERS - 1);
  /* later calls come from the cache */
  g.want = 0;
  gsp_opt_result r;
  assert_int_equal(gsp_opt_call(f, "alpha", 5, &r), GSP_OK);
  assert_int_equal(r.len, 10);
  gsp_opt_result_release(&r);
  assert_int_equal(atomic_load(&g.runs), 1);
  assert_int_equal(gsp__opt_memory_waiters(f), 0);
  gsp_opt_engine_destroy(e);
}

static void test_race_uncached(void **state) {
  (void)state;
  gsp_opt_engine *e = engine(0);
  gate g = {.want = RACERS - 1};
  gsp_opt_func *f = memory_func(e, &g, GSP_OPT_OFF);
  racer rs[RACERS];
  assert_int_equal(run_race(&g, "beta", rs), 1);
  check_shared(rs, 8, 'b');
  /* nothing was kept: a later call computes again */
  g.want = 0;
  gsp_opt_result r;
  assert_int_equal(gsp_opt_call(f, "beta", 4, &r), GSP_OK);
  gsp_opt_result_release(&r);
  assert_int_equal(atomic_load(&g.runs), 2);
  gsp_opt_engine_destroy(e);
}

static void test_race_large(void **state) {
  (void)state;
  gsp_opt_engine *e = engine(1024); /* results above 1 KiB: the compressed store */
  gate g = {.want = RACERS - 1, .size = BIG};
  gsp_opt_func *f = memory_func(e, &g, GSP_OPT_SWITCH_DEFAULT);
  racer rs[RACERS];
  assert_int_equal(run_race(&g, "gamma", rs), 1);
  check_shared(rs, BIG, 'g');
  for (int i = 0; i < RACERS; i++) assert_int_equal(rs[i].last, "gamma"[(BIG - 1) % 5]);
  g.want = 0;
  gsp_opt_result r;
  assert_int_equal(gsp_opt_call(f, "gamma", 5, &r), GSP_OK);
  assert_int_equal(r.len, BIG);
  gsp_opt_result_release(&r);
  assert_int_equal(atomic_load(&g.runs), 1); /* from the compressed store */
  gsp_opt_engine_destroy(e);
}

static void test_race_error(void **state) {
  (void)state;
  gsp_opt_engine *e = engine(0);
  gate g = {.want = RACERS - 1, .fail = GSP_EIO};
  gsp_opt_func *f = memory_func(e, &g, GSP_OPT_SWITCH_DEFAULT);
  racer rs[RACERS];
  assert_int_equal(run_race(&g, "delta", rs), 1);
  for (int i = 0; i < RACERS; i++) assert_int_equal(rs[i].rv, GSP_EIO);
  gsp_opt_func_stats st;
  assert_int_equal(gsp_opt_func_stats_get(f, &st), GSP_OK);
  assert_int_equal(st.errors, RACERS);
  /* an error is not kept: the next call runs fn again, and now succeeds */
  g.want = 0;
  g.fail = 0;
  gsp_opt_result r;
  assert_int_equal(gsp_opt_call(f, "delta", 5, &r), GSP_OK);
  gsp_opt_result_release(&r);
  assert_int_equal(atomic_load(&g.runs), 2);
  gsp_opt_engine_destroy(e);
}

/* ---- many threads, many keys: each key computed exactly once ---------------- */

#define KEYS 64
#define STRESS_THREADS 4
#define ROUNDS 2000

typedef struct counts {
  _Atomic unsigned per_key[KEYS];
} counts;

static int counted(void *user, const void *arg, size_t n, void **out, size_t *outlen) {
  counts *c = user;
  unsigned k = 0;
  memcpy(&k, arg, n < sizeof k ? n : sizeof k);
  atomic_fetch_add(&c->per_key[k % KEYS], 1);
  unsigned *r = gsp_malloc(sizeof *r);
  if (r == NULL) return GSP_ENOMEM;
  *r = k * 7u;
  *out = r;
  *outlen = sizeof *r;
  return GSP_OK;
}

typedef struct stress {
  gsp_opt_func *f;
  unsigned seed;
  int bad;
} stress;

static void *stress_thread(void *p) {
  stress *s = p;
  for (int i = 0; i < ROUNDS; i++) {
    s->seed = s->seed * 1103515245u + 12345u;
    unsigned k = (s->seed >> 8) % KEYS;
    gsp_opt_result r;
    int rv = gsp_opt_call(s->f, &k, sizeof k, &r);
    unsigned v = 0;
    if (rv == GSP_OK && r.len == sizeof v) memcpy(&v, r.data, sizeof v);
    if (rv != GSP_OK || v != k * 7u) s->bad++;
    gsp_opt_result_release(&r);
  }
  return NULL;
}

static void test_many_keys_once(void **state) {
  (void)state;
  gsp_opt_engine *e = engine(0);
  static counts c;
  memset(&c, 0, sizeof c);
  gsp_opt_func *f = NULL;
  gsp_opt_func_opts o = {.strategy = GSP_OPT_MEMORY};
  assert_int_equal(gsp_opt_register(e, "mf_keys", counted, &c, &o, &f), GSP_OK);
  pthread_t th[STRESS_THREADS];
  stress st[STRESS_THREADS];
  for (unsigned i = 0; i < STRESS_THREADS; i++) {
    st[i] = (stress){.f = f, .seed = 17u + i};
    assert_int_equal(pthread_create(&th[i], NULL, stress_thread, &st[i]), 0);
  }
  for (int i = 0; i < STRESS_THREADS; i++) pthread_join(th[i], NULL);
  unsigned total = 0;
  for (int i = 0; i < STRESS_THREADS; i++) assert_int_equal(st[i].bad, 0);
  for (int k = 0; k < KEYS; k++) {
    unsigned n = atomic_load(&c.per_key[k]);
    assert_true(n <= 1); /* never twice: a late racer finds the stored result */
    total += n;
  }
  gsp_opt_func_stats fs;
  assert_int_equal(gsp_opt_func_stats_get(f, &fs), GSP_OK);
  assert_int_equal(fs.cache_misses, total);
  assert_int_equal(fs.calls, STRESS_THREADS * ROUNDS);
  gsp_opt_engine_destroy(e);
}

/* ---- asynchronous calls: released ones never run, the others share ----------- */

#define ASYNC 8

static void test_async_release(void **state) {
  (void)state;
  gsp_opt_engine *e = engine(0);
  gate g = {0};
  gsp_opt_func *f = memory_func(e, &g, GSP_OPT_SWITCH_DEFAULT);
  gsp_opt_future *fu[ASYNC];
  for (int i = 0; i < ASYNC; i++) assert_int_equal(gsp_opt_submit(f, "eps", 3, &fu[i]), GSP_OK);
  for (int i = 0; i < ASYNC; i += 2) gsp_opt_future_release(fu[i]); /* half dropped */
  for (int i = 1; i < ASYNC; i += 2) {
    gsp_opt_result r;
    assert_int_equal(gsp_opt_future_wait(fu[i], 0, &r), GSP_OK);
    assert_int_equal(r.len, 6);
    assert_memory_equal(r.data, "epseps", 6);
    gsp_opt_result_release(&r);
    gsp_opt_future_release(fu[i]);
  }
  gsp_opt_engine_destroy(e); /* runs what was submitted first */
  assert_int_equal(atomic_load(&g.runs), 1);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_race_cached),    cmocka_unit_test(test_race_uncached),
      cmocka_unit_test(test_race_large),     cmocka_unit_test(test_race_error),
      cmocka_unit_test(test_many_keys_once), cmocka_unit_test(test_async_release),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
