/*
 * test_balance_concurrent.c - picks from several threads while the set
 * changes, for every strategy:
 *
 *   - no pick returns a backend whose disabling had returned before the
 *     pick started and whose re-enabling had not yet started (each backend
 *     has a sequence number the admin thread makes odd after a disable
 *     returns and even before an enable starts; a picker reads it before
 *     and after its pick);
 *   - no pick returns a backend that failures marked DOWN (it fails every
 *     request, and with an hour's retry time it never comes back);
 *   - round robin stays exact: after all picks, counts differ by <= 1;
 *   - counters add up once every thread is done (active 0, picks =
 *     successes + failures + abandoned), through churn of health states
 *     with a short retry time.
 * Run under TSan by CI (label concurrency).
 */
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "gsperf/balance.h"

/* cmocka's asserts may not be used off the main thread: this one aborts. */
#define CHECK_EQ(a, b)                                                                      \
  do {                                                                                      \
    long long a_ = (long long)(a), b_ = (long long)(b);                                     \
    if (a_ != b_) {                                                                         \
      fprintf(stderr, "%s:%d: %s = %lld, expected %lld\n", __FILE__, __LINE__, #a, a_, b_); \
      abort();                                                                              \
    }                                                                                       \
  } while (0)

#define NB 8
#define BAD 7 /* always fails */
#define PICKERS 3
#define PICKS 20000

typedef struct world {
  gsp_balancer *b;
  uint32_t ids[NB];
  atomic_uint seq[NB];
  atomic_bool stop;
  atomic_long violations;
  atomic_long picks;
} world;

static void check_pick(world *w, unsigned k) {
  char key[16];
  int len = snprintf(key, sizeof key, "%u", k);
  unsigned before[NB];
  for (int i = 0; i < NB; i++) before[i] = atomic_load(&w->seq[i]);
  gsp_balance_stats bad;
  CHECK_EQ(gsp_balance_stats_get(w->b, w->ids[BAD], &bad), GSP_OK);
  gsp_balance_ticket t;
  int rv = gsp_balance_pick(w->b, key, (size_t)len, &t);
  if (rv == GSP_ENOENT) return;
  CHECK_EQ(rv, GSP_OK);
  uint32_t id = gsp_balance_ticket_backend(&t);
  if (id < NB) {
    unsigned after = atomic_load(&w->seq[id]);
    if (before[id] % 2 == 1 && after == before[id]) atomic_fetch_add(&w->violations, 1);
    if (id == w->ids[BAD] && bad.state == GSP_BALANCE_DOWN) atomic_fetch_add(&w->violations, 1);
  }
  gsp_balance_outcome o = id == w->ids[BAD] ? GSP_BALANCE_FAILURE : GSP_BALANCE_SUCCESS;
  if (k % 97 == 0) o = GSP_BALANCE_ABANDONED;
  rv = gsp_balance_release(w->b, &t, o, 1000 + k % 100);
  if (!(id >= NB && rv == GSP_ENOENT)) CHECK_EQ(rv, GSP_OK); /* a temp. backend may be gone */
  atomic_fetch_add(&w->picks, 1);
}

static void *picker(void *arg) {
  world *w = arg;
  for (unsigned k = 0; k < PICKS; k++) check_pick(w, k);
  return NULL;
}

static void *admin(void *arg) {
  world *w = arg;
  unsigned r = 12345, extra = 0;
  while (!atomic_load(&w->stop)) {
    r = r * 1103515245u + 12345u;
    unsigned i = (r >> 16) % (NB - 1); /* not BAD */
    CHECK_EQ(gsp_balance_set_enabled(w->b, w->ids[i], false), GSP_OK);
    atomic_fetch_add(&w->seq[i], 1); /* odd: disabled, confirmed */
    sched_yield();
    CHECK_EQ(gsp_balance_set_weight(w->b, w->ids[(i + 1) % (NB - 1)], 1 + (r >> 8) % 9), GSP_OK);
    char name[32];
    uint32_t tmp;
    snprintf(name, sizeof name, "temp-%u", extra++);
    CHECK_EQ(gsp_balance_add(w->b, name, 2, &tmp), GSP_OK);
    sched_yield();
    CHECK_EQ(gsp_balance_remove(w->b, tmp), GSP_OK);
    atomic_fetch_add(&w->seq[i], 1); /* even: about to enable */
    CHECK_EQ(gsp_balance_set_enabled(w->b, w->ids[i], true), GSP_OK);
  }
  return NULL;
}

static void check_counters(gsp_balancer *b) {
  gsp_balance_stats all[64];
  size_t n;
  gsp_balance_stats_all(b, all, 64, &n);
  for (size_t i = 0; i < n && i < 64; i++) {
    assert_int_equal(all[i].active, 0);
    assert_int_equal(all[i].picks, all[i].successes + all[i].failures + all[i].abandoned);
  }
}

static void run_strategy(gsp_balance_strategy s) {
  world w;
  memset(&w, 0, sizeof w);
  gsp_balance_config cfg = {.strategy = s, .retry_ms = 3600000, .table_size = 4093};
  assert_int_equal(gsp_balance_create(&cfg, &w.b), GSP_OK);
  for (int i = 0; i < NB; i++) {
    char name[16];
    snprintf(name, sizeof name, "node-%d", i);
    assert_int_equal(gsp_balance_add(w.b, name, 1 + (uint32_t)i % 3, &w.ids[i]), GSP_OK);
    assert_int_equal(w.ids[i], i);
  }
  pthread_t th[PICKERS], ad;
  assert_int_equal(pthread_create(&ad, NULL, admin, &w), 0);
  for (int i = 0; i < PICKERS; i++) assert_int_equal(pthread_create(&th[i], NULL, picker, &w), 0);
  for (int i = 0; i < PICKERS; i++) pthread_join(th[i], NULL);
  atomic_store(&w.stop, true);
  pthread_join(ad, NULL);
  if (atomic_load(&w.violations) != 0)
    fail_msg("%s: %ld picks of a disabled or DOWN backend", gsp_balance_strategy_name(s),
             atomic_load(&w.violations));
  gsp_balance_stats bad;
  assert_int_equal(gsp_balance_stats_get(w.b, w.ids[BAD], &bad), GSP_OK);
  if (bad.state != GSP_BALANCE_DOWN)
    fail_msg("%s: the failing backend is not DOWN", gsp_balance_strategy_name(s));
  check_counters(w.b);
  gsp_balance_destroy(w.b);
}

static void test_no_pick_of_down_backend(void **state) {
  (void)state;
  for (int s = GSP_BALANCE_ROUND_ROBIN; s <= GSP_BALANCE_LEAST_LATENCY; s++) run_strategy(s);
}

/* ---- round robin exact under concurrency --------------------------------- */

typedef struct rr_arg {
  gsp_balancer *b;
  unsigned cnt[5];
} rr_arg;

static void *rr_picker(void *arg) {
  rr_arg *a = arg;
  for (int k = 0; k < PICKS; k++) {
    gsp_balance_ticket t;
    CHECK_EQ(gsp_balance_pick(a->b, NULL, 0, &t), GSP_OK);
    a->cnt[gsp_balance_ticket_backend(&t)]++;
    CHECK_EQ(gsp_balance_release(a->b, &t, GSP_BALANCE_SUCCESS, 0), GSP_OK);
  }
  return NULL;
}

static void test_round_robin_exact(void **state) {
  (void)state;
  gsp_balancer *b;
  assert_int_equal(gsp_balance_create(&(gsp_balance_config){0}, &b), GSP_OK);
  for (int i = 0; i < 5; i++) {
    char name[8];
    snprintf(name, sizeof name, "r%d", i);
    assert_int_equal(gsp_balance_add(b, name, 1, NULL), GSP_OK);
  }
  rr_arg a[PICKERS];
  pthread_t th[PICKERS];
  memset(a, 0, sizeof a);
  for (int i = 0; i < PICKERS; i++) {
    a[i].b = b;
    assert_int_equal(pthread_create(&th[i], NULL, rr_picker, &a[i]), 0);
  }
  unsigned tot[5] = {0};
  for (int i = 0; i < PICKERS; i++) {
    pthread_join(th[i], NULL);
    for (int j = 0; j < 5; j++) tot[j] += a[i].cnt[j];
  }
  unsigned mn = tot[0], mx = tot[0];
  for (int j = 1; j < 5; j++) mn = tot[j] < mn ? tot[j] : mn, mx = tot[j] > mx ? tot[j] : mx;
  assert_true(mx - mn <= 1);
  gsp_balance_destroy(b);
}

/* ---- health churn ----------------------------------------------------------- */

static bool flaky_probe(void *user, uint32_t id, const char *name) {
  (void)user;
  (void)name;
  return id % 2 == 0;
}

static void *churn_picker(void *arg) {
  gsp_balancer *b = arg;
  unsigned r = (unsigned)(uintptr_t)&r;
  for (int k = 0; k < PICKS; k++) {
    gsp_balance_ticket t;
    int rv = gsp_balance_pick(b, "key", 3, &t);
    if (rv == GSP_ENOENT) continue;
    CHECK_EQ(rv, GSP_OK);
    r = r * 1103515245u + 12345u;
    gsp_balance_outcome o = (r >> 16) % 4 == 0 ? GSP_BALANCE_FAILURE : GSP_BALANCE_SUCCESS;
    CHECK_EQ(gsp_balance_release(b, &t, o, 0), GSP_OK);
    if (k % 500 == 0) (void)gsp_balance_health_check(b);
  }
  return NULL;
}

static void churn(gsp_balance_strategy s, gsp_balance_probe_fn probe) {
  gsp_balancer *b;
  gsp_balance_config cfg = {.strategy = s,
                            .fail_threshold = 2,
                            .retry_ms = 1,
                            .probe = probe,
                            .probe_interval_ms = probe != NULL ? 1 : 0,
                            .table_size = 1021};
  assert_int_equal(gsp_balance_create(&cfg, &b), GSP_OK);
  for (int i = 0; i < 6; i++) {
    char name[8];
    snprintf(name, sizeof name, "c%d", i);
    assert_int_equal(gsp_balance_add(b, name, 1 + (uint32_t)i, NULL), GSP_OK);
  }
  pthread_t th[PICKERS];
  for (int i = 0; i < PICKERS; i++)
    assert_int_equal(pthread_create(&th[i], NULL, churn_picker, b), 0);
  for (int i = 0; i < PICKERS; i++) pthread_join(th[i], NULL);
  check_counters(b);
  gsp_balance_destroy(b);
}

static void test_health_churn(void **state) {
  (void)state;
  for (int s = GSP_BALANCE_ROUND_ROBIN; s <= GSP_BALANCE_LEAST_LATENCY; s++) {
    churn(s, NULL);
    churn(s, flaky_probe);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_no_pick_of_down_backend),
      cmocka_unit_test(test_round_robin_exact),
      cmocka_unit_test(test_health_churn),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
