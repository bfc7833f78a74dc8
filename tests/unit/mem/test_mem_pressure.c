/*
 * test_mem_pressure.c - the memory-pressure monitor and reclaim, by
 * behaviour. Fixture trees stand in for /proc and /sys/fs/cgroup (cgroup
 * v1 and v2 limits, "max", PSI present and absent, malformed files) and
 * check the effective limit, the ratio, the level state machine with its
 * hysteresis, the reclaim decisions and targets of each strategy, and that
 * errors name the file and field. The workload test grows a real cache
 * past max_memory_mb = RSS + 64 MB and checks that reclaim keeps RSS under
 * the limit at every sample. No test measures or waits for time.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "gsperf/cache.h"
#include "gsperf/mem.h"
#include "gsperf/metrics.h"

#define MB ((uint64_t)1024 * 1024)

/* ASan keeps freed blocks in quarantine, which would hide reclaim from
 * RSS; the workload test needs frees to reach the OS as they do without it. */
__attribute__((visibility("default"))) const char *__asan_default_options(void);
__attribute__((visibility("default"))) const char *__asan_default_options(void) {
  return "quarantine_size_mb=0";
}

/* ---- fixture trees ------------------------------------------------------ */

typedef struct fx {
  char root[64], proc[128], cg[128];
} fx;

static void put_file(const char *dir, const char *rel, const char *text) {
  char path[512], cmd[600];
  snprintf(path, sizeof path, "%s/%s", dir, rel);
  snprintf(cmd, sizeof cmd, "mkdir -p \"$(dirname '%s')\"", path);
  assert_int_equal(system(cmd), 0);
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  fputs(text, f);
  fclose(f);
}

static void set_rss(fx *f, uint64_t bytes) {
  char buf[96];
  snprintf(buf, sizeof buf, "100000 %llu 10 1 0 50 0\n",
           (unsigned long long)(bytes / (uint64_t)sysconf(_SC_PAGESIZE)));
  put_file(f->proc, "self/statm", buf);
}

/* A tree with 1 GiB of physical memory, RSS 10 MB and no memory cgroup. */
static void fx_init(fx *f) {
  snprintf(f->root, sizeof f->root, "/tmp/gsp_mp_XXXXXX");
  assert_non_null(mkdtemp(f->root));
  snprintf(f->proc, sizeof f->proc, "%s/proc", f->root);
  snprintf(f->cg, sizeof f->cg, "%s/cg", f->root);
  put_file(f->proc, "meminfo", "MemTotal:        1048576 kB\nMemFree:  1000 kB\n");
  put_file(f->proc, "self/cgroup", "0::/\n");
  set_rss(f, 10 * MB);
}

static void fx_done(fx *f) {
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->root);
  assert_int_equal(system(cmd), 0);
}

static void fx_v1(fx *f, const char *limit) {
  put_file(f->proc, "self/cgroup", "4:memory:/grp\n3:cpu,cpuacct:/\n0::/\n");
  put_file(f->cg, "memory/grp/memory.limit_in_bytes", limit);
  put_file(f->cg, "memory/grp/memory.usage_in_bytes", "12345\n");
}

static void fx_v2(fx *f, const char *max) {
  put_file(f->proc, "self/cgroup", "0::/grp\n");
  put_file(f->cg, "grp/memory.max", max);
  put_file(f->cg, "grp/memory.current", "777\n");
  put_file(f->cg, "grp/memory.events", "low 0\nhigh 3\nmax 2\noom 1\noom_kill 1\n");
}

static gsp_mempressure_config fx_cfg(const fx *f) {
  gsp_mempressure_config c = {0};
  c.proc_root = f->proc;
  c.cgroup_root = f->cg;
  return c;
}

static gsp_mem_sample sample(gsp_mempressure *mp, int want_rc) {
  gsp_mem_sample s;
  assert_int_equal(gsp_mempressure_sample_now(mp, &s), want_rc);
  return s;
}

/* ---- sources and effective limit ---------------------------------------- */

