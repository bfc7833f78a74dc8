/*
 * test_prof.c - the profiler in-process: zones (counts, nesting and self
 * time, percentiles, mismatched ends, many threads, the scope macro), CPU
 * profiles (a thread started after the profile is followed, a leaf's
 * caller is found, shares near the work split), state errors, the
 * writers, and a raw file read back into the same report.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "gsperf/prof.h"
#include "prof_test_util.h"

static _Atomic uint64_t g_sink; /* shared by the threads: atomic */

__attribute__((noinline)) static void spin_for(double cpu_s) {
  uint64_t x = g_sink + 1;
  double end = cpu_now() + cpu_s;
  while (cpu_now() < end)
    for (int i = 0; i < 1000; i++) x = x * 6364136223846793005ull + 1;
  g_sink = x;
}

static const gsp_prof_zone_stats *find_zone(const gsp_prof_zone_stats *z, size_t n,
                                            const char *name) {
  for (size_t i = 0; i < n; i++)
    if (strcmp(z[i].name, name) == 0) return &z[i];
  return NULL;
}

static void test_zone_nesting(void **state) {
  (void)state;
  static gsp_prof_zone_site outer = {"t.outer", 0}, inner = {"t.inner", 0};
  for (int i = 0; i < 100; i++) {
    gsp_prof_zone_begin(&outer);
    for (int j = 0; j < 2; j++) {
      gsp_prof_zone_begin(&inner);
      spin_for(0.0002);
      gsp_prof_zone_end(&inner);
    }
    spin_for(0.0001);
    gsp_prof_zone_end(&outer);
  }
  gsp_prof_zone_stats *z;
  size_t n;
  assert_int_equal(gsp_prof_zones_get(&z, &n), GSP_OK);
  const gsp_prof_zone_stats *o = find_zone(z, n, "t.outer"), *in = find_zone(z, n, "t.inner");
  assert_non_null(o);
  assert_non_null(in);
  assert_int_equal(o->count, 100);
  assert_int_equal(in->count, 200);
  assert_true(in->total_ns < o->total_ns);
  assert_true(o->self_ns < o->total_ns);
  assert_true(o->self_ns + in->total_ns <= o->total_ns + o->total_ns / 100);
  assert_int_equal(in->self_ns, in->total_ns);
  assert_true(in->p50_ns <= in->p90_ns && in->p90_ns <= in->p99_ns);
  assert_true(in->p50_ns >= 100000); /* each inner zone spins 200 us of CPU */
  assert_true(in->max_ns >= in->p50_ns);
  assert_int_equal(o->mismatched, 0);
  gsp_free(z);
}

static void test_zone_mismatch(void **state) {
  (void)state;
  static gsp_prof_zone_site a = {"t.mis_a", 0}, b = {"t.mis_b", 0};
  gsp_prof_zone_begin(&a);
  gsp_prof_zone_end(&b);
  gsp_prof_zone_end(&b); /* no open zone: ignored */
  gsp_prof_zone_stats *z;
  size_t n;
  assert_int_equal(gsp_prof_zones_get(&z, &n), GSP_OK);
  const gsp_prof_zone_stats *s = find_zone(z, n, "t.mis_a");
  assert_non_null(s);
  assert_int_equal(s->count, 1);
  assert_int_equal(s->mismatched, 1);
  gsp_free(z);
}

static int scoped(int x) {
  GSP_PROF_SCOPE("t.scoped");
  if (x % 2) return x; /* early return still ends the zone */
  return x + 1;
}

static void test_zone_scope(void **state) {
  (void)state;
  for (int i = 0; i < 10; i++) scoped(i);
  gsp_prof_zone_stats *z;
  size_t n;
  assert_int_equal(gsp_prof_zones_get(&z, &n), GSP_OK);
  const gsp_prof_zone_stats *s = find_zone(z, n, "t.scoped");
  assert_non_null(s);
  assert_int_equal(s->count, 10);
  gsp_free(z);
}

static void *zone_thread(void *arg) {
  static gsp_prof_zone_site site = {"t.threads", 0};
  (void)arg;
  for (int i = 0; i < 10000; i++) {
    gsp_prof_zone_begin(&site);
    gsp_prof_zone_end(&site);
  }
  return NULL;
}

