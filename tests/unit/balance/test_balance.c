/*
 * test_balance.c - the balancers' behaviour on one thread: the fairness
 * bound of every strategy as balance.h states it, consistent hashing's
 * key movement when a backend joins or leaves (<= 1.2/n), health (DOWN
 * after N failures, no pick of a DOWN backend, the half-open trial, the
 * probe, the probe thread), run-time changes of the set, statistics and
 * bad arguments. Time is a hand-moved clock; nothing measures time.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <sched.h>
#include <unistd.h>

#include "gsperf/balance.h"

#define MAXB 32

static uint64_t g_now = 1000000000ull;
static uint64_t fake_now(void *u) {
  (void)u;
  return g_now;
}

static gsp_balancer *make(gsp_balance_strategy s, const uint32_t *w, unsigned n, uint32_t *ids) {
  gsp_balancer *b = NULL;
  gsp_balance_config cfg = {.strategy = s, .clock = {fake_now, NULL}};
  assert_int_equal(gsp_balance_create(&cfg, &b), GSP_OK);
  for (unsigned i = 0; i < n; i++) {
    char name[32];
    snprintf(name, sizeof name, "backend-%u", i);
    assert_int_equal(gsp_balance_add(b, name, w[i], &ids[i]), GSP_OK);
  }
  return b;
}

/* The index of the backend a ticket names (ids are 0..n-1 in add order). */
static unsigned pick1(gsp_balancer *b, const void *key, size_t len, gsp_balance_ticket *t) {
  assert_int_equal(gsp_balance_pick(b, key, len, t), GSP_OK);
  return gsp_balance_ticket_backend(t);
}

static unsigned pick_release(gsp_balancer *b) {
  gsp_balance_ticket t;
  unsigned i = pick1(b, NULL, 0, &t);
  assert_int_equal(gsp_balance_release(b, &t, GSP_BALANCE_SUCCESS, 1000), GSP_OK);
  return i;
}

/* ---- fairness ------------------------------------------------------------- */

static void test_round_robin(void **state) {
  (void)state;
  uint32_t w[5] = {1, 7, 1, 3, 1}, ids[5];
  gsp_balancer *b = make(GSP_BALANCE_ROUND_ROBIN, w, 5, ids);
  unsigned cnt[5] = {0};
  for (unsigned k = 1; k <= 1003; k++) {
    cnt[pick_release(b)]++;
    unsigned mn = cnt[0], mx = cnt[0];
    for (int i = 1; i < 5; i++) mn = cnt[i] < mn ? cnt[i] : mn, mx = cnt[i] > mx ? cnt[i] : mx;
    assert_true(mx - mn <= 1); /* weights ignored, counts within 1 */
  }
  gsp_balance_destroy(b);
}

static void check_wrr(const uint32_t *w, unsigned n) {
  uint32_t ids[MAXB];
  gsp_balancer *b = make(GSP_BALANCE_WEIGHTED_ROUND_ROBIN, w, n, ids);
  uint64_t W = 0, g = 0;
  for (unsigned i = 0; i < n; i++) W += w[i];
  for (unsigned i = 0; i < n; i++) {
    uint64_t x = w[i], y = g;
    while (y) {
      uint64_t t = x % y;
      x = y;
      y = t;
    }
    g = x;
  }
  uint64_t period = W / g;
  unsigned cnt[MAXB] = {0};
  for (uint64_t k = 1; k <= 3 * period; k++) {
    cnt[pick_release(b)]++;
    for (unsigned i = 0; i < n; i++) {
      double dev = fabs((double)cnt[i] - (double)k * w[i] / (double)W);
      if (dev >= 1.0)
        fail_msg("backend %u: %u picks after %lu, expected %.2f", i, cnt[i], k,
                 (double)k * w[i] / (double)W);
    }
    if (k % period == 0) {
      for (unsigned i = 0; i < n; i++) assert_int_equal(cnt[i], k / period * (w[i] / g));
    }
  }
  gsp_balance_destroy(b);
}

