/*
 * test_balance_ext.c - bounded-load consistent hashing (the load bound,
 * Maglev's mapping when idle), the metrics export (series, values, growth
 * between updates, a removed backend's up gauge), and exact ticket counts
 * when tickets are picked on one thread and released on another (the
 * per-thread shards sum to the truth), including removal with tickets out.
 */
#include <math.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "gsperf/balance.h"
#include "gsperf/metrics.h"

#define NT 4000

static gsp_balancer *make_hash(double eps, const uint32_t *w, unsigned n) {
  gsp_balancer *b = NULL;
  gsp_balance_config cfg = {
      .strategy = GSP_BALANCE_CONSISTENT_HASH, .hash_load_eps = eps, .table_size = 4099};
  assert_int_equal(gsp_balance_create(&cfg, &b), GSP_OK);
  for (unsigned i = 0; i < n; i++) {
    char name[32];
    snprintf(name, sizeof name, "node-%u", i);
    assert_int_equal(gsp_balance_add(b, name, w[i], NULL), GSP_OK);
  }
  return b;
}

/* Hold NT tickets of skewed keys (half of them one hot key); after every
 * pick each backend's count is within ceil((1+eps) * A * w_i / W). */
static void check_bound(double eps, const uint32_t *w, unsigned n) {
  gsp_balancer *b = make_hash(eps, w, n);
  gsp_balance_ticket *t = calloc(NT, sizeof *t);
  uint64_t cnt[16] = {0}, wsum = 0;
  for (unsigned i = 0; i < n; i++) wsum += w[i];
  for (unsigned k = 0; k < NT; k++) {
    char key[32];
    int len = snprintf(key, sizeof key, "key-%u", (k & 1) ? k : 7u);
    assert_int_equal(gsp_balance_pick(b, key, (size_t)len, &t[k]), GSP_OK);
    cnt[gsp_balance_ticket_backend(&t[k])]++;
    for (unsigned i = 0; i < n; i++) {
      double cap = ceil((1.0 + eps) * (double)(k + 1) * w[i] / (double)wsum);
      if ((double)cnt[i] > cap)
        fail_msg("eps %g: backend %u has %llu > %g after %u", eps, i, (unsigned long long)cnt[i],
                 cap, k + 1);
    }
  }
  /* the bound is tight enough to bite: the hot key alone would put half
   * the tickets on one backend */
  for (unsigned i = 0; i < n; i++) {
    gsp_balance_stats st;
    assert_int_equal(gsp_balance_stats_get(b, i, &st), GSP_OK);
    assert_int_equal(st.active, cnt[i]);
  }
  for (unsigned k = 0; k < NT; k++)
    assert_int_equal(gsp_balance_release(b, &t[k], GSP_BALANCE_SUCCESS, 1), GSP_OK);
  free(t);
  gsp_balance_destroy(b);
}

static void test_bounded_load(void **state) {
  (void)state;
  const uint32_t eq[8] = {1, 1, 1, 1, 1, 1, 1, 1};
  const uint32_t mixed[6] = {1, 2, 3, 4, 1, 5};
  check_bound(0.25, eq, 8);
  check_bound(1.0, eq, 8);
  check_bound(0.25, mixed, 6);
  check_bound(0.1, mixed, 6);
}

/* Idle (each ticket released at once), bounded hashing maps keys exactly
 * as plain Maglev does. */
static void test_bounded_idle_is_maglev(void **state) {
  (void)state;
  const uint32_t w[5] = {1, 2, 1, 3, 1};
  gsp_balancer *plain = make_hash(0, w, 5), *bounded = make_hash(0.5, w, 5);
  for (unsigned k = 0; k < 5000; k++) {
    char key[32];
    int len = snprintf(key, sizeof key, "user:%u", k * 2654435761u);
    gsp_balance_ticket a, c;
    assert_int_equal(gsp_balance_pick(plain, key, (size_t)len, &a), GSP_OK);
    assert_int_equal(gsp_balance_pick(bounded, key, (size_t)len, &c), GSP_OK);
    assert_int_equal(gsp_balance_ticket_backend(&a), gsp_balance_ticket_backend(&c));
    gsp_balance_release(plain, &a, GSP_BALANCE_SUCCESS, 1);
    gsp_balance_release(bounded, &c, GSP_BALANCE_SUCCESS, 1);
  }
  gsp_balance_destroy(plain);
  gsp_balance_destroy(bounded);
  gsp_balancer *b = NULL;
  gsp_balance_config bad = {.strategy = GSP_BALANCE_CONSISTENT_HASH, .hash_load_eps = -0.5};
  assert_int_equal(gsp_balance_create(&bad, &b), GSP_EINVAL);
  bad.hash_load_eps = NAN;
  assert_int_equal(gsp_balance_create(&bad, &b), GSP_EINVAL);
}