static void test_zone_threads(void **state) {
  (void)state;
  pthread_t t[4];
  for (int i = 0; i < 4; i++) assert_int_equal(pthread_create(&t[i], NULL, zone_thread, NULL), 0);
  for (int i = 0; i < 4; i++) pthread_join(t[i], NULL);
  gsp_prof_zone_stats *z;
  size_t n;
  assert_int_equal(gsp_prof_zones_get(&z, &n), GSP_OK);
  const gsp_prof_zone_stats *s = find_zone(z, n, "t.threads");
  assert_non_null(s);
  assert_int_equal(s->count, 40000);
  gsp_free(z);
  gsp_prof_zones_reset();
  assert_int_equal(gsp_prof_zones_get(&z, &n), GSP_OK);
  assert_null(find_zone(z, n, "t.threads"));
  gsp_free(z);
}

static void test_states(void **state) {
  (void)state;
  gsp_prof *p, *q;
  /* MEMORY and IO run in-process now (test_prof_inproc) */
  assert_int_equal(gsp_prof_create(&(gsp_prof_config){.types = GSP_PROF_MEMORY}, &p), GSP_OK);
  gsp_prof_destroy(p);
  assert_int_equal(gsp_prof_create(&(gsp_prof_config){.hz = 20000}, &p), GSP_EINVAL);
  assert_int_equal(gsp_prof_create(NULL, &p), GSP_OK);
  assert_int_equal(gsp_prof_create(NULL, &q), GSP_OK);
  assert_int_equal(gsp_prof_stop(p), GSP_ESTATE);
  assert_int_equal(gsp_prof_start(p), GSP_OK);
  assert_int_equal(gsp_prof_start(p), GSP_ESTATE);
  assert_int_equal(gsp_prof_start(q), GSP_EBUSY);
  assert_true(strstr(gsp_prof_errmsg(q), "another") != NULL);
  assert_int_equal(gsp_prof_stop(p), GSP_OK);
  assert_int_equal(gsp_prof_start(q), GSP_OK);
  gsp_prof_destroy(q); /* stops it */
  gsp_prof_destroy(p);
  gsp_prof_destroy(NULL);
}

/* Work split: worker_fn -> leaf_work 0.4 s; main -> main_work 0.2 s. */
/* (the increments after the calls keep them from becoming tail jumps) */
__attribute__((noinline)) static void leaf_work(void) {
  spin_for(0.4);
  g_sink++;
}
__attribute__((noinline)) static void main_work(void) {
  spin_for(0.2);
  g_sink++;
}

static void *worker_fn(void *arg) {
  (void)arg;
  leaf_work();
  g_sink++;
  return NULL;
}

static const gsp_prof_func *find_func(const gsp_prof_report *r, const char *name) {
  const gsp_prof_func *f;
  size_t n = gsp_prof_report_functions(r, &f);
  for (size_t i = 0; i < n; i++)
    if (strcmp(f[i].name, name) == 0) return &f[i];
  return NULL;
}

static char g_dir[64];

static gsp_prof_report *profile_work(const char *raw) {
  gsp_prof *p;
  assert_int_equal(gsp_prof_create(&(gsp_prof_config){.hz = 997, .raw_path = raw}, &p), GSP_OK);
  assert_int_equal(gsp_prof_start(p), GSP_OK);
  pthread_t t; /* started after the profile: must be found and sampled */
  assert_int_equal(pthread_create(&t, NULL, worker_fn, NULL), 0);
  main_work();
  pthread_join(t, NULL);
  assert_int_equal(gsp_prof_stop(p), GSP_OK);
  gsp_prof_stats st;
  gsp_prof_stats_get(p, &st);
  assert_true(st.threads >= 2);
  assert_int_equal(st.dropped, 0);
  gsp_prof_report *r;
  assert_int_equal(gsp_prof_report_create(p, &r), GSP_OK);
  assert_int_equal(gsp_prof_report_samples(r), st.samples);
  gsp_prof_destroy(p);
  return r;
}

static void check_split(const gsp_prof_report *r) {
  /* at 997 Hz, 0.6 CPU-s is about 600 samples (fewer when the process
   * started the worker late: the split is checked loosely) */
  assert_true(gsp_prof_report_samples(r) > 300);
  const gsp_prof_func *leaf = find_func(r, "leaf_work"), *m = find_func(r, "main_work");
  const gsp_prof_func *w = find_func(r, "worker_fn"), *spin = find_func(r, "spin_for");
  assert_non_null(leaf);
  assert_non_null(m);
  assert_non_null(w);
  assert_non_null(spin);
  assert_true(spin->self_pct > 90.0);
  assert_true(leaf->total_pct > 50.0 && leaf->total_pct < 80.0);
  assert_true(m->total_pct > 20.0 && m->total_pct < 50.0);
  assert_true(w->total_pct >= leaf->total_pct); /* the caller of the leaf's caller */
}