static void test_weighted_round_robin(void **state) {
  (void)state;
  /* nginx's own example: weights 5, 1, 1 give a a b a c a a */
  uint32_t w[3] = {5, 1, 1}, ids[3];
  gsp_balancer *b = make(GSP_BALANCE_WEIGHTED_ROUND_ROBIN, w, 3, ids);
  const unsigned want[7] = {0, 0, 1, 0, 2, 0, 0};
  for (int r = 0; r < 3; r++) {
    for (int i = 0; i < 7; i++) assert_int_equal(pick_release(b), want[i]);
  }
  gsp_balance_destroy(b);
  check_wrr((uint32_t[]){4, 6, 10}, 3);
  check_wrr((uint32_t[]){1, 2, 3, 4, 5, 6, 7, 8}, 8);
  srand(7);
  for (int round = 0; round < 20; round++) {
    uint32_t ws[12];
    unsigned n = 2 + (unsigned)rand() % 11;
    for (unsigned i = 0; i < n; i++) ws[i] = 1 + (unsigned)rand() % 50;
    check_wrr(ws, n);
  }
}

static void test_least_connections(void **state) {
  (void)state;
  static gsp_balance_ticket t[400];
  uint32_t eq[4] = {1, 1, 1, 1}, w[4] = {1, 2, 3, 4}, ids[4];
  gsp_balancer *b = make(GSP_BALANCE_LEAST_CONNECTIONS, eq, 4, ids);
  unsigned act[4] = {0};
  for (int k = 0; k < 400; k++) {
    act[pick1(b, NULL, 0, &t[k])]++;
    unsigned mn = act[0], mx = act[0];
    for (int i = 1; i < 4; i++) mn = act[i] < mn ? act[i] : mn, mx = act[i] > mx ? act[i] : mx;
    assert_true(mx - mn <= 1);
  }
  /* releasing from backend 2 makes it the least loaded */
  for (int k = 0; k < 400; k++) {
    if (gsp_balance_ticket_backend(&t[k]) != 2) continue;
    assert_int_equal(gsp_balance_release(b, &t[k], GSP_BALANCE_SUCCESS, 0), GSP_OK);
    break;
  }
  assert_int_equal(pick1(b, NULL, 0, &t[0]), 2);
  gsp_balance_destroy(b);

  b = make(GSP_BALANCE_LEAST_CONNECTIONS, w, 4, ids);
  memset(act, 0, sizeof act);
  for (int k = 1; k <= 400; k++) {
    act[pick1(b, NULL, 0, &t[k - 1])]++;
    for (int i = 0; i < 4; i++) {
      double dev = fabs(act[i] - k * w[i] / 10.0);
      if (dev >= 2.0)
        fail_msg("backend %d: %u active after %d, expected %.1f", i, act[i], k, k * w[i] / 10.0);
    }
  }
  gsp_balance_stats all[4];
  size_t n;
  gsp_balance_stats_all(b, all, 4, &n);
  assert_int_equal(n, 4);
  for (int i = 0; i < 4; i++) assert_int_equal(all[i].active, act[i]);
  gsp_balance_destroy(b);
}

/* Each count within 6 standard deviations of Binomial(k, w_i / W). */
static void check_binomial(const unsigned *cnt, const uint32_t *w, unsigned n, unsigned k) {
  double W = 0;
  for (unsigned i = 0; i < n; i++) W += w[i];
  for (unsigned i = 0; i < n; i++) {
    double p = w[i] / W, mean = k * p, sd = sqrt(k * p * (1 - p));
    if (fabs(cnt[i] - mean) > 6 * sd + 1)
      fail_msg("backend %u: %u picks, expected %.0f +- %.0f", i, cnt[i], mean, 6 * sd);
  }
}

