/*
 * test_mem.c - behaviour of object pools and arenas on one thread: pool
 * alloc/free/reuse, alignment, ctor/dtor counts, statistics, trim, reserve,
 * the leak report at destroy; arena alignment, marks, nested scopes,
 * growth, reset, trim.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "gsperf/mem.h"

typedef struct counts {
  int ctor;
  int dtor;
} counts;

static void obj_ctor(void *obj, void *user) {
  ((counts *)user)->ctor++;
  memset(obj, 0xAB, 24);
}

static void obj_dtor(void *obj, void *user) {
  const unsigned char *b = obj;
  assert_int_equal(b[0], 0xAB); /* constructed state kept while free */
  ((counts *)user)->dtor++;
}

static void test_pool_create_invalid(void **state) {
  (void)state;
  gsp_pool *p = NULL;
  assert_int_equal(gsp_pool_create(NULL, &p), GSP_EINVAL);
  assert_int_equal(gsp_pool_create(&(gsp_pool_config){.obj_size = 0}, &p), GSP_EINVAL);
  assert_int_equal(gsp_pool_create(&(gsp_pool_config){.obj_size = 8, .align = 24}, &p), GSP_EINVAL);
  assert_null(p);
  gsp_pool_destroy(NULL);
}

static void test_pool_alloc_free_reuse(void **state) {
  (void)state;
  gsp_pool *p = NULL;
  assert_int_equal(gsp_pool_create(&(gsp_pool_config){.obj_size = 64, .batch = 8}, &p), GSP_OK);
  void *objs[100];
  for (int i = 0; i < 100; i++) {
    objs[i] = gsp_pool_alloc(p);
    assert_non_null(objs[i]);
    assert_int_equal((uintptr_t)objs[i] % 16, 0);
    memset(objs[i], i, 64);
  }
  for (int i = 0; i < 100; i++)
    for (int j = 0; j < 64; j++) assert_int_equal(((unsigned char *)objs[i])[j], i);
  gsp_pool_stats st;
  gsp_pool_stats_get(p, &st);
  assert_int_equal(st.live, 100);
  assert_true(st.peak >= 100);
  assert_true(st.misses > 0);
  assert_int_equal(st.slabs, 1);
  void *last = objs[99];
  gsp_pool_free(p, last);
  assert_ptr_equal(gsp_pool_alloc(p), last); /* LIFO reuse from the thread cache */
  for (int i = 0; i < 100; i++) gsp_pool_free(p, objs[i]);
  gsp_pool_free(p, NULL);
  gsp_pool_stats_get(p, &st);
  assert_int_equal(st.live, 0);
  assert_true(st.cached >= 100);
  assert_true(st.flushes > 0);
  gsp_pool_destroy(p);
}

static void test_pool_alignment(void **state) {
  (void)state;
  size_t aligns[] = {8, 16, 64, 256};
  for (size_t k = 0; k < 4; k++) {
    gsp_pool *p = NULL;
    counts c = {0, 0};
    gsp_pool_config cfg = {.obj_size = 40, .align = aligns[k], .ctor = obj_ctor, .user = &c};
    if (k % 2) cfg.ctor = NULL;
    assert_int_equal(gsp_pool_create(&cfg, &p), GSP_OK);
    for (int i = 0; i < 300; i++) {
      void *o = gsp_pool_alloc(p);
      assert_int_equal((uintptr_t)o % aligns[k], 0);
    }
    gsp_pool_destroy(p);
  }
}

static void test_pool_ctor_dtor_once(void **state) {
  (void)state;
  counts c = {0, 0};
  gsp_pool *p = NULL;
  gsp_pool_config cfg = {
      .obj_size = 24, .batch = 4, .ctor = obj_ctor, .dtor = obj_dtor, .user = &c};
  assert_int_equal(gsp_pool_create(&cfg, &p), GSP_OK);
  for (int round = 0; round < 50; round++) {
    void *o[10];
    for (int i = 0; i < 10; i++) o[i] = gsp_pool_alloc(p);
    for (int i = 0; i < 10; i++) gsp_pool_free(p, o[i]);
  }
  /* 10 objects in use at most: constructed once each, however often reused */
  assert_true(c.ctor >= 10);
  assert_true(c.ctor <= 10 + 2 * 4);
  assert_int_equal(c.dtor, 0);
  int ctors = c.ctor;
  gsp_pool_destroy(p);
  assert_int_equal(c.dtor, ctors);
}