/* ---- metrics ----------------------------------------------------------------- */

typedef struct sink {
  char buf[16384];
  size_t len;
} sink;

static int sink_write(void *user, const char *p, size_t n) {
  sink *s = user;
  if (s->len + n >= sizeof s->buf) return GSP_ENOSPC;
  memcpy(s->buf + s->len, p, n);
  s->len += n;
  s->buf[s->len] = '\0';
  return GSP_OK;
}

static void expect_line(gsp_metrics *m, const char *line) {
  sink s = {.len = 0};
  assert_int_equal(gsp_metrics_write(m, GSP_METRICS_PROMETHEUS, sink_write, &s), GSP_OK);
  if (strstr(s.buf, line) == NULL) fail_msg("missing \"%s\" in:\n%s", line, s.buf);
}

static void test_metrics(void **state) {
  (void)state;
  gsp_metrics *m = NULL;
  assert_int_equal(gsp_metrics_create(NULL, &m), GSP_OK);
  gsp_balancer *b = NULL;
  gsp_balance_config cfg = {.strategy = GSP_BALANCE_ROUND_ROBIN,
                            .metrics = m,
                            .metrics_name = "api",
                            .fail_threshold = 2};
  assert_int_equal(gsp_balance_create(&cfg, &b), GSP_OK);
  uint32_t a, c;
  assert_int_equal(gsp_balance_add(b, "a", 1, &a), GSP_OK);
  assert_int_equal(gsp_balance_add(b, "c", 1, &c), GSP_OK);
  gsp_balance_ticket t;
  for (int i = 0; i < 6; i++) { /* a, c, a, c, a(held), c */
    assert_int_equal(gsp_balance_pick(b, NULL, 0, &t), GSP_OK);
    if (i == 4) break;
    gsp_balance_release(b, &t, GSP_BALANCE_SUCCESS, 2000000);
  }
  assert_int_equal(gsp_balance_metrics_update(b), GSP_OK);
  expect_line(m, "gsperf_balance_picks_total{balancer=\"api\",backend=\"a\"} 3");
  expect_line(m, "gsperf_balance_picks_total{balancer=\"api\",backend=\"c\"} 2");
  expect_line(m, "gsperf_balance_up{balancer=\"api\",backend=\"c\"} 1");
  expect_line(m, "gsperf_balance_latency_ewma_seconds{balancer=\"api\",backend=\"c\"} 0.002");
  gsp_balance_release(b, &t, GSP_BALANCE_SUCCESS, 2000000);
  /* two failures put c DOWN */
  for (int i = 0; i < 4; i++) {
    assert_int_equal(gsp_balance_pick(b, NULL, 0, &t), GSP_OK);
    gsp_balance_release(
        b, &t, gsp_balance_ticket_backend(&t) == c ? GSP_BALANCE_FAILURE : GSP_BALANCE_SUCCESS,
        2000000);
  }
  assert_int_equal(gsp_balance_metrics_update(b), GSP_OK);
  assert_int_equal(gsp_balance_metrics_update(b), GSP_OK); /* no double counting */
  expect_line(m, "gsperf_balance_picks_total{balancer=\"api\",backend=\"c\"} 4");
  expect_line(m, "gsperf_balance_failures_total{balancer=\"api\",backend=\"c\"} 2");
  expect_line(m, "gsperf_balance_up{balancer=\"api\",backend=\"c\"} 0");
  expect_line(m, "gsperf_balance_up{balancer=\"api\",backend=\"a\"} 1");
  assert_int_equal(gsp_balance_remove(b, a), GSP_OK);
  expect_line(m, "gsperf_balance_up{balancer=\"api\",backend=\"a\"} 0");
  gsp_balance_destroy(b);
  /* a second balancer with its own label shares the families */
  cfg.metrics_name = NULL;
  assert_int_equal(gsp_balance_create(&cfg, &b), GSP_OK);
  assert_int_equal(gsp_balance_add(b, "a", 1, &a), GSP_OK);
  assert_int_equal(gsp_balance_metrics_update(b), GSP_OK);
  expect_line(m, "gsperf_balance_up{balancer=\"default\",backend=\"a\"} 1");
  gsp_balance_destroy(b);
  gsp_balancer *plain = NULL;
  gsp_balance_config pc = {.strategy = GSP_BALANCE_RANDOM};
  assert_int_equal(gsp_balance_create(&pc, &plain), GSP_OK);
  assert_int_equal(gsp_balance_metrics_update(plain), GSP_EINVAL);
  gsp_balance_destroy(plain);
  gsp_metrics_destroy(m);
}