static void test_random(void **state) {
  (void)state;
  uint32_t w[5] = {1, 2, 3, 4, 10}, ids[5];
  gsp_balancer *b = make(GSP_BALANCE_RANDOM, w, 5, ids);
  unsigned cnt[5] = {0};
  for (int k = 0; k < 200000; k++) cnt[pick_release(b)]++;
  check_binomial(cnt, w, 5, 200000);
  gsp_balance_destroy(b);
}

static void test_power_of_two(void **state) {
  (void)state;
  enum { N = 16, K = 16000 };
  static gsp_balance_ticket t[K];
  uint32_t w[N], ids[N];
  for (int i = 0; i < N; i++) w[i] = 1;
  gsp_balancer *b = make(GSP_BALANCE_POWER_OF_TWO_CHOICES, w, N, ids);
  unsigned act[N] = {0};
  for (int k = 0; k < K; k++) act[pick1(b, NULL, 0, &t[k])]++;
  unsigned mn = act[0], mx = act[0];
  for (int i = 1; i < N; i++) mn = act[i] < mn ? act[i] : mn, mx = act[i] > mx ? act[i] : mx;
  print_message("power of two choices: %d held over %d: active %u..%u\n", K, N, mn, mx);
  if (mx - mn > 6) fail_msg("max - min active = %u (%u..%u)", mx - mn, mn, mx);
  for (int k = 0; k < K; k++) gsp_balance_release(b, &t[k], GSP_BALANCE_SUCCESS, 0);
  /* with immediate releases it is weighted random */
  gsp_balance_destroy(b);
  uint32_t w2[4] = {1, 1, 2, 4};
  b = make(GSP_BALANCE_POWER_OF_TWO_CHOICES, w2, 4, ids);
  unsigned cnt[4] = {0};
  for (int k = 0; k < 100000; k++) cnt[pick_release(b)]++;
  check_binomial(cnt, w2, 4, 100000);
  gsp_balance_destroy(b);
}

/* ---- consistent hashing ---------------------------------------------------- */

#define NKEYS 100000

static void map_keys(gsp_balancer *b, uint32_t *out) {
  for (uint32_t k = 0; k < NKEYS; k++) {
    char key[32];
    int len = snprintf(key, sizeof key, "user:%u", k);
    gsp_balance_ticket t;
    out[k] = pick1(b, key, (size_t)len, &t);
    assert_int_equal(gsp_balance_release(b, &t, GSP_BALANCE_SUCCESS, 0), GSP_OK);
  }
}

static double moved(const uint32_t *a, const uint32_t *c) {
  unsigned m = 0;
  for (uint32_t k = 0; k < NKEYS; k++) m += a[k] != c[k];
  return (double)m / NKEYS;
}

static void test_consistent_hash(void **state) {
  (void)state;
  enum { N = 10 };
  static uint32_t before[NKEYS], after[NKEYS], again[NKEYS];
  uint32_t w[N], ids[N + 1];
  for (int i = 0; i < N; i++) w[i] = 1;
  gsp_balancer *b = make(GSP_BALANCE_CONSISTENT_HASH, w, N, ids);
  gsp_balance_ticket t;
  assert_int_equal(gsp_balance_pick(b, NULL, 0, &t), GSP_EINVAL);
  map_keys(b, before);
  map_keys(b, again);
  assert_int_equal(moved(before, again), 0); /* stable */
  unsigned cnt[N] = {0};
  for (int k = 0; k < NKEYS; k++) cnt[before[k]]++;
  check_binomial(cnt, w, N, NKEYS);

  /* a backend leaves: its keys move, and few others */
  assert_int_equal(gsp_balance_remove(b, ids[3]), GSP_OK);
  map_keys(b, after);
  double m = moved(before, after);
  print_message("consistent hash: leave of 1 of %d moved %.4f of keys (1/n = %.4f)\n", N, m,
                1.0 / N);
  assert_true(m <= 1.2 / N);
  for (int k = 0; k < NKEYS; k++) assert_int_not_equal(after[k], ids[3]);

  /* a backend joins (back to 10 from 9) */
  assert_int_equal(gsp_balance_add(b, "backend-new", 1, &ids[N]), GSP_OK);
  map_keys(b, again);
  m = moved(after, again);
  print_message("consistent hash: join of 1 to %d moved %.4f of keys (1/n = %.4f)\n", N - 1, m,
                1.0 / N);
  assert_true(m <= 1.2 / N);
  /* the same set of names gives the same map in another balancer */
  gsp_balancer *b2 = make(GSP_BALANCE_CONSISTENT_HASH, w, N, ids);
  map_keys(b2, after);
  assert_int_equal(moved(before, after), 0);
  gsp_balance_destroy(b2);
  gsp_balance_destroy(b);
}