static void test_pool_trim(void **state) {
  (void)state;
  counts c = {0, 0};
  gsp_pool *p = NULL;
  gsp_pool_config cfg = {
      .obj_size = 32, .batch = 8, .ctor = obj_ctor, .dtor = obj_dtor, .user = &c};
  assert_int_equal(gsp_pool_create(&cfg, &p), GSP_OK);
  void *o[50];
  for (int i = 0; i < 50; i++) o[i] = gsp_pool_alloc(p);
  for (int i = 0; i < 49; i++) gsp_pool_free(p, o[i]);
  assert_int_equal(gsp_pool_trim(p), 0); /* one object still live */
  gsp_pool_stats st;
  gsp_pool_stats_get(p, &st);
  assert_int_equal(st.live, 1);
  assert_int_equal(st.slabs, 1);
  gsp_pool_free(p, o[49]);
  assert_int_equal(gsp_pool_trim(p), 1);
  assert_int_equal(c.dtor, c.ctor);
  gsp_pool_stats_get(p, &st);
  assert_int_equal(st.slabs, 0);
  assert_int_equal(st.cached, 0);
  assert_non_null(gsp_pool_alloc(p)); /* usable after a trim */
  gsp_pool_destroy(p);
}

/* Trim releases each slab whose objects are all back, and keeps the slabs
 * that still have one out; objects of kept slabs stay usable, the dtor runs
 * exactly for the released ones. */
static void test_pool_trim_per_slab(void **state) {
  (void)state;
  counts c = {0, 0};
  gsp_pool *p = NULL;
  /* small slabs: 4 KiB of 64-byte slots (with header), batch 4 */
  gsp_pool_config cfg = {.obj_size = 48,
                         .batch = 4,
                         .slab_bytes = 4096,
                         .ctor = obj_ctor,
                         .dtor = obj_dtor,
                         .user = &c};
  assert_int_equal(gsp_pool_create(&cfg, &p), GSP_OK);
  enum { N = 400 };
  static void *o[N];
  for (int i = 0; i < N; i++) assert_non_null(o[i] = gsp_pool_alloc(p));
  gsp_pool_stats st;
  gsp_pool_stats_get(p, &st);
  uint64_t slabs = st.slabs;
  assert_true(slabs >= 6);
  /* keep the first and the last object out: their slabs must stay */
  for (int i = 1; i < N - 1; i++) gsp_pool_free(p, o[i]);
  size_t released = gsp_pool_trim(p);
  gsp_pool_stats_get(p, &st);
  assert_true(released >= slabs - 2 - 1); /* all but the two held (and a partly carved one) */
  assert_int_equal(st.slabs, slabs - released);
  assert_true(st.slabs >= 1 && st.slabs <= 3);
  assert_int_equal(st.live, 2);
  assert_int_equal(c.dtor, c.ctor - (int)(st.cached + st.live));
  /* the kept objects are intact and the pool still works */
  assert_int_equal(((unsigned char *)o[0])[23], 0xAB);
  void *again[N];
  for (int i = 0; i < N; i++) assert_non_null(again[i] = gsp_pool_alloc(p));
  for (int i = 0; i < N; i++) gsp_pool_free(p, again[i]);
  gsp_pool_free(p, o[0]);
  gsp_pool_free(p, o[N - 1]);
  assert_true(gsp_pool_trim(p) >= 1);
  gsp_pool_stats_get(p, &st);
  assert_int_equal(st.slabs, 0);
  assert_int_equal(c.dtor, c.ctor);
  gsp_pool_destroy(p);
}