static void test_v1_limit(void **st) {
  (void)st;
  fx f;
  fx_init(&f);
  fx_v1(&f, "268435456\n");
  set_rss(&f, 128 * MB);
  gsp_mempressure_config c = fx_cfg(&f);
  gsp_mempressure *mp;
  assert_int_equal(gsp_mempressure_create(&c, &mp), 0);
  gsp_mem_sample s = sample(mp, 0);
  assert_int_equal(s.cgroup_version, 1);
  assert_int_equal(s.cg_limit, 256 * MB);
  assert_int_equal(s.cg_usage, 12345);
  assert_int_equal(s.phys_bytes, 1024 * MB);
  assert_int_equal(s.limit_bytes, 256 * MB);
  assert_true(s.ratio > 0.499 && s.ratio < 0.501);
  gsp_mempressure_destroy(mp);
  fx_done(&f);
}

static void test_v1_no_limit(void **st) {
  (void)st;
  fx f;
  fx_init(&f);
  fx_v1(&f, "9223372036854771712\n");
  gsp_mempressure_config c = fx_cfg(&f);
  c.max_memory_mb = 2048; /* above physical memory: physical wins */
  gsp_mempressure *mp;
  assert_int_equal(gsp_mempressure_create(&c, &mp), 0);
  gsp_mem_sample s = sample(mp, 0);
  assert_int_equal(s.cgroup_version, 1);
  assert_int_equal(s.cg_limit, 0);
  assert_int_equal(s.limit_bytes, 1024 * MB);
  gsp_mempressure_destroy(mp);
  fx_done(&f);
}

static void test_v2_limit_and_events(void **st) {
  (void)st;
  fx f;
  fx_init(&f);
  fx_v2(&f, "536870912\n");
  gsp_mempressure_config c = fx_cfg(&f);
  c.max_memory_mb = 300;
  gsp_mempressure *mp;
  assert_int_equal(gsp_mempressure_create(&c, &mp), 0);
  gsp_mem_sample s = sample(mp, 0);
  assert_int_equal(s.cgroup_version, 2);
  assert_int_equal(s.cg_limit, 512 * MB);
  assert_int_equal(s.cg_usage, 777);
  assert_int_equal(s.cg_high, 3);
  assert_int_equal(s.cg_max, 2);
  assert_int_equal(s.cg_oom_kill, 1);
  assert_int_equal(s.limit_bytes, 300 * MB); /* max_memory_mb is the smallest */
  gsp_mempressure_destroy(mp);
  /* now the cgroup is the smallest */
  put_file(f.cg, "grp/memory.max", "104857600\n");
  assert_int_equal(gsp_mempressure_create(&c, &mp), 0);
  s = sample(mp, 0);
  assert_int_equal(s.limit_bytes, 100 * MB);
  assert_true(s.ratio > 0.099 && s.ratio < 0.101);
  gsp_mempressure_destroy(mp);
  fx_done(&f);
}

static void test_v2_max(void **st) {
  (void)st;
  fx f;
  fx_init(&f);
  fx_v2(&f, "max\n");
  gsp_mempressure_config c = fx_cfg(&f);
  gsp_mempressure *mp;
  assert_int_equal(gsp_mempressure_create(&c, &mp), 0);
  gsp_mem_sample s = sample(mp, 0);
  assert_int_equal(s.cgroup_version, 2);
  assert_int_equal(s.cg_limit, 0);
  assert_int_equal(s.limit_bytes, 1024 * MB);
  gsp_mempressure_destroy(mp);
  fx_done(&f);
}

static void test_psi_present_absent(void **st) {
  (void)st;
  fx f;
  fx_init(&f);
  gsp_mempressure_config c = fx_cfg(&f);
  gsp_mempressure *mp;
  assert_int_equal(gsp_mempressure_create(&c, &mp), 0);
  gsp_mem_sample s = sample(mp, 0); /* absent: no error */
  assert_false(s.psi_present);
  assert_int_equal(s.errors, 0);
  assert_int_equal(s.cgroup_version, 0);
  put_file(f.proc, "pressure/memory",
           "some avg10=12.50 avg60=3.00 avg300=1.00 total=99\n"
           "full avg10=4.25 avg60=1.00 avg300=0.50 total=12\n");
  s = sample(mp, 0);
  assert_true(s.psi_present);
  assert_true(s.psi_some_avg10 > 12.49 && s.psi_some_avg10 < 12.51);
  assert_true(s.psi_full_avg10 > 4.24 && s.psi_full_avg10 < 4.26);
  gsp_mempressure_destroy(mp);
  fx_done(&f);
}