static void test_consistent_hash_weights(void **state) {
  (void)state;
  uint32_t w[4] = {1, 2, 3, 4}, ids[4];
  static uint32_t map[NKEYS];
  gsp_balancer *b = make(GSP_BALANCE_CONSISTENT_HASH, w, 4, ids);
  map_keys(b, map);
  unsigned cnt[4] = {0};
  for (int k = 0; k < NKEYS; k++) cnt[map[k]]++;
  check_binomial(cnt, w, 4, NKEYS);
  gsp_balance_destroy(b);
}

/* ---- least latency ----------------------------------------------------------- */

static void test_least_latency(void **state) {
  (void)state;
  const uint64_t lat[3] = {1000000, 2000000, 10000000};
  uint32_t w[3] = {1, 1, 1}, ids[3];
  gsp_balancer *b = make(GSP_BALANCE_LEAST_LATENCY, w, 3, ids);
  unsigned cnt[3] = {0};
  for (int k = 0; k < 20000; k++) {
    gsp_balance_ticket t;
    unsigned i = pick1(b, NULL, 0, &t);
    cnt[i]++;
    assert_int_equal(gsp_balance_release(b, &t, GSP_BALANCE_SUCCESS, lat[i]), GSP_OK);
  }
  print_message("least latency picks: %u %u %u\n", cnt[0], cnt[1], cnt[2]);
  assert_true(cnt[0] > 18000); /* the fast one, but for the exploration picks */
  assert_true(cnt[1] > 0 && cnt[2] > 0);
  gsp_balance_stats st;
  assert_int_equal(gsp_balance_stats_get(b, ids[2], &st), GSP_OK);
  assert_true(st.ewma_latency_ns > 9000000 && st.ewma_latency_ns <= 10000000);
  /* held requests: the load spreads inversely to latency */
  static gsp_balance_ticket t[300];
  unsigned act[3] = {0};
  for (int k = 0; k < 300; k++) act[pick1(b, NULL, 0, &t[k])]++;
  print_message("least latency held: %u %u %u\n", act[0], act[1], act[2]);
  assert_true(act[0] > act[1] && act[1] > act[2]);
  /* latency 0: measured from the pick by the balancer's clock */
  g_now += 5000000;
  assert_int_equal(gsp_balance_release(b, &t[0], GSP_BALANCE_SUCCESS, 0), GSP_OK);
  assert_int_equal(gsp_balance_stats_get(b, gsp_balance_ticket_backend(&t[0]), &st), GSP_OK);
  assert_true(st.latency_sum_ns >= 5000000);
  gsp_balance_destroy(b);
}

/* ---- health ----------------------------------------------------------------- */

static void fail_n(gsp_balancer *b, uint32_t id, unsigned n) {
  for (unsigned f = 0, k = 0; f < n; k++) {
    gsp_balance_ticket t;
    char key[16];
    int len = snprintf(key, sizeof key, "f%u", k);
    unsigned i = pick1(b, key, (size_t)len, &t);
    gsp_balance_outcome o = i == id ? GSP_BALANCE_FAILURE : GSP_BALANCE_SUCCESS;
    f += i == id;
    assert_int_equal(gsp_balance_release(b, &t, o, 10), GSP_OK);
  }
}

