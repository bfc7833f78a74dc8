/*
 * test_monitor_sources.c - collection sources: a host callback runs at
 * each collection and its error is reported; add/remove and duplicate
 * names; the ready cache, cache-manager and pool sources put real
 * statistics into the registry under the shared names
 * (gsperf_cache_*_total{cache=...}, gsperf_cache_entries, ..., gsp_pool_*),
 * counters only move forward (also across a statistics reset), and the
 * cache hit ratio becomes a monitor series an alert rule can watch.
 * Collections are driven by hand on a fake clock, except in the last test,
 * which runs the collector thread while sources come and go (TSan).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "gsperf/monitor.h"

#define SEC 1000000000ull

static uint64_t g_now = 100 * SEC;
static uint64_t fake_now(void *u) {
  (void)u;
  return g_now;
}

typedef struct env {
  gsp_metrics *m;
  gsp_monitor *mon;
} env;

static env env_new(bool with_registry) {
  env e = {0};
  if (with_registry) assert_int_equal(gsp_metrics_create(NULL, &e.m), GSP_OK);
  gsp_monitor_config cfg = {.metrics = e.m, .clock = {fake_now, NULL}};
  assert_int_equal(gsp_monitor_create(&cfg, &e.mon), GSP_OK);
  return e;
}

static void env_free(env *e) {
  gsp_monitor_destroy(e->mon);
  gsp_metrics_destroy(e->m);
}

/* Collect at the next second; errors of the host system files do not matter. */
static int collect(env *e) {
  g_now += SEC;
  return gsp_monitor_collect_now(e->mon, NULL);
}

/* The value of one sample line "name{labels} V" in the Prometheus text, or -1. */
static double metric(env *e, const char *series) {
  char *text = NULL;
  assert_int_equal(gsp_metrics_render(e->m, GSP_METRICS_PROMETHEUS, &text, NULL), GSP_OK);
  char needle[256];
  snprintf(needle, sizeof needle, "\n%s ", series);
  const char *p = strstr(text, needle);
  double v = p ? strtod(p + strlen(needle), NULL) : -1.0;
  gsp_free(text);
  return v;
}

/* ---- host sources ----------------------------------------------------------- */

typedef struct counting {
  const char *series;
  int calls;
  int rc;
  uint64_t last_now;
} counting;

static int counting_fn(void *user, gsp_monitor *mon, gsp_metrics *m, uint64_t now) {
  counting *c = user;
  c->calls++;
  c->last_now = now;
  assert_non_null(m);
  assert_int_equal(gsp_monitor_record(mon, c->series, NULL, c->calls, now), GSP_OK);
  return c->rc;
}

static void test_host_source(void **st) {
  (void)st;
  env e = env_new(true);
  counting a = {.series = "host_queue_depth"}, b = {.series = "host_other", .rc = GSP_EIO};
  assert_int_equal(gsp_monitor_add_source(e.mon, "a", counting_fn, &a), GSP_OK);
  assert_int_equal(gsp_monitor_add_source(e.mon, "a", counting_fn, &b), GSP_EEXIST);
  assert_int_equal(gsp_monitor_add_source(e.mon, "", counting_fn, &b), GSP_EINVAL);
  assert_int_equal(gsp_monitor_add_source(e.mon, "b", NULL, &b), GSP_EINVAL);
  (void)collect(&e);
  assert_int_equal(a.calls, 1);
  assert_int_equal(a.last_now, g_now);
  /* the rule sees what the source recorded in the same collection */
  gsp_alert_rule r = {
      .name = "deep", .metric = "host_queue_depth", .cmp = GSP_ALERT_GE, .threshold = 2};
  assert_int_equal(gsp_monitor_add_rule(e.mon, &r), GSP_OK);
  assert_int_equal(gsp_monitor_add_source(e.mon, "b", counting_fn, &b), GSP_OK);
  assert_int_equal(collect(&e), GSP_EIO); /* b's error, after everything ran */
  assert_int_equal(a.calls, 2);
  assert_int_equal(b.calls, 1);
  gsp_alert_state s;
  assert_int_equal(gsp_monitor_rule_state(e.mon, "deep", &s), GSP_OK);
  assert_int_equal(s, GSP_ALERT_FIRING);
  assert_int_equal(gsp_monitor_remove_source(e.mon, "b"), GSP_OK);
  assert_int_equal(gsp_monitor_remove_source(e.mon, "b"), GSP_ENOENT);
  (void)collect(&e);
  assert_int_equal(a.calls, 3);
  assert_int_equal(b.calls, 1);
  env_free(&e);
}

/* ---- caches ----------------------------------------------------------------- */

static gsp_cache *small_cache(size_t max_entries) {
  gsp_cache *c;
  gsp_cache_config cfg = {.strategy = GSP_CACHE_LRU, .max_entries = max_entries, .shards = 1};
  assert_int_equal(gsp_cache_create(&cfg, &c), GSP_OK);
  return c;
}