static void test_parse_errors_named(void **st) {
  (void)st;
  fx f;
  fx_init(&f);
  fx_v1(&f, "lots\n");
  gsp_mempressure_config c = fx_cfg(&f);
  gsp_mempressure *mp;
  char msg[256];
  assert_int_equal(gsp_mempressure_create(&c, &mp), 0);
  gsp_mem_sample s = sample(mp, GSP_EFORMAT);
  assert_int_equal(s.errors, 1);
  gsp_mempressure_errmsg(mp, msg, sizeof msg);
  assert_non_null(strstr(msg, "memory/grp/memory.limit_in_bytes"));
  assert_non_null(strstr(msg, "field memory.limit_in_bytes"));
  put_file(f.proc, "self/statm", "garbage\n");
  (void)sample(mp, GSP_EFORMAT);
  gsp_mempressure_errmsg(mp, msg, sizeof msg);
  assert_non_null(strstr(msg, "self/statm: field resident"));
  put_file(f.proc, "pressure/memory", "nothing useful\n");
  char path[256];
  snprintf(path, sizeof path, "%s/self/statm", f.proc);
  assert_int_equal(unlink(path), 0);
  (void)sample(mp, GSP_EIO);
  gsp_mempressure_errmsg(mp, msg, sizeof msg);
  assert_non_null(strstr(msg, "self/statm: field resident"));
  gsp_mempressure_stats stats;
  gsp_mempressure_stats_get(mp, &stats);
  assert_int_equal(stats.samples, 3);
  assert_int_equal(stats.sample_errors, 3);
  gsp_mempressure_destroy(mp);
  fx_done(&f);
}

static void test_bad_config(void **st) {
  (void)st;
  fx f;
  fx_init(&f);
  gsp_mempressure_config c = fx_cfg(&f);
  gsp_mempressure *mp = NULL;
  c.memory_warning_threshold = 0.95;
  assert_int_equal(gsp_mempressure_create(&c, &mp), GSP_EINVAL);
  c.memory_warning_threshold = 0.8;
  c.memory_critical_threshold = 1.5;
  assert_int_equal(gsp_mempressure_create(&c, &mp), GSP_EINVAL);
  assert_int_equal(gsp_mempressure_create(NULL, &mp), GSP_EINVAL);
  c = fx_cfg(&f);
  c.proc_root = "/nonexistent/gsp";
  assert_int_equal(gsp_mempressure_create(&c, &mp), GSP_EIO); /* no MemTotal, no cap */
  gsp_mempressure_destroy(NULL);
  fx_done(&f);
}

/* ---- state machine -------------------------------------------------------- */

typedef struct evlog {
  gsp_mem_event ev[16];
  int n;
} evlog;

static void on_event(void *user, const gsp_mem_event *ev) {
  evlog *l = user;
  if (l->n < 16) l->ev[l->n++] = *ev;
}