static gsp_balance_state state_of(gsp_balancer *b, uint32_t id) {
  gsp_balance_stats st;
  assert_int_equal(gsp_balance_stats_get(b, id, &st), GSP_OK);
  return st.state;
}

static void check_health(gsp_balance_strategy s) {
  uint32_t w[3] = {1, 2, 1}, ids[3];
  gsp_balancer *b = make(s, w, 3, ids);
  fail_n(b, 1, 2);
  assert_int_equal(state_of(b, 1), GSP_BALANCE_UP);
  fail_n(b, 1, 1); /* third in a row: DOWN */
  assert_int_equal(state_of(b, 1), GSP_BALANCE_DOWN);
  for (int k = 0; k < 3000; k++) {
    gsp_balance_ticket t;
    char key[16];
    int len = snprintf(key, sizeof key, "k%d", k);
    assert_int_not_equal(pick1(b, key, (size_t)len, &t), 1);
    gsp_balance_release(b, &t, GSP_BALANCE_SUCCESS, 10);
  }
  /* retry time: one trial goes to it, the other picks do not */
  g_now += 5000000000ull;
  gsp_balance_ticket trial, other;
  assert_int_equal(pick1(b, "x", 1, &trial), 1);
  assert_int_equal(state_of(b, 1), GSP_BALANCE_HALF_OPEN);
  for (int k = 0; k < 100; k++) {
    assert_int_not_equal(pick1(b, "y", 1, &other), 1);
    gsp_balance_release(b, &other, GSP_BALANCE_SUCCESS, 10);
  }
  /* an abandoned trial is handed out again; a failed one: DOWN again */
  gsp_balance_release(b, &trial, GSP_BALANCE_ABANDONED, 0);
  assert_int_equal(pick1(b, "x", 1, &trial), 1);
  gsp_balance_release(b, &trial, GSP_BALANCE_FAILURE, 10);
  assert_int_equal(state_of(b, 1), GSP_BALANCE_DOWN);
  assert_int_not_equal(pick1(b, "x", 1, &other), 1);
  gsp_balance_release(b, &other, GSP_BALANCE_SUCCESS, 10);
  /* next trial succeeds: UP and picked again */
  g_now += 5000000000ull;
  assert_int_equal(pick1(b, "x", 1, &trial), 1);
  gsp_balance_release(b, &trial, GSP_BALANCE_SUCCESS, 10);
  assert_int_equal(state_of(b, 1), GSP_BALANCE_UP);
  unsigned seen = 0;
  for (int k = 0; k < 400; k++) {
    char key[16];
    int len = snprintf(key, sizeof key, "k%d", k);
    gsp_balance_ticket t;
    seen += pick1(b, key, (size_t)len, &t) == 1;
    gsp_balance_release(b, &t, GSP_BALANCE_SUCCESS, 10);
  }
  assert_true(seen > 0);
  gsp_balance_stats st;
  gsp_balance_stats_get(b, 1, &st);
  assert_int_equal(st.downs, 1);
  assert_int_equal(st.picks, st.successes + st.failures + st.abandoned + st.active);
  assert_int_equal(st.failures, 4);
  assert_int_equal(st.abandoned, 1);
  gsp_balance_destroy(b);
}

static void test_health_every_strategy(void **state) {
  (void)state;
  for (int s = GSP_BALANCE_ROUND_ROBIN; s <= GSP_BALANCE_LEAST_LATENCY; s++) check_health(s);
}