static void put_n(gsp_cache *c, int from, int to) {
  for (int i = from; i < to; i++) {
    char k[16];
    snprintf(k, sizeof k, "k%d", i);
    assert_int_equal(gsp_cache_put(c, k, strlen(k), "value", 5, NULL), GSP_OK);
  }
}

static void get_n(gsp_cache *c, int from, int to) {
  for (int i = from; i < to; i++) {
    char k[16];
    snprintf(k, sizeof k, "k%d", i);
    gsp_cache_ref *r = NULL;
    if (gsp_cache_get(c, k, strlen(k), &r) == GSP_OK) gsp_cache_ref_release(r);
  }
}

static void test_cache_source(void **st) {
  (void)st;
  env e = env_new(true);
  gsp_cache *c = small_cache(10);
  put_n(c, 0, 12); /* 2 evictions */
  get_n(c, 0, 12); /* k0, k1 miss; 10 hits */
  assert_int_equal(gsp_monitor_add_cache(e.mon, "parse", c), GSP_OK);
  assert_int_equal(gsp_monitor_add_cache(e.mon, "parse", c), GSP_EEXIST);
  (void)collect(&e);
  assert_true(metric(&e, "gsperf_cache_hits_total{cache=\"parse\"}") == 10);
  assert_true(metric(&e, "gsperf_cache_misses_total{cache=\"parse\"}") == 2);
  assert_true(metric(&e, "gsperf_cache_evictions_total{cache=\"parse\"}") == 2);
  assert_true(metric(&e, "gsperf_cache_entries{cache=\"parse\"}") == 10);
  assert_true(metric(&e, "gsperf_cache_bytes{cache=\"parse\"}") > 0);
  /* a reset of the cache's statistics never takes the counters back: a
   * statistic below its previous value restarts from zero */
  gsp_cache_stats_reset(c);
  get_n(c, 2, 5);     /* 3 hits */
  get_n(c, 100, 101); /* 1 miss */
  (void)collect(&e);
  assert_true(metric(&e, "gsperf_cache_hits_total{cache=\"parse\"}") == 13);
  assert_true(metric(&e, "gsperf_cache_misses_total{cache=\"parse\"}") == 3);
  /* hit ratio series: 10/12, then 3/4, none while idle */
  gsp_monitor_point *pts = NULL;
  size_t n = 0;
  (void)collect(&e);
  assert_int_equal(gsp_monitor_query(e.mon, "gsperf_cache_hit_ratio", "cache=\"parse\"", 0, g_now,
                                     &pts, &n, NULL),
                   GSP_OK);
  assert_int_equal(n, 2);
  assert_true(pts[0].mean > 0.83 && pts[0].mean < 0.84);
  assert_true(pts[1].mean == 0.75);
  gsp_free(pts);
  /* removed: counts stay where they were */
  assert_int_equal(gsp_monitor_remove_source(e.mon, "cache:parse"), GSP_OK);
  get_n(c, 2, 5);
  (void)collect(&e);
  assert_true(metric(&e, "gsperf_cache_hits_total{cache=\"parse\"}") == 13);
  gsp_cache_destroy(c);
  env_free(&e);
}

static void test_cache_manager_source(void **st) {
  (void)st;
  env e = env_new(true);
  gsp_cache_manager *mgr;
  assert_int_equal(gsp_cache_manager_create(&mgr), GSP_OK);
  gsp_cache *a, *b;
  gsp_cache_config cfg = {.strategy = GSP_CACHE_LFU, .max_entries = 100};
  assert_int_equal(gsp_cache_manager_create_cache(mgr, "imports", &cfg, &a), GSP_OK);
  assert_int_equal(gsp_cache_manager_create_cache(mgr, "types", &cfg, &b), GSP_OK);
  put_n(a, 0, 5);
  get_n(a, 0, 7);
  assert_int_equal(gsp_monitor_add_cache_manager(e.mon, "caches", mgr), GSP_OK);
  (void)collect(&e);
  assert_true(metric(&e, "gsperf_cache_hits_total{cache=\"imports\"}") == 5);
  assert_true(metric(&e, "gsperf_cache_misses_total{cache=\"imports\"}") == 2);
  assert_true(metric(&e, "gsperf_cache_entries{cache=\"types\"}") == 0);
  /* a cache created later is picked up; a removed one keeps its last values */
  gsp_cache *c3;
  assert_int_equal(gsp_cache_manager_create_cache(mgr, "files", &cfg, &c3), GSP_OK);
  put_n(c3, 0, 3);
  assert_int_equal(gsp_cache_manager_remove(mgr, "types"), GSP_OK);
  (void)collect(&e);
  assert_true(metric(&e, "gsperf_cache_entries{cache=\"files\"}") == 3);
  assert_true(metric(&e, "gsperf_cache_entries{cache=\"types\"}") == 0);
  assert_int_equal(gsp_monitor_remove_source(e.mon, "caches"), GSP_OK);
  gsp_cache_manager_destroy(mgr);
  env_free(&e);
}