static void test_state_machine_hysteresis(void **st) {
  (void)st;
  fx f;
  fx_init(&f);
  evlog log = {.n = 0};
  gsp_mempressure_config c = fx_cfg(&f);
  c.max_memory_mb = 100;
  c.on_event = on_event;
  c.event_user = &log;
  c.gc_strategy = GSP_GC_PERIODIC; /* keep reclaim out of the way */
  gsp_mempressure *mp;
  assert_int_equal(gsp_mempressure_create(&c, &mp), 0);
  static const struct {
    uint64_t mb;
    gsp_mem_level want;
  } steps[] = {
      {50, GSP_MEM_NORMAL},  {82, GSP_MEM_WARNING},  {78, GSP_MEM_WARNING},
      {74, GSP_MEM_NORMAL},  {95, GSP_MEM_CRITICAL}, {87, GSP_MEM_CRITICAL},
      {84, GSP_MEM_WARNING}, {91, GSP_MEM_CRITICAL}, {10, GSP_MEM_NORMAL},
  };
  for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++) {
    set_rss(&f, steps[i].mb * MB);
    gsp_mem_sample s = sample(mp, 0);
    assert_int_equal(s.level, steps[i].want);
    assert_int_equal(gsp_mempressure_level(mp), steps[i].want);
  }
  static const gsp_mem_level trans[][2] = {
      {GSP_MEM_NORMAL, GSP_MEM_WARNING},   {GSP_MEM_WARNING, GSP_MEM_NORMAL},
      {GSP_MEM_NORMAL, GSP_MEM_CRITICAL},  {GSP_MEM_CRITICAL, GSP_MEM_WARNING},
      {GSP_MEM_WARNING, GSP_MEM_CRITICAL}, {GSP_MEM_CRITICAL, GSP_MEM_NORMAL},
  };
  assert_int_equal(log.n, 6);
  gsp_mem_event hist[16];
  assert_int_equal(gsp_mempressure_history(mp, hist, 16), 6);
  for (int i = 0; i < 6; i++) {
    assert_int_equal(log.ev[i].from, trans[i][0]);
    assert_int_equal(log.ev[i].to, trans[i][1]);
    assert_int_equal(hist[i].to, trans[i][1]);
  }
  assert_int_equal(log.ev[2].rss_bytes, 95 * MB);
  assert_int_equal(log.ev[2].limit_bytes, 100 * MB);
  gsp_mempressure_destroy(mp);
  fx_done(&f);
}

static void test_history_bounded(void **st) {
  (void)st;
  fx f;
  fx_init(&f);
  gsp_mempressure_config c = fx_cfg(&f);
  c.max_memory_mb = 100;
  c.history = 3;
  c.gc_strategy = GSP_GC_PERIODIC;
  gsp_mempressure *mp;
  assert_int_equal(gsp_mempressure_create(&c, &mp), 0);
  for (int i = 0; i < 5; i++) {
    set_rss(&f, 95 * MB);
    (void)sample(mp, 0);
    set_rss(&f, 10 * MB);
    (void)sample(mp, 0);
  }
  gsp_mem_event h[8];
  assert_int_equal(gsp_mempressure_history(mp, h, 8), 3);
  assert_int_equal(h[0].to, GSP_MEM_NORMAL); /* the newest three: N, C, N */
  assert_int_equal(h[1].to, GSP_MEM_CRITICAL);
  assert_int_equal(h[2].to, GSP_MEM_NORMAL);
  gsp_mempressure_stats stats;
  gsp_mempressure_stats_get(mp, &stats);
  assert_int_equal(stats.events, 10);
  gsp_mempressure_destroy(mp);
  fx_done(&f);
}

/* ---- reclaim ----------------------------------------------------------------- */

typedef struct rcall {
  int calls;
  gsp_mem_level level;
  size_t wanted;
  size_t gives;
} rcall;

static size_t rec_fn(void *user, gsp_mem_level level, size_t wanted) {
  rcall *r = user;
  r->calls++;
  r->level = level;
  r->wanted = wanted;
  return r->gives;
}

static gsp_mempressure *reclaim_mp(fx *f, gsp_mempressure_config *c, rcall *a, rcall *b) {
  gsp_mempressure *mp;
  c->max_memory_mb = 100;
  assert_int_equal(gsp_mempressure_create(c, &mp), 0);
  assert_int_equal(gsp_mempressure_add_reclaimer(mp, "a", rec_fn, a), 0);
  assert_int_equal(gsp_mempressure_add_reclaimer(mp, "b", rec_fn, b), 0);
  (void)f;
  return mp;
}