static void test_success_resets_failures(void **state) {
  (void)state;
  uint32_t w[2] = {1, 1}, ids[2];
  gsp_balancer *b = make(GSP_BALANCE_ROUND_ROBIN, w, 2, ids);
  for (int r = 0; r < 10; r++) {
    gsp_balance_ticket t;
    for (int k = 0; k < 4; k++) {
      unsigned i = pick1(b, NULL, 0, &t);
      gsp_balance_release(b, &t, i == 0 && k < 2 ? GSP_BALANCE_FAILURE : GSP_BALANCE_SUCCESS, 1);
    }
  }
  assert_int_equal(state_of(b, 0), GSP_BALANCE_UP);
  gsp_balance_destroy(b);
}

typedef struct probe_ctl {
  atomic_int calls;
  atomic_bool healthy;
  uint32_t last_id;
  char last_name[64];
} probe_ctl;

static bool probe(void *user, uint32_t id, const char *name) {
  probe_ctl *p = user;
  atomic_fetch_add(&p->calls, 1);
  p->last_id = id;
  snprintf(p->last_name, sizeof p->last_name, "%s", name);
  return atomic_load(&p->healthy);
}

static void test_probe(void **state) {
  (void)state;
  probe_ctl pc = {0};
  gsp_balancer *b;
  gsp_balance_config cfg = {.strategy = GSP_BALANCE_RANDOM,
                            .fail_threshold = 2,
                            .retry_ms = 1000,
                            .probe = probe,
                            .probe_user = &pc,
                            .clock = {fake_now, NULL}};
  assert_int_equal(gsp_balance_create(&cfg, &b), GSP_OK);
  uint32_t a, c;
  assert_int_equal(gsp_balance_add(b, "alpha", 1, &a), GSP_OK);
  assert_int_equal(gsp_balance_add(b, "beta", 1, &c), GSP_OK);
  fail_n(b, c, 2);
  assert_int_equal(state_of(b, c), GSP_BALANCE_DOWN);
  assert_int_equal(gsp_balance_health_check(b), 0);
  assert_int_equal(atomic_load(&pc.calls), 0); /* not yet due */
  g_now += 1000000000ull;
  for (int k = 0; k < 100; k++) assert_int_equal(pick_release(b), a); /* no half-open */
  assert_int_equal(gsp_balance_health_check(b), 0);
  assert_int_equal(atomic_load(&pc.calls), 1);
  assert_int_equal(pc.last_id, c);
  assert_string_equal(pc.last_name, "beta");
  assert_int_equal(gsp_balance_health_check(b), 0); /* probed again only after retry_ms */
  assert_int_equal(atomic_load(&pc.calls), 1);
  g_now += 1000000000ull;
  atomic_store(&pc.healthy, true);
  assert_int_equal(gsp_balance_health_check(b), 1);
  assert_int_equal(state_of(b, c), GSP_BALANCE_UP);
  gsp_balance_destroy(b);
}

static void test_probe_thread(void **state) {
  (void)state;
  probe_ctl pc = {0};
  atomic_store(&pc.healthy, true);
  gsp_balancer *b;
  gsp_balance_config cfg = {.strategy = GSP_BALANCE_ROUND_ROBIN,
                            .fail_threshold = 1,
                            .retry_ms = 1,
                            .probe = probe,
                            .probe_user = &pc,
                            .probe_interval_ms = 5};
  assert_int_equal(gsp_balance_create(&cfg, &b), GSP_OK);
  uint32_t a;
  assert_int_equal(gsp_balance_add(b, "only", 1, &a), GSP_OK);
  gsp_balance_ticket t;
  assert_int_equal(gsp_balance_pick(b, NULL, 0, &t), GSP_OK);
  gsp_balance_release(b, &t, GSP_BALANCE_FAILURE, 1);
  /* the thread brings it back; poll (generously bounded) until it has */
  for (int i = 0; i < 20000 && state_of(b, a) != GSP_BALANCE_UP; i++) usleep(1000);
  assert_int_equal(state_of(b, a), GSP_BALANCE_UP);
  assert_true(atomic_load(&pc.calls) >= 1);
  gsp_balance_destroy(b);
}