/* ---- pools ------------------------------------------------------------------ */

static void test_pool_source(void **st) {
  (void)st;
  env e = env_new(true);
  gsp_pool *p;
  gsp_pool_config pc = {.obj_size = 64, .name = "nodes"};
  assert_int_equal(gsp_pool_create(&pc, &p), GSP_OK);
  void *o[3];
  for (int i = 0; i < 3; i++) assert_non_null(o[i] = gsp_pool_alloc(p));
  assert_int_equal(gsp_monitor_add_pool(e.mon, "nodes", p), GSP_OK);
  (void)collect(&e);
  assert_true(metric(&e, "gsp_pool_live_objects{pool=\"nodes\"}") == 3);
  assert_true(metric(&e, "gsp_pool_slab_bytes{pool=\"nodes\"}") > 0);
  assert_true(metric(&e, "gsp_pool_refills_total{pool=\"nodes\"}") >= 1);
  for (int i = 0; i < 3; i++) gsp_pool_free(p, o[i]);
  (void)collect(&e);
  assert_true(metric(&e, "gsp_pool_live_objects{pool=\"nodes\"}") == 0);
  assert_int_equal(gsp_monitor_remove_source(e.mon, "pool:nodes"), GSP_OK);
  gsp_pool_destroy(p);
  env_free(&e);
}

/* ---- with the collector thread running ------------------------------------- */

typedef struct hammer {
  gsp_cache *c;
  int rounds;
} hammer;

static void *hammer_main(void *arg) {
  hammer *h = arg;
  for (int r = 0; r < h->rounds; r++) {
    put_n(h->c, r % 50, r % 50 + 3);
    get_n(h->c, r % 40, r % 40 + 5);
  }
  return NULL;
}

/* Sources added and removed while the collector thread runs them, and a
 * cache changed by another thread meanwhile (TSan); afterwards one more
 * collection makes the exported counters equal the cache's statistics. */
static void test_sources_while_collecting(void **st) {
  (void)st;
  gsp_metrics *m;
  assert_int_equal(gsp_metrics_create(NULL, &m), GSP_OK);
  gsp_monitor *mon;
  gsp_monitor_config cfg = {.metrics = m, .collection_interval_ms = 1};
  assert_int_equal(gsp_monitor_create(&cfg, &mon), GSP_OK);
  env e = {m, mon};
  gsp_cache *c = small_cache(32);
  assert_int_equal(gsp_monitor_add_cache(mon, "hot", c), GSP_OK);
  assert_int_equal(gsp_monitor_start(mon), GSP_OK);
  hammer h = {c, 20000};
  pthread_t t;
  assert_int_equal(pthread_create(&t, NULL, hammer_main, &h), 0);
  for (int i = 0; i < 200; i++) {
    counting k = {.series = "churn"};
    assert_int_equal(gsp_monitor_add_source(mon, "churn", counting_fn, &k), GSP_OK);
    assert_int_equal(gsp_monitor_remove_source(mon, "churn"), GSP_OK);
    /* k goes out of scope here: remove guarantees it is no longer used */
  }
  pthread_join(t, NULL);
  gsp_monitor_stop(mon);
  (void)gsp_monitor_collect_now(mon, NULL);
  gsp_cache_stats cs;
  gsp_cache_stats_get(c, &cs);
  assert_true(metric(&e, "gsperf_cache_hits_total{cache=\"hot\"}") == (double)cs.hits);
  assert_true(metric(&e, "gsperf_cache_misses_total{cache=\"hot\"}") == (double)cs.misses);
  assert_true(metric(&e, "gsperf_cache_entries{cache=\"hot\"}") == (double)cs.entries);
  assert_int_equal(gsp_monitor_remove_source(mon, "cache:hot"), GSP_OK);
  gsp_monitor_destroy(mon);
  gsp_cache_destroy(c);
  gsp_metrics_destroy(m);
}

/* Without a registry the ready sources are refused with a reason. */
static void test_needs_registry(void **st) {
  (void)st;
  env e = env_new(false);
  gsp_cache *c = small_cache(4);
  assert_int_equal(gsp_monitor_add_cache(e.mon, "x", c), GSP_EINVAL);
  assert_non_null(strstr(gsp_monitor_errmsg(e.mon), "registry"));
  char longname[200];
  memset(longname, 'a', sizeof longname - 1);
  longname[sizeof longname - 1] = '\0';
  env_free(&e);
  e = env_new(true);
  assert_int_equal(gsp_monitor_add_cache(e.mon, longname, c), GSP_EINVAL);
  gsp_cache_destroy(c);
  env_free(&e);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_host_source),          cmocka_unit_test(test_cache_source),
      cmocka_unit_test(test_cache_manager_source), cmocka_unit_test(test_pool_source),
      cmocka_unit_test(test_needs_registry),       cmocka_unit_test(test_sources_while_collecting),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
