/*
 * test_optimize_memtier.c - MEMORY_OPTIMIZED's compressed store: results
 * above max_value_bytes are cached in the function's multi-level cache (L1
 * of one entry, LZ4 L2), served again without running the function, and
 * listed in the report's cache_stats level by level (JSON and text); and
 * several threads calling at once get whole, correct results (TSan in CI).
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <jansson.h>

#include "gsperf/optimize.h"

static atomic_int g_runs;

/* arg[0] * 1000 bytes: the byte arg[0] repeated (compresses well). */
static int big_fn(void *user, const void *arg, size_t n, void **out, size_t *outlen) {
  (void)user;
  atomic_fetch_add(&g_runs, 1);
  size_t want = n ? (size_t)((const unsigned char *)arg)[0] * 1000 : 0;
  char *r = gsp_malloc(want ? want : 1);
  if (r == NULL) return GSP_ENOMEM;
  memset(r, n ? ((const unsigned char *)arg)[0] : 0, want);
  *out = r;
  *outlen = want;
  return GSP_OK;
}

static gsp_opt_engine *engine(void) {
  gsp_opt_engine *e = NULL;
  gsp_opt_config cfg = {.max_value_bytes = 1000};
  assert_int_equal(gsp_opt_engine_create(&cfg, &e), GSP_OK);
  return e;
}

static void call_check(gsp_opt_func *f, unsigned char v) {
  gsp_opt_result r;
  assert_int_equal(gsp_opt_call(f, &v, 1, &r), GSP_OK);
  assert_int_equal(r.len, (size_t)v * 1000);
  const unsigned char *p = r.data;
  for (size_t i = 0; i < r.len; i++) assert_int_equal(p[i], v);
  gsp_opt_result_release(&r);
}

static json_t *report(gsp_opt_engine *e) {
  char *txt = NULL;
  assert_int_equal(gsp_opt_report_json(e, &txt, NULL), GSP_OK);
  json_error_t je;
  json_t *root = json_loads(txt, 0, &je);
  assert_non_null(root);
  gsp_free(txt);
  return root;
}

static json_t *level(json_t *cache, const char *name) {
  json_t *lv = json_object_get(json_object_get(cache, "levels"), name);
  assert_true(json_is_object(lv));
  return lv;
}

static json_int_t ival(json_t *o, const char *k) {
  json_t *v = json_object_get(o, k);
  assert_true(json_is_integer(v));
  return json_integer_value(v);
}

static void test_large_results_cached_compressed(void **state) {
  (void)state;
  gsp_opt_engine *e = engine();
  gsp_opt_func *f = NULL;
  gsp_opt_func_opts o = {.strategy = GSP_OPT_MEMORY};
  assert_int_equal(gsp_opt_register(e, "big", big_fn, NULL, &o, &f), GSP_OK);
  atomic_store(&g_runs, 0);
  for (unsigned char v = 2; v <= 5; v++) call_check(f, v); /* 2000..5000 bytes */
  assert_int_equal(atomic_load(&g_runs), 4);
  for (int round = 0; round < 2; round++)
    for (unsigned char v = 2; v <= 5; v++) call_check(f, v);
  assert_int_equal(atomic_load(&g_runs), 4); /* every large result came from the cache */

  gsp_opt_func_stats fs;
  assert_int_equal(gsp_opt_func_stats_get(f, &fs), GSP_OK);
  assert_int_equal(fs.cache_hits, 8);
  assert_int_equal(fs.cache_misses, 4);

  json_t *root = report(e);
  json_t *cs = json_object_get(root, "cache_stats");
  json_t *c = json_object_get(cs, "big:compressed");
  assert_true(json_is_object(c));
  assert_int_equal(ival(c, "hits"), 8);
  json_t *l1 = level(c, "L1"), *l2 = level(c, "L2");
  assert_null(json_object_get(json_object_get(c, "levels"), "L3")); /* not configured */
  assert_int_equal(ival(l1, "entries"), 1);                         /* L1 holds one large result */
  assert_int_equal(ival(l2, "entries"), 3);                         /* the others only compressed */
  assert_true(ival(l2, "hits") >= 1);                               /* served from L2 */
  assert_true(ival(l2, "bytes") < ival(l2, "raw_bytes"));           /* and stored smaller */
  assert_true(json_number_value(json_object_get(l2, "compression_ratio")) > 1.0);
  /* an ordinary cache lists its single level too */
  json_t *d = json_object_get(cs, "default");
  assert_int_equal(ival(level(d, "L1"), "entries"), 0);

  char *txt = NULL, *out = NULL, err[128];
  assert_int_equal(gsp_opt_report_json(e, &txt, NULL), GSP_OK);
  assert_int_equal(gsp_opt_report_text(txt, &out, err, sizeof err), GSP_OK);
  assert_non_null(strstr(out, "big:compressed"));
  assert_non_null(strstr(out, " L2 "));
  gsp_free(out);
  gsp_free(txt);
  json_decref(root);
  gsp_opt_engine_destroy(e);
}