/* ---- the backend set ----------------------------------------------------- */

static void test_set_changes(void **state) {
  (void)state;
  uint32_t w[3] = {1, 1, 1}, ids[3];
  gsp_balancer *b = make(GSP_BALANCE_WEIGHTED_ROUND_ROBIN, w, 3, ids);
  assert_int_equal(gsp_balance_count(b), 3);
  uint32_t id;
  assert_int_equal(gsp_balance_find(b, "backend-2", &id), GSP_OK);
  assert_int_equal(id, ids[2]);
  assert_int_equal(gsp_balance_find(b, "nope", &id), GSP_ENOENT);
  assert_int_equal(gsp_balance_add(b, "backend-1", 1, NULL), GSP_EEXIST);
  assert_non_null(strstr(gsp_balance_errmsg(b), "backend-1"));
  /* disabled and weight 0: never picked */
  assert_int_equal(gsp_balance_set_enabled(b, ids[0], false), GSP_OK);
  assert_int_equal(gsp_balance_set_weight(b, ids[1], 0), GSP_OK);
  for (int k = 0; k < 50; k++) assert_int_equal(pick_release(b), ids[2]);
  assert_int_equal(gsp_balance_set_enabled(b, ids[0], true), GSP_OK);
  assert_int_equal(gsp_balance_set_weight(b, ids[1], 3), GSP_OK);
  unsigned cnt[3] = {0};
  for (int k = 0; k < 500; k++) cnt[pick_release(b)]++;
  assert_int_equal(cnt[0], 100);
  assert_int_equal(cnt[1], 300);
  assert_int_equal(cnt[2], 100);
  /* a ticket outlives its backend: release says so, a reused slot too */
  gsp_balance_ticket t;
  while (pick1(b, NULL, 0, &t) != ids[1]) gsp_balance_release(b, &t, GSP_BALANCE_SUCCESS, 1);
  assert_int_equal(gsp_balance_remove(b, ids[1]), GSP_OK);
  assert_int_equal(gsp_balance_remove(b, ids[1]), GSP_ENOENT);
  assert_int_equal(gsp_balance_add(b, "backend-9", 2, &id), GSP_OK);
  assert_true(id > ids[2]); /* never reused */
  assert_int_equal(gsp_balance_release(b, &t, GSP_BALANCE_SUCCESS, 1), GSP_ENOENT);
  assert_int_equal(gsp_balance_count(b), 3);
  gsp_balance_stats all[8];
  size_t n;
  gsp_balance_stats_all(b, all, 8, &n);
  assert_int_equal(n, 3);
  assert_int_equal(all[0].id, ids[0]);
  assert_int_equal(all[1].id, ids[2]);
  assert_int_equal(all[2].id, id);
  assert_int_equal(all[2].weight, 2);
  /* nothing live */
  gsp_balance_set_enabled(b, ids[0], false);
  gsp_balance_set_enabled(b, ids[2], false);
  gsp_balance_set_enabled(b, id, false);
  assert_int_equal(gsp_balance_pick(b, NULL, 0, &t), GSP_ENOENT);
  gsp_balance_destroy(b);
}

static void test_many_backends(void **state) {
  (void)state;
  /* growth past the initial capacity, every strategy, large weights */
  for (int s = GSP_BALANCE_ROUND_ROBIN; s <= GSP_BALANCE_LEAST_LATENCY; s++) {
    gsp_balancer *b;
    gsp_balance_config cfg = {.strategy = s, .table_size = 4093};
    assert_int_equal(gsp_balance_create(&cfg, &b), GSP_OK);
    for (uint32_t i = 0; i < 100; i++) {
      char name[16];
      snprintf(name, sizeof name, "n%u", i);
      assert_int_equal(gsp_balance_add(b, name, 60000 + i, NULL), GSP_OK);
    }
    unsigned seen[100] = {0};
    for (int k = 0; k < 20000; k++) {
      char key[16];
      int len = snprintf(key, sizeof key, "%d", k);
      gsp_balance_ticket t;
      assert_int_equal(gsp_balance_pick(b, key, (size_t)len, &t), GSP_OK);
      seen[gsp_balance_ticket_backend(&t)]++;
      gsp_balance_release(b, &t, GSP_BALANCE_SUCCESS, 1 + (uint64_t)k % 7);
    }
    for (int i = 0; i < 100; i++) assert_true(seen[i] > 0);
    gsp_balance_destroy(b);
  }
}