/* ---- counts across threads -------------------------------------------------- */

typedef struct reljob {
  gsp_balancer *b;
  gsp_balance_ticket *t;
  unsigned from, to;
  int expect;
} reljob;

static void *releaser(void *arg) {
  reljob *j = arg;
  for (unsigned i = j->from; i < j->to; i++)
    assert_int_equal(gsp_balance_release(j->b, &j->t[i], GSP_BALANCE_SUCCESS, 10), j->expect);
  return NULL;
}

static void release_on_threads(gsp_balancer *b, gsp_balance_ticket *t, unsigned from, unsigned to,
                               int expect) {
  pthread_t th[2];
  unsigned mid = from + (to - from) / 2;
  reljob j[2] = {{b, t, from, mid, expect}, {b, t, mid, to, expect}};
  for (int i = 0; i < 2; i++) assert_int_equal(pthread_create(&th[i], NULL, releaser, &j[i]), 0);
  for (int i = 0; i < 2; i++) pthread_join(th[i], NULL);
}

static void test_cross_thread_counts(void **state) {
  (void)state;
  gsp_balancer *b = NULL;
  gsp_balance_config cfg = {.strategy = GSP_BALANCE_LEAST_CONNECTIONS};
  assert_int_equal(gsp_balance_create(&cfg, &b), GSP_OK);
  uint32_t id[4];
  for (unsigned i = 0; i < 4; i++) {
    char name[16];
    snprintf(name, sizeof name, "s%u", i);
    assert_int_equal(gsp_balance_add(b, name, 1, &id[i]), GSP_OK);
  }
  enum { N = 400 };
  gsp_balance_ticket t[N];
  for (unsigned i = 0; i < N; i++) assert_int_equal(gsp_balance_pick(b, NULL, 0, &t[i]), GSP_OK);
  release_on_threads(b, t, 0, N / 2, GSP_OK); /* counts go negative in their shards */
  uint64_t held = 0, picks = 0;
  for (unsigned i = 0; i < 4; i++) {
    gsp_balance_stats st;
    assert_int_equal(gsp_balance_stats_get(b, id[i], &st), GSP_OK);
    held += st.active;
    picks += st.picks;
  }
  assert_int_equal(held, N / 2);
  assert_int_equal(picks, N);
  /* least connections still balances on the summed counts */
  gsp_balance_ticket more[8];
  for (unsigned i = 0; i < 8; i++) assert_int_equal(gsp_balance_pick(b, NULL, 0, &more[i]), GSP_OK);
  uint32_t lo = UINT32_MAX, hi = 0;
  for (unsigned i = 0; i < 4; i++) {
    gsp_balance_stats st;
    assert_int_equal(gsp_balance_stats_get(b, id[i], &st), GSP_OK);
    lo = st.active < lo ? st.active : lo;
    hi = st.active > hi ? st.active : hi;
  }
  assert_true(hi - lo <= 1);
  for (unsigned i = 0; i < 8; i++) gsp_balance_release(b, &more[i], GSP_BALANCE_SUCCESS, 10);
  /* remove backends with tickets out, release those on other threads:
   * ENOENT, and (under ASan) the removed records are freed exactly once */
  for (unsigned i = 0; i < 4; i++) assert_int_equal(gsp_balance_remove(b, id[i]), GSP_OK);
  release_on_threads(b, t, N / 2, N, GSP_ENOENT);
  uint32_t nid;
  assert_int_equal(gsp_balance_add(b, "s0", 1, &nid), GSP_OK); /* name free, slot reused */
  gsp_balance_stats st;
  assert_int_equal(gsp_balance_stats_get(b, nid, &st), GSP_OK);
  assert_int_equal(st.active, 0);
  assert_int_equal(st.picks, 0);
  gsp_balance_destroy(b);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_bounded_load),
      cmocka_unit_test(test_bounded_idle_is_maglev),
      cmocka_unit_test(test_metrics),
      cmocka_unit_test(test_cross_thread_counts),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