static void test_no_store_without_caching_or_memory(void **state) {
  (void)state;
  gsp_opt_engine *e = engine();
  gsp_opt_func *nc = NULL, *bal = NULL;
  gsp_opt_func_opts o = {.strategy = GSP_OPT_MEMORY, .caching = GSP_OPT_OFF};
  assert_int_equal(gsp_opt_register(e, "nocache", big_fn, NULL, &o, &nc), GSP_OK);
  gsp_opt_func_opts b = {.strategy = GSP_OPT_BALANCED};
  assert_int_equal(gsp_opt_register(e, "balanced", big_fn, NULL, &b, &bal), GSP_OK);
  atomic_store(&g_runs, 0);
  call_check(nc, 3);
  call_check(nc, 3);
  assert_int_equal(atomic_load(&g_runs), 2); /* caching off: runs every time */
  json_t *root = report(e);
  json_t *cs = json_object_get(root, "cache_stats");
  assert_null(json_object_get(cs, "nocache:compressed"));
  assert_null(json_object_get(cs, "balanced:compressed"));
  json_decref(root);
  gsp_opt_engine_destroy(e);
}

static void *hammer(void *p) {
  gsp_opt_func *f = p;
  for (int i = 0; i < 200; i++) call_check(f, (unsigned char)(2 + i % 6));
  return NULL;
}

static void test_threads_share_the_store(void **state) {
  (void)state;
  gsp_opt_engine *e = engine();
  gsp_opt_func *f = NULL;
  gsp_opt_func_opts o = {.strategy = GSP_OPT_MEMORY};
  assert_int_equal(gsp_opt_register(e, "shared", big_fn, NULL, &o, &f), GSP_OK);
  atomic_store(&g_runs, 0);
  enum { T = 4 };
  pthread_t th[T];
  for (int i = 0; i < T; i++) assert_int_equal(pthread_create(&th[i], NULL, hammer, f), 0);
  for (int i = 0; i < T; i++) pthread_join(th[i], NULL);
  /* concurrent misses on a key share one run (single-flight), but a lookup
   * racing an entry's move from L1 to L2 misses: keys may run more than
   * once, and every miss ran fn (a share counts as a hit) */
  int ran = atomic_load(&g_runs);
  assert_true(ran >= 6);
  gsp_opt_func_stats fs;
  assert_int_equal(gsp_opt_func_stats_get(f, &fs), GSP_OK);
  assert_int_equal(fs.cache_hits + fs.cache_misses, T * 200);
  assert_int_equal(fs.cache_misses, (uint64_t)ran);
  /* once quiet, every key is held (one in L1, the rest in L2) */
  for (unsigned char v = 2; v < 8; v++) call_check(f, v);
  assert_int_equal(atomic_load(&g_runs), ran);
  gsp_opt_engine_destroy(e);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_large_results_cached_compressed),
      cmocka_unit_test(test_no_store_without_caching_or_memory),
      cmocka_unit_test(test_threads_share_the_store),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