static void test_cpu_profile(void **state) {
  (void)state;
#if defined(__SANITIZE_THREAD__)
  /* TSan defers signals to safe points, so samples cannot show where the
   * thread was interrupted: under TSan only the machinery is checked
   * (timers for a late thread, ring, collector, report), not the split. */
  gsp_prof_report *t = profile_work(NULL);
  assert_true(gsp_prof_report_samples(t) > 0);
  gsp_prof_report_destroy(t);
  skip();
#endif
  char raw[96];
  snprintf(raw, sizeof raw, "%s/cpu.raw", g_dir);
  gsp_prof_report *r = profile_work(raw);
  check_split(r);

  gsp_prof_report *back;
  assert_int_equal(gsp_prof_report_load(raw, 0, &back), GSP_OK);
  assert_int_equal(gsp_prof_report_samples(back), gsp_prof_report_samples(r));
  check_split(back);
  gsp_prof_report_destroy(back);

  char path[128];
  snprintf(path, sizeof path, "%s/cpu.pb.gz", g_dir);
  assert_int_equal(gsp_prof_report_write_pprof(r, path), GSP_OK);
  FILE *f = fopen(path, "rb");
  assert_non_null(f);
  assert_int_equal(fgetc(f), 0x1f);
  assert_int_equal(fgetc(f), 0x8b);
  fclose(f);
  snprintf(path, sizeof path, "%s/cpu.collapsed", g_dir);
  assert_int_equal(gsp_prof_report_write_collapsed(r, path), GSP_OK);
  char line[4096];
  bool found = false;
  f = fopen(path, "r");
  while (f && fgets(line, sizeof line, f))
    if (strstr(line, "worker_fn;leaf_work;spin_for ")) found = true;
  if (f) fclose(f);
  assert_true(found);
  snprintf(path, sizeof path, "%s/flame.svg", g_dir);
  assert_int_equal(gsp_prof_report_write_flame(r, path, "t"), GSP_OK);
  assert_int_equal(gsp_prof_report_write_pprof(r, "/nonexistent/dir/x.pb.gz"), GSP_EIO);

  char *buf = NULL;
  size_t len = 0;
  f = open_memstream(&buf, &len);
  assert_int_equal(gsp_prof_report_write_json(r, f, 5), GSP_OK);
  fclose(f);
  assert_true(strncmp(buf, "{\"samples\":", 11) == 0);
  assert_non_null(strstr(buf, "\"name\":\"spin_for\""));
  free(buf);
  f = open_memstream(&buf, &len);
  assert_int_equal(gsp_prof_report_write_text(r, f, 5), GSP_OK);
  fclose(f);
  assert_non_null(strstr(buf, "Hot call paths"));
  assert_non_null(strstr(buf, "spin_for"));
  free(buf);
  gsp_prof_report_destroy(r);
}

static void test_load_errors(void **state) {
  (void)state;
  gsp_prof_report *r;
  char path[96];
  snprintf(path, sizeof path, "%s/nothing.raw", g_dir);
  assert_int_equal(gsp_prof_report_load(path, 0, &r), GSP_ENOENT);
  snprintf(path, sizeof path, "%s/bad.raw", g_dir);
  FILE *f = fopen(path, "w");
  fputs("this is not a raw file at all", f);
  fclose(f);
  assert_int_equal(gsp_prof_report_load(path, 0, &r), GSP_EFORMAT);
}

static int setup(void **state) {
  (void)state;
  snprintf(g_dir, sizeof g_dir, "/tmp/gsp_test_prof.XXXXXX");
  return mkdtemp(g_dir) ? 0 : -1;
}

static int teardown(void **state) {
  (void)state;
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf %s", g_dir);
  return system(cmd) == 0 ? 0 : -1;
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_zone_nesting), cmocka_unit_test(test_zone_mismatch),
      cmocka_unit_test(test_zone_scope),   cmocka_unit_test(test_zone_threads),
      cmocka_unit_test(test_states),       cmocka_unit_test(test_cpu_profile),
      cmocka_unit_test(test_load_errors),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