static void test_threshold_reclaim_levels(void **st) {
  (void)st;
  fx f;
  fx_init(&f);
  rcall a = {.gives = 25 * MB}, b = {.gives = 1};
  gsp_mempressure_config c = fx_cfg(&f);
  gsp_mempressure *mp = reclaim_mp(&f, &c, &a, &b);
  set_rss(&f, 50 * MB);
  (void)sample(mp, 0);
  assert_int_equal(a.calls, 0); /* NORMAL: nothing */
  set_rss(&f, 85 * MB);
  (void)sample(mp, 0);
  assert_int_equal(a.calls, 1);
  assert_int_equal(a.level, GSP_MEM_WARNING);
  assert_int_equal(a.wanted, 20 * MB); /* BALANCED: down to 65 MB */
  assert_int_equal(b.calls, 0);        /* a covered the want */
  set_rss(&f, 95 * MB);
  (void)sample(mp, 0);
  assert_int_equal(a.level, GSP_MEM_CRITICAL);
  assert_int_equal(a.wanted, 30 * MB);
  assert_int_equal(b.calls, 1); /* CRITICAL: every reclaimer */
  assert_int_equal(b.level, GSP_MEM_CRITICAL);
  assert_int_equal(b.wanted, 5 * MB);
  gsp_mempressure_stats stats;
  gsp_mempressure_stats_get(mp, &stats);
  assert_int_equal(stats.reclaims, 2);
  assert_int_equal(stats.reclaimed_bytes, 50 * MB + 1);
  assert_int_equal(stats.trims, 0);
  gsp_mempressure_destroy(mp);
  fx_done(&f);
}

/* A removed reclaimer is never called again; the others keep their order;
 * removing an unknown name is GSP_ENOENT. */
static void test_remove_reclaimer(void **st) {
  (void)st;
  fx f;
  fx_init(&f);
  rcall a = {.gives = 0}, b = {.gives = 0};
  gsp_mempressure_config c = fx_cfg(&f);
  gsp_mempressure *mp = reclaim_mp(&f, &c, &a, &b);
  assert_int_equal(gsp_mempressure_remove_reclaimer(mp, "nope"), GSP_ENOENT);
  assert_int_equal(gsp_mempressure_remove_reclaimer(mp, NULL), GSP_EINVAL);
  assert_int_equal(gsp_mempressure_remove_reclaimer(mp, "a"), 0);
  assert_int_equal(gsp_mempressure_remove_reclaimer(mp, "a"), GSP_ENOENT);
  set_rss(&f, 95 * MB);
  (void)sample(mp, 0);
  assert_int_equal(a.calls, 0);
  assert_int_equal(b.calls, 1);
  assert_int_equal(b.wanted, 30 * MB); /* b is now first: asked for all of it */
  assert_int_equal(gsp_mempressure_add_reclaimer(mp, "a", rec_fn, &a), 0);
  assert_int_equal(gsp_mempressure_remove_reclaimer(mp, "b"), 0);
  (void)sample(mp, 0);
  assert_int_equal(a.calls, 1);
  assert_int_equal(b.calls, 1);
  gsp_mempressure_destroy(mp);
  fx_done(&f);
}

static void test_strategy_targets(void **st) {
  (void)st;
  static const struct {
    gsp_mem_strategy s;
    uint64_t target_mb;
    uint64_t trims;
  } t[] = {{GSP_MEM_CONSERVATIVE, 75, 0}, {GSP_MEM_BALANCED, 65, 0}, {GSP_MEM_AGGRESSIVE, 50, 1}};
  for (size_t i = 0; i < 3; i++) {
    fx f;
    fx_init(&f);
    rcall a = {.gives = 0}, b = {.gives = 0};
    gsp_mempressure_config c = fx_cfg(&f);
    c.mem_strategy = t[i].s;
    gsp_mempressure *mp = reclaim_mp(&f, &c, &a, &b);
    set_rss(&f, 92 * MB);
    (void)sample(mp, 0);
    assert_int_equal(a.wanted, (92 - t[i].target_mb) * MB);
    gsp_mempressure_stats stats;
    gsp_mempressure_stats_get(mp, &stats);
    assert_int_equal(stats.trims, t[i].trims);
    gsp_mempressure_destroy(mp);
    fx_done(&f);
  }
}