static void test_bad_arguments(void **state) {
  (void)state;
  gsp_balancer *b = NULL;
  assert_int_equal(gsp_balance_create(NULL, &b), GSP_EINVAL);
  assert_int_equal(gsp_balance_create(&(gsp_balance_config){.strategy = 99}, &b), GSP_EINVAL);
  assert_int_equal(gsp_balance_create(&(gsp_balance_config){.ewma_alpha = 1.5}, &b), GSP_EINVAL);
  assert_int_equal(gsp_balance_create(&(gsp_balance_config){.table_size = 65536}, &b), GSP_EINVAL);
  assert_null(b);
  assert_int_equal(gsp_balance_create(&(gsp_balance_config){0}, &b), GSP_OK);
  assert_int_equal(gsp_balance_add(b, "", 1, NULL), GSP_EINVAL);
  assert_int_equal(gsp_balance_add(b, "x", GSP_BALANCE_WEIGHT_MAX + 1, NULL), GSP_EINVAL);
  assert_non_null(strstr(gsp_balance_errmsg(b), "weight 65536"));
  char longname[GSP_BALANCE_NAME_MAX + 2];
  memset(longname, 'a', sizeof longname - 1);
  longname[sizeof longname - 1] = '\0';
  assert_int_equal(gsp_balance_add(b, longname, 1, NULL), GSP_EINVAL);
  longname[GSP_BALANCE_NAME_MAX] = '\0';
  assert_int_equal(gsp_balance_add(b, longname, 1, NULL), GSP_OK);
  gsp_balance_ticket t;
  assert_int_equal(gsp_balance_pick(b, NULL, 0, &t), GSP_OK);
  assert_int_equal(gsp_balance_release(b, &t, (gsp_balance_outcome)7, 0), GSP_EINVAL);
  assert_int_equal(gsp_balance_release(b, &t, GSP_BALANCE_SUCCESS, 0), GSP_OK);
  assert_int_equal(gsp_balance_set_weight(b, 12345, 1), GSP_ENOENT);
  assert_int_equal(gsp_balance_set_enabled(b, 12345, true), GSP_ENOENT);
  assert_int_equal(gsp_balance_stats_get(b, 12345, &(gsp_balance_stats){0}), GSP_ENOENT);
  assert_string_equal(gsp_balance_strategy_name(GSP_BALANCE_CONSISTENT_HASH), "consistent_hash");
  assert_null(gsp_balance_strategy_name((gsp_balance_strategy)42));
  gsp_balance_destroy(b);
  gsp_balance_destroy(NULL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_round_robin),
      cmocka_unit_test(test_weighted_round_robin),
      cmocka_unit_test(test_least_connections),
      cmocka_unit_test(test_random),
      cmocka_unit_test(test_power_of_two),
      cmocka_unit_test(test_consistent_hash),
      cmocka_unit_test(test_consistent_hash_weights),
      cmocka_unit_test(test_least_latency),
      cmocka_unit_test(test_health_every_strategy),
      cmocka_unit_test(test_success_resets_failures),
      cmocka_unit_test(test_probe),
      cmocka_unit_test(test_probe_thread),
      cmocka_unit_test(test_set_changes),
      cmocka_unit_test(test_many_backends),
      cmocka_unit_test(test_bad_arguments),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
