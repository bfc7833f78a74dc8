/*
 * test_balance_fault.c - fault injection: a balancer's whole life (create,
 * growth of the backend set, reweighting to longer schedules, health
 * transitions, removal), for every strategy, failing the Nth allocation
 * for every N until a run completes without reaching N. Each run must get
 * only success or a clean GSP_ENOMEM, must keep its word after a failure
 * (a failed add leaves no backend behind, a failed reweight keeps the old
 * weight, a DOWN backend is never picked), and must free every block.
 * Also with the metrics export on (series allocated at add) and bounded
 * loads.
 */
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

#include "../../support/fault_alloc.h"

#define NB 20

static uint64_t g_now = 1;
static uint64_t fake_now(void *u) {
  (void)u;
  return g_now;
}

static void add_all(gsp_balancer *b, uint32_t *ids) {
  for (uint32_t i = 0; i < NB; i++) {
    char name[16];
    snprintf(name, sizeof name, "b%u", i);
    uint32_t id = UINT32_MAX;
    int rv = gsp_balance_add(b, name, 1 + i % 5, &id);
    ok_or_nomem(rv);
    ids[i] = rv == GSP_OK ? id : UINT32_MAX;
    uint32_t found;
    assert_int_equal(gsp_balance_find(b, name, &found), rv == GSP_OK ? GSP_OK : GSP_ENOENT);
  }
}

/* Picks never name a DOWN or absent backend. */
static void pick_some(gsp_balancer *b, gsp_balance_outcome o, uint32_t fail_id) {
  for (int k = 0; k < 60; k++) {
    char key[16];
    int len = snprintf(key, sizeof key, "k%d", k);
    gsp_balance_ticket t;
    int rv = gsp_balance_pick(b, key, (size_t)len, &t);
    if (rv == GSP_ENOENT) continue;
    assert_int_equal(rv, GSP_OK);
    uint32_t id = gsp_balance_ticket_backend(&t);
    gsp_balance_stats st;
    assert_int_equal(gsp_balance_stats_get(b, id, &st), GSP_OK);
    assert_true(st.state != GSP_BALANCE_DOWN);
    gsp_balance_release(b, &t, id == fail_id ? o : GSP_BALANCE_SUCCESS, 100 + (uint64_t)k);
  }
}

static void reweight(gsp_balancer *b, const uint32_t *ids) {
  for (uint32_t i = 0; i < NB; i++) {
    if (ids[i] == UINT32_MAX) continue;
    gsp_balance_stats before, after;
    assert_int_equal(gsp_balance_stats_get(b, ids[i], &before), GSP_OK);
    int rv = gsp_balance_set_weight(b, ids[i], 1000 + i * 7919 % 3000);
    ok_or_nomem(rv);
    assert_int_equal(gsp_balance_stats_get(b, ids[i], &after), GSP_OK);
    if (rv != GSP_OK) assert_int_equal(after.weight, before.weight);
  }
}

static bool life(gsp_balance_strategy s, gsp_metrics *m) {
  gsp_balancer *b = NULL;
  gsp_balance_config cfg = {.strategy = s,
                            .fail_threshold = 2,
                            .table_size = 1021,
                            .clock = {fake_now, NULL},
                            .metrics = m,
                            .hash_load_eps = m != NULL ? 0.5 : 0};
  int rv = gsp_balance_create(&cfg, &b);
  ok_or_nomem(rv);
  if (rv != GSP_OK) return false;
  uint32_t ids[NB];
  add_all(b, ids);
  pick_some(b, GSP_BALANCE_FAILURE, ids[0]); /* backend 0 goes DOWN */
  reweight(b, ids);
  g_now += 6000000000ull; /* half-open trial, succeeds */
  pick_some(b, GSP_BALANCE_SUCCESS, ids[0]);
  for (uint32_t i = 0; i < NB; i += 3) {
    if (ids[i] != UINT32_MAX) assert_int_equal(gsp_balance_remove(b, ids[i]), GSP_OK);
  }
  if (ids[1] != UINT32_MAX) {
    ok_or_nomem(gsp_balance_set_enabled(b, ids[1], false));
    ok_or_nomem(gsp_balance_set_enabled(b, ids[1], true));
  }
  pick_some(b, GSP_BALANCE_SUCCESS, UINT32_MAX);
  if (m != NULL) assert_int_equal(gsp_balance_metrics_update(b), GSP_OK);
  gsp_balance_stats all[NB];
  size_t n;
  gsp_balance_stats_all(b, all, NB, &n);
  assert_int_equal(n, gsp_balance_count(b));
  gsp_balance_destroy(b);
  return true;
}

static gsp_balance_strategy g_strategy;
static bool life_of_strategy(void) { return life(g_strategy, NULL); }

/* The same with the metrics export (its series are allocated at add). */
static bool life_with_metrics(void) {
  gsp_metrics *m = NULL;
  int rv = gsp_metrics_create(NULL, &m);
  ok_or_nomem(rv);
  if (rv != GSP_OK) return false;
  bool done = life(g_strategy, m);
  gsp_metrics_destroy(m);
  return done;
}

static void run_life(void *fn) {
  bool (*life_fn)(void) = *(bool (**)(void))fn;
  (void)life_fn();
}

static void run_all_faults(bool (*fn)(void)) { (void)fault_each_allocation(run_life, &fn); }

static void test_faults_every_strategy(void **state) {
  (void)state;
  for (int s = GSP_BALANCE_ROUND_ROBIN; s <= GSP_BALANCE_LEAST_LATENCY; s++) {
    g_strategy = (gsp_balance_strategy)s;
    run_all_faults(life_of_strategy);
  }
}

static void test_faults_metrics(void **state) {
  (void)state;
  g_strategy = GSP_BALANCE_CONSISTENT_HASH; /* with bounded loads */
  run_all_faults(life_with_metrics);
  g_strategy = GSP_BALANCE_LEAST_CONNECTIONS;
  run_all_faults(life_with_metrics);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_faults_every_strategy),
      cmocka_unit_test(test_faults_metrics),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