static void test_gc_threshold_mb(void **st) {
  (void)st;
  fx f;
  fx_init(&f);
  rcall a = {.gives = 0}, b = {.gives = 0};
  gsp_mempressure_config c = fx_cfg(&f);
  c.gc_threshold_mb = 40;
  gsp_mempressure *mp = reclaim_mp(&f, &c, &a, &b);
  set_rss(&f, 30 * MB);
  (void)sample(mp, 0);
  assert_int_equal(a.calls, 0);
  set_rss(&f, 60 * MB); /* NORMAL by ratio, but past gc_threshold_mb */
  gsp_mem_sample s = sample(mp, 0);
  assert_int_equal(s.level, GSP_MEM_NORMAL);
  assert_int_equal(a.calls, 1);
  assert_int_equal(a.level, GSP_MEM_WARNING);
  assert_int_equal(a.wanted, 20 * MB); /* down to 40 MB, below the 65 MB target */
  gsp_mempressure_destroy(mp);
  fx_done(&f);
}

static uint64_t fake_now(void *user) { return *(uint64_t *)user; }

static void test_periodic(void **st) {
  (void)st;
  fx f;
  fx_init(&f);
  uint64_t now = 1000000000u;
  rcall a = {.gives = 0}, b = {.gives = 0};
  gsp_mempressure_config c = fx_cfg(&f);
  c.gc_strategy = GSP_GC_PERIODIC;
  c.gc_interval_ms = 5000;
  c.clock = (gsp_clock){fake_now, &now};
  gsp_mempressure *mp = reclaim_mp(&f, &c, &a, &b);
  (void)sample(mp, 0);
  assert_int_equal(a.calls, 0);
  now += 4999000000u;
  (void)sample(mp, 0);
  assert_int_equal(a.calls, 0);
  now += 1000000u;
  (void)sample(mp, 0);
  assert_int_equal(a.calls, 1);
  assert_int_equal(a.level, GSP_MEM_NORMAL);
  assert_int_equal(a.wanted, 0); /* 10 MB is below the target */
  (void)sample(mp, 0);
  assert_int_equal(a.calls, 1);
  set_rss(&f, 95 * MB); /* CRITICAL reclaims whatever the strategy */
  (void)sample(mp, 0);
  assert_int_equal(a.calls, 2);
  assert_int_equal(a.level, GSP_MEM_CRITICAL);
  gsp_mempressure_destroy(mp);
  fx_done(&f);
}

static void psi(fx *f, const char *some) {
  char buf[160];
  snprintf(buf, sizeof buf, "some avg10=%s avg60=0.00 avg300=0.00 total=1\n", some);
  put_file(f->proc, "pressure/memory", buf);
}

static void test_adaptive_psi(void **st) {
  (void)st;
  fx f;
  fx_init(&f);
  rcall a = {.gives = 0}, b = {.gives = 0};
  gsp_mempressure_config c = fx_cfg(&f);
  c.gc_strategy = GSP_GC_ADAPTIVE;
  c.psi_rise = 2.0;
  gsp_mempressure *mp = reclaim_mp(&f, &c, &a, &b);
  psi(&f, "1.00");
  (void)sample(mp, 0);
  psi(&f, "2.50");
  set_rss(&f, 85 * MB); /* WARNING, but with PSI only a rise counts */
  (void)sample(mp, 0);
  assert_int_equal(a.calls, 0);
  psi(&f, "5.00");
  (void)sample(mp, 0);
  assert_int_equal(a.calls, 1);
  assert_int_equal(a.level, GSP_MEM_WARNING);
  psi(&f, "5.10");
  (void)sample(mp, 0);
  assert_int_equal(a.calls, 1);
  gsp_mempressure_destroy(mp);
  fx_done(&f);
}

/* ---- ready reclaimers, metrics, thread ---------------------------------------- */