static void test_pool_reserve(void **state) {
  (void)state;
  gsp_pool *p = NULL;
  assert_int_equal(
      gsp_pool_create(&(gsp_pool_config){.obj_size = 64, .slab_bytes = 16384, .reserve = 1000}, &p),
      GSP_OK);
  gsp_pool_stats st;
  gsp_pool_stats_get(p, &st);
  uint64_t slabs = st.slabs;
  assert_true(slabs >= 4);
  void *o[1000];
  for (int i = 0; i < 1000; i++) assert_non_null(o[i] = gsp_pool_alloc(p));
  gsp_pool_stats_get(p, &st);
  assert_int_equal(st.slabs, slabs); /* no slab made on the hot path */
  for (int i = 0; i < 1000; i++) gsp_pool_free(p, o[i]);
  assert_string_equal(gsp_pool_errmsg(p), "no error");
  gsp_pool_destroy(p);
}

static int g_warns;
static char g_msg[256];
static void sink(void *user, gsp_log_level level, const char *module, const char *msg) {
  (void)user;
  if (level == GSP_LOG_WARN && strcmp(module, "mem") == 0) {
    g_warns++;
    snprintf(g_msg, sizeof g_msg, "%s", msg);
  }
}

static void test_pool_leak_report(void **state) {
  (void)state;
  gsp_log_set_sink(sink, NULL, GSP_LOG_DEBUG);
  gsp_pool_stats fin;
  memset(&fin, 0xFF, sizeof fin);
  gsp_pool *p = NULL;
  gsp_pool_config cfg = {.obj_size = 16, .name = "nodes", .final_stats = &fin};
  assert_int_equal(gsp_pool_create(&cfg, &p), GSP_OK);
  for (int i = 0; i < 10; i++) gsp_pool_free(p, gsp_pool_alloc(p));
  for (int i = 0; i < 7; i++) assert_non_null(gsp_pool_alloc(p));
  gsp_pool_destroy(p);
  assert_int_equal(fin.leaked, 7);
  assert_int_equal(fin.live, 7);
  assert_int_equal(g_warns, 1);
  assert_non_null(strstr(g_msg, "nodes"));
  assert_non_null(strstr(g_msg, "7 objects"));
  /* no leak, no report */
  assert_int_equal(gsp_pool_create(&cfg, &p), GSP_OK);
  gsp_pool_free(p, gsp_pool_alloc(p));
  gsp_pool_destroy(p);
  assert_int_equal(fin.leaked, 0);
  assert_int_equal(g_warns, 1);
  gsp_log_set_sink(NULL, NULL, GSP_LOG_WARN);
}

static void test_pool_two_pools(void **state) {
  (void)state;
  gsp_pool *a = NULL, *b = NULL;
  assert_int_equal(gsp_pool_create(&(gsp_pool_config){.obj_size = 16}, &a), GSP_OK);
  assert_int_equal(gsp_pool_create(&(gsp_pool_config){.obj_size = 200}, &b), GSP_OK);
  for (int i = 0; i < 500; i++) {
    void *x = gsp_pool_alloc(a), *y = gsp_pool_alloc(b);
    memset(y, 1, 200);
    gsp_pool_free(a, x);
    gsp_pool_free(b, y);
  }
  gsp_pool_destroy(a);
  /* this thread's cache of the destroyed pool is an orphan now; b still works,
     and a new pool (possibly at a's address) starts clean */
  gsp_pool *c = NULL;
  assert_int_equal(gsp_pool_create(&(gsp_pool_config){.obj_size = 16}, &c), GSP_OK);
  gsp_pool_stats st;
  gsp_pool_free(c, gsp_pool_alloc(c));
  gsp_pool_free(b, gsp_pool_alloc(b));
  gsp_pool_stats_get(c, &st);
  assert_int_equal(st.live, 0);
  gsp_pool_destroy(b);
  gsp_pool_destroy(c);
}

/* ---- arenas ------------------------------------------------------------- */

