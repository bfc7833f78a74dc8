/* test_common.c - status codes, allocator hooks, clock, log sink, gsp_rc. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "gsperf/common.h"

static void test_status_names(void **state) {
  (void)state;
  assert_int_equal(GSP_OK, 0);
  assert_string_equal(gsp_strerror(GSP_OK), "success");
  assert_string_equal(gsp_err_name(GSP_ENOMEM), "GSP_ENOMEM");
  assert_string_equal(gsp_strerror(GSP_ENOMEM), "out of memory");
  assert_string_equal(gsp_err_name(-9999), "GSP_UNKNOWN");
  assert_string_equal(gsp_strerror(12345), "unknown error");
  /* every code is negative and has a distinct name */
#define CHECK_(name, num, text)                         \
  assert_true((num) <= 0);                              \
  assert_string_equal(gsp_err_name(num), "GSP_" #name); \
  assert_string_equal(gsp_strerror(num), text);
  GSP_ERRNO_MAP(CHECK_)
#undef CHECK_
}

static size_t g_calls;
static void *count_malloc(void *u, size_t n) {
  (void)u;
  g_calls++;
  return malloc(n);
}
static void *count_realloc(void *u, void *p, size_t n) {
  (void)u;
  g_calls++;
  return realloc(p, n);
}
static void count_free(void *u, void *p) {
  (void)u;
  free(p);
}
static void *fail_malloc(void *u, size_t n) {
  (void)u;
  (void)n;
  return NULL;
}

static void test_allocator_hooks(void **state) {
  (void)state;
  gsp_set_allocator(&(gsp_allocator){count_malloc, count_realloc, count_free, NULL});
  g_calls = 0;
  void *p = gsp_malloc(10);
  p = gsp_realloc(p, 100);
  char *s = gsp_strdup("hello");
  assert_string_equal(s, "hello");
  gsp_free(p);
  gsp_free(s);
  gsp_free(NULL);
  assert_int_equal(g_calls, 3);
  assert_null(gsp_calloc(SIZE_MAX / 2, 4)); /* overflow is refused */
  gsp_set_allocator(&(gsp_allocator){fail_malloc, count_realloc, count_free, NULL});
  assert_null(gsp_malloc(1));
  gsp_set_allocator(NULL);
  p = gsp_calloc(4, 4);
  assert_non_null(p);
  assert_memory_equal(p, "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0", 16);
  gsp_free(p);
}

static void test_clock(void **state) {
  (void)state;
  uint64_t a = gsp_now_ns();
  uint64_t b = gsp_now_ns();
  assert_true(a > 0);
  assert_true(b >= a);
}

typedef struct logbuf {
  int n;
  gsp_log_level level;
  char module[32];
  char msg[128];
} logbuf;

static void sink(void *user, gsp_log_level level, const char *module, const char *msg) {
  logbuf *lb = user;
  lb->n++;
  lb->level = level;
  snprintf(lb->module, sizeof lb->module, "%s", module);
  snprintf(lb->msg, sizeof lb->msg, "%s", msg);
}

static void test_log_sink(void **state) {
  (void)state;
  logbuf lb = {0};
  gsp_log(GSP_LOG_ERROR, "x", "dropped %d", 1); /* no sink: nothing happens */
  gsp_log_set_sink(sink, &lb, GSP_LOG_WARN);
  gsp_log(GSP_LOG_INFO, "cache", "below the level");
  assert_int_equal(lb.n, 0);
  gsp_log(GSP_LOG_ERROR, "cache", "file %s line %d", "a.c", 7);
  assert_int_equal(lb.n, 1);
  assert_int_equal(lb.level, GSP_LOG_ERROR);
  assert_string_equal(lb.module, "cache");
  assert_string_equal(lb.msg, "file a.c line 7");
  assert_string_equal(gsp_log_level_name(GSP_LOG_WARN), "warn");
  gsp_log_set_sink(NULL, NULL, GSP_LOG_INFO);
}

typedef struct obj {
  int destroyed;
  int watched;
} obj;

static void obj_dtor(void *o, void *user) {
  (void)user;
  ((obj *)o)->destroyed++;
}

static void on_dead(gsp_rc_watcher *w, void *user) {
  (void)w;
  ((obj *)user)->watched++;
}

static void test_rc_strong_weak(void **state) {
  (void)state;
  obj o = {0};
  gsp_rc *rc;
  assert_int_equal(gsp_rc_create(&o, obj_dtor, NULL, &rc), GSP_OK);
  gsp_rc_weak_retain(rc);
  gsp_rc_retain(rc);
  assert_int_equal(gsp_rc_strong_count(rc), 2);
  gsp_rc_watcher w1, w2;
  assert_int_equal(gsp_rc_watch(rc, &w1, on_dead, &o), GSP_OK);
  assert_int_equal(gsp_rc_watch(rc, &w2, on_dead, &o), GSP_OK);
  gsp_rc_unwatch(rc, &w2);
  gsp_rc_release(rc);
  assert_int_equal(o.destroyed, 0);
  assert_true(gsp_rc_try_retain(rc));
  assert_ptr_equal(gsp_rc_get(rc), &o);
  gsp_rc_release(rc);
  gsp_rc_release(rc);
  assert_int_equal(o.destroyed, 1);
  assert_int_equal(o.watched, 1); /* w1 only */
  assert_false(gsp_rc_alive(rc));
  assert_false(gsp_rc_try_retain(rc));
  gsp_rc_watcher w3;
  assert_int_equal(gsp_rc_watch(rc, &w3, on_dead, &o), GSP_ESTATE);
  gsp_rc_unwatch(rc, &w3); /* harmless after a refused watch */
  gsp_rc_unwatch(rc, &w1); /* harmless after firing */
  gsp_rc_weak_release(rc);
}

static void *retain_release_loop(void *arg) {
  gsp_rc *rc = arg;
  for (int i = 0; i < 100000; i++) {
    if (gsp_rc_try_retain(rc)) gsp_rc_release(rc);
  }
  return NULL;
}

static void test_rc_threads(void **state) {
  (void)state;
  obj o = {0};
  gsp_rc *rc;
  assert_int_equal(gsp_rc_create(&o, obj_dtor, NULL, &rc), GSP_OK);
  gsp_rc_weak_retain(rc);
  pthread_t t[2];
  for (int i = 0; i < 2; i++) pthread_create(&t[i], NULL, retain_release_loop, rc);
  gsp_rc_release(rc); /* the owner lets go while the others race */
  for (int i = 0; i < 2; i++) pthread_join(t[i], NULL);
  assert_int_equal(o.destroyed, 1);
  assert_false(gsp_rc_alive(rc));
  gsp_rc_weak_release(rc);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_status_names),   cmocka_unit_test(test_allocator_hooks),
      cmocka_unit_test(test_clock),          cmocka_unit_test(test_log_sink),
      cmocka_unit_test(test_rc_strong_weak), cmocka_unit_test(test_rc_threads),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