static void test_pool_and_cache_reclaimers(void **st) {
  (void)st;
  gsp_pool_config pc = {.obj_size = 64};
  gsp_pool *p;
  assert_int_equal(gsp_pool_create(&pc, &p), 0);
  void *o = gsp_pool_alloc(p);
  assert_non_null(o);
  assert_int_equal(gsp_mem_reclaim_pool(p, GSP_MEM_WARNING, 0), 0); /* one live object */
  gsp_pool_free(p, o);
  assert_true(gsp_mem_reclaim_pool(p, GSP_MEM_WARNING, 0) > 0);
  gsp_pool_destroy(p);

  gsp_cache_config cc = {.max_bytes = 1 << 20, .shards = 1};
  gsp_cache *cache;
  size_t one = 1 + 5 + GSP_CACHE_ENTRY_OVERHEAD; /* bytes of one entry */
  assert_int_equal(gsp_cache_create(&cc, &cache), 0);
  assert_int_equal(gsp_cache_put(cache, "a", 1, "value", 5, NULL), 0);
  assert_int_equal(gsp_cache_put(cache, "b", 1, "value", 5, NULL), 0);
  assert_int_equal(gsp_mem_reclaim_cache(cache, GSP_MEM_WARNING, 0), 0); /* nothing wanted */
  /* below CRITICAL: only what is wanted, least recently used first */
  assert_int_equal(gsp_mem_reclaim_cache(cache, GSP_MEM_WARNING, 10), one);
  assert_false(gsp_cache_contains(cache, "a", 1));
  assert_true(gsp_cache_contains(cache, "b", 1));
  /* CRITICAL: everything */
  assert_int_equal(gsp_mem_reclaim_cache(cache, GSP_MEM_CRITICAL, 10), one);
  assert_false(gsp_cache_contains(cache, "b", 1));
  gsp_cache_destroy(cache);
  assert_string_equal(gsp_mem_level_name(GSP_MEM_CRITICAL), "critical");
}

static void test_metrics_export(void **st) {
  (void)st;
  fx f;
  fx_init(&f);
  gsp_metrics *m;
  assert_int_equal(gsp_metrics_create(NULL, &m), 0);
  gsp_mempressure_config c = fx_cfg(&f);
  c.max_memory_mb = 100;
  c.metrics = m;
  gsp_mempressure *mp;
  assert_int_equal(gsp_mempressure_create(&c, &mp), 0);
  set_rss(&f, 95 * MB);
  (void)sample(mp, 0);
  char *text;
  size_t len;
  assert_int_equal(gsp_metrics_render(m, GSP_METRICS_PROMETHEUS, &text, &len), 0);
  assert_non_null(strstr(text, "gsp_mem_pressure_level 2"));
  assert_non_null(strstr(text, "gsp_mem_limit_bytes 104857600"));
  assert_non_null(strstr(text, "gsp_mem_reclaims_total 1"));
  assert_non_null(strstr(text, "gsp_mem_level_changes_total{level=\"critical\"} 1\n"));
  assert_non_null(strstr(text, "gsp_mem_level_changes_total{level=\"warning\"} 0\n"));
  /* no cgroup and no PSI in this tree: those gauges are not exposed */
  assert_null(strstr(text, "\ngsp_mem_cgroup_limit_bytes "));
  assert_null(strstr(text, "\ngsp_mem_psi_some_avg10 "));
  gsp_free(text);
  /* back to NORMAL, then a v1 cgroup with a limit appears */
  set_rss(&f, 10 * MB);
  fx_v1(&f, "52428800\n");
  gsp_mempressure_destroy(mp);
  assert_int_equal(gsp_mempressure_create(&c, &mp), 0);
  (void)sample(mp, 0);
  assert_int_equal(gsp_metrics_render(m, GSP_METRICS_PROMETHEUS, &text, &len), 0);
  assert_non_null(strstr(text, "\ngsp_mem_cgroup_limit_bytes 52428800\n"));
  assert_non_null(strstr(text, "\ngsp_mem_cgroup_usage_bytes 12345\n"));
  assert_non_null(strstr(text, "\ngsp_mem_limit_bytes 52428800\n"));
  gsp_free(text);
  gsp_mempressure_destroy(mp);
  gsp_metrics_destroy(m);
  fx_done(&f);
}