static void test_arena_alignment(void **state) {
  (void)state;
  gsp_arena *a = NULL;
  assert_int_equal(gsp_arena_create(NULL, &a), GSP_OK);
  size_t aligns[] = {0, 1, 2, 8, 16, 64, 4096};
  for (int i = 0; i < 200; i++) {
    size_t al = aligns[i % 7];
    unsigned char *p = gsp_arena_alloc(a, (size_t)(i % 13) + 1, al);
    assert_non_null(p);
    assert_int_equal((uintptr_t)p % (al ? al : 16), 0);
    memset(p, 0x5A, (size_t)(i % 13) + 1);
  }
  assert_null(gsp_arena_alloc(a, 8, 3));
  gsp_arena_destroy(a);
  gsp_arena_destroy(NULL);
}

static void test_arena_mark_reset_nested(void **state) {
  (void)state;
  gsp_arena *a = NULL;
  assert_int_equal(gsp_arena_create(&(gsp_arena_config){.chunk_bytes = 1024}, &a), GSP_OK);
  char *keep = gsp_arena_alloc(a, 100, 1);
  memset(keep, 'k', 100);
  gsp_arena_mark outer = gsp_arena_mark_get(a);
  char *o1 = gsp_arena_alloc(a, 300, 8);
  gsp_arena_mark inner = gsp_arena_mark_get(a);
  for (int i = 0; i < 20; i++) assert_non_null(gsp_arena_alloc(a, 200, 8)); /* grows */
  gsp_arena_stats st;
  gsp_arena_stats_get(a, &st);
  assert_true(st.chunks > 1);
  uint64_t peak = st.used;
  gsp_arena_reset_to(a, inner);
  assert_ptr_equal(gsp_arena_alloc(a, 16, 8), (char *)o1 + 304); /* back where inner was */
  gsp_arena_reset_to(a, outer);
  assert_ptr_equal(gsp_arena_alloc(a, 300, 8), o1);
  gsp_arena_stats_get(a, &st);
  assert_int_equal(st.peak, peak);
  assert_true(st.used < 1024);
  for (int i = 0; i < 100; i++) assert_int_equal(keep[i], 'k');
  gsp_arena_destroy(a);
}

static void test_arena_growth_reuse_trim(void **state) {
  (void)state;
  gsp_arena *a = NULL;
  assert_int_equal(gsp_arena_create(&(gsp_arena_config){.chunk_bytes = 4096}, &a), GSP_OK);
  char *big = gsp_arena_alloc(a, 100000, 16); /* larger than a chunk: its own chunk */
  assert_non_null(big);
  memset(big, 1, 100000);
  gsp_arena_stats st;
  for (int round = 0; round < 5; round++) {
    for (int i = 0; i < 100; i++) assert_non_null(gsp_arena_alloc(a, 100, 16));
    gsp_arena_stats_get(a, &st);
    uint64_t chunks = st.chunks;
    gsp_arena_reset(a);
    gsp_arena_stats_get(a, &st);
    assert_int_equal(st.used, 0);
    assert_int_equal(st.chunks, chunks); /* kept as spares */
  }
  assert_int_equal(st.allocs, 501);
  assert_true(gsp_arena_trim(a) > 0);
  gsp_arena_stats_get(a, &st);
  assert_int_equal(st.chunks, 0);
  assert_int_equal(st.reserved, 0);
  assert_non_null(gsp_arena_alloc(a, 10, 0));
  assert_null(gsp_arena_alloc(a, SIZE_MAX - 8, 16));
  gsp_arena_destroy(a);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_pool_create_invalid),
      cmocka_unit_test(test_pool_alloc_free_reuse),
      cmocka_unit_test(test_pool_alignment),
      cmocka_unit_test(test_pool_ctor_dtor_once),
      cmocka_unit_test(test_pool_trim),
      cmocka_unit_test(test_pool_trim_per_slab),
      cmocka_unit_test(test_pool_reserve),
      cmocka_unit_test(test_pool_leak_report),
      cmocka_unit_test(test_pool_two_pools),
      cmocka_unit_test(test_arena_alignment),
      cmocka_unit_test(test_arena_mark_reset_nested),
      cmocka_unit_test(test_arena_growth_reuse_trim),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