static void test_start_stop(void **st) {
  (void)st;
  fx f;
  fx_init(&f);
  gsp_mempressure_config c = fx_cfg(&f);
  c.interval_ms = 3600 * 1000; /* stop must wake the sleep, not wait an hour */
  gsp_mempressure *mp;
  assert_int_equal(gsp_mempressure_create(&c, &mp), 0);
  assert_int_equal(gsp_mempressure_start(mp), 0);
  assert_int_equal(gsp_mempressure_start(mp), GSP_ESTATE);
  gsp_mempressure_stop(mp);
  gsp_mempressure_stop(mp);
  gsp_mempressure_stats stats;
  gsp_mempressure_stats_get(mp, &stats);
  assert_true(stats.samples <= 1);
  assert_int_equal(gsp_mempressure_start(mp), 0);
  gsp_mempressure_destroy(mp); /* stops the thread */
  fx_done(&f);
}

/* ---- the workload ------------------------------------------------------ */

#define VAL (1024 * 1024)
#define BATCH 4

static void test_workload_cache_under_limit(void **st) {
  (void)st;
  char *val = malloc(VAL);
  assert_non_null(val);
  memset(val, 0x5a, VAL);
  gsp_cache_config cc = {.max_bytes = (size_t)4 << 30};
  gsp_cache *cache;
  assert_int_equal(gsp_cache_create(&cc, &cache), 0);
  gsp_mempressure_config c = {0};
  gsp_mempressure *mp;
  assert_int_equal(gsp_mempressure_create(&c, &mp), 0);
  gsp_mem_sample s = sample(mp, 0);
  gsp_mempressure_destroy(mp);
  c.max_memory_mb = s.rss_bytes / MB + 64;
  c.gc_strategy = GSP_GC_THRESHOLD;
  assert_int_equal(gsp_mempressure_create(&c, &mp), 0);
  assert_int_equal(gsp_mempressure_add_reclaimer(mp, "cache", gsp_mem_reclaim_cache, cache), 0);
  for (int i = 0; i < 64 * 6; i += BATCH) { /* 384 MB put, 6 times the room */
    for (int j = i; j < i + BATCH; j++) {
      val[0] = (char)j;
      assert_int_equal(gsp_cache_put(cache, &j, sizeof j, val, VAL, NULL), 0);
    }
    assert_int_equal(gsp_mempressure_sample_now(mp, &s), 0);
    assert_true(s.rss_bytes < s.limit_bytes);
    assert_int_equal(s.limit_bytes, c.max_memory_mb * MB);
  }
  gsp_mempressure_stats stats;
  gsp_mempressure_stats_get(mp, &stats);
  gsp_cache_stats cs;
  gsp_cache_stats_get(cache, &cs);
  assert_true(stats.reclaims >= 1);
  assert_true(cs.evictions >= 1);
  assert_true(stats.reclaimed_bytes >= 32 * MB);
  gsp_mempressure_destroy(mp);
  gsp_cache_destroy(cache);
  free(val);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_v1_limit),
      cmocka_unit_test(test_v1_no_limit),
      cmocka_unit_test(test_v2_limit_and_events),
      cmocka_unit_test(test_v2_max),
      cmocka_unit_test(test_psi_present_absent),
      cmocka_unit_test(test_parse_errors_named),
      cmocka_unit_test(test_bad_config),
      cmocka_unit_test(test_state_machine_hysteresis),
      cmocka_unit_test(test_history_bounded),
      cmocka_unit_test(test_threshold_reclaim_levels),
      cmocka_unit_test(test_strategy_targets),
      cmocka_unit_test(test_gc_threshold_mb),
      cmocka_unit_test(test_periodic),
      cmocka_unit_test(test_adaptive_psi),
      cmocka_unit_test(test_remove_reclaimer),
      cmocka_unit_test(test_pool_and_cache_reclaimers),
      cmocka_unit_test(test_metrics_export),
      cmocka_unit_test(test_start_stop),
      cmocka_unit_test(test_workload_cache_under_limit),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
