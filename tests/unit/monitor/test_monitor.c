/*
 * test_monitor.c - behaviour of the monitor: /proc parsing against fixture
 * trees, retention downsampling math, the alert state machine on a fake
 * clock, JSON rule files and their errors, and regression detection on
 * seeded noise. Nothing here sleeps except the short wait for the
 * collector thread to survive parse errors; nothing asserts wall time.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "gsperf/monitor.h"

#define SEC 1000000000ull

/* ---- helpers ---------------------------------------------------------- */

static uint64_t g_now;
static uint64_t fake_now(void *u) {
  (void)u;
  return g_now;
}

static void put(const char *dir, const char *rel, const char *text) {
  char path[512];
  snprintf(path, sizeof path, "%s/%s", dir, rel);
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  fputs(text, f);
  fclose(f);
}

static void mk(const char *dir, const char *rel) {
  char path[512];
  snprintf(path, sizeof path, "%s/%s", dir, rel);
  mkdir(path, 0755);
}

static void rm_tree(const char *dir) {
  char cmd[600];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  assert_int_equal(system(cmd), 0);
}

static void proc_stat(const char *root, unsigned ut, unsigned st, unsigned busy, unsigned idle) {
  char buf[512];
  snprintf(buf, sizeof buf,
           "4242 (my (odd) prog) S 1 2 3 4 5 6 7 8 9 10 %u %u 0 0 20 0 3 0 100 1000 250\n", ut, st);
  put(root, "proc/self/stat", buf);
  snprintf(buf, sizeof buf, "cpu  %u 0 0 %u 0 0 0 0 0 0\ncpu0 1 2 3 4 5 6 7 8 9 10\n", busy, idle);
  put(root, "proc/stat", buf);
}

/* A proc tree and a cgroup v1 tree under root. */
static void make_fixtures(const char *root) {
  mk(root, "proc");
  mk(root, "proc/self");
  mk(root, "proc/self/fd");
  put(root, "proc/self/fd/a", "");
  put(root, "proc/self/fd/b", "");
  put(root, "proc/self/fd/c", "");
  proc_stat(root, 100, 50, 1000, 3000);
  put(root, "proc/self/statm", "5000 250 100 10 0 300 0\n");
  put(root, "proc/self/status",
      "Name:\tprog\nThreads:\t7\nvoluntary_ctxt_switches:\t120\n"
      "nonvoluntary_ctxt_switches:\t30\n");
  put(root, "proc/self/io", "rchar: 10\nwchar: 20\nread_bytes: 4096\nwrite_bytes: 8192\n");
  put(root, "proc/self/cgroup", "12:memory:/box\n11:cpuset:/\n4:cpu,cpuacct:/box\n0::/\n");
  put(root, "proc/meminfo", "MemTotal:       1000 kB\nMemFree: 5 kB\nMemAvailable:    600 kB\n");
  put(root, "proc/loadavg", "0.50 0.25 0.125 1/100 4242\n");
  mk(root, "cg");
  mk(root, "cg/memory");
  mk(root, "cg/memory/box");
  put(root, "cg/memory/box/memory.limit_in_bytes", "9223372036854771712\n");
  put(root, "cg/memory/box/memory.usage_in_bytes", "123456\n");
  mk(root, "cg/cpu,cpuacct");
  put(root, "cg/cpu,cpuacct/cpu.cfs_quota_us", "150000\n");
  put(root, "cg/cpu,cpuacct/cpu.cfs_period_us", "100000\n");
}

static gsp_monitor *fixture_monitor(const char *root, gsp_metrics *m) {
  char proc[300], cg[300];
  snprintf(proc, sizeof proc, "%s/proc", root);
  snprintf(cg, sizeof cg, "%s/cg", root);
  gsp_monitor *mon = NULL;
  gsp_monitor_config cfg = {.proc_root = proc,
                            .cgroup_root = cg,
                            .metrics = m,
                            .clock = {fake_now, NULL},
                            .collection_interval_ms = 2};
  assert_int_equal(gsp_monitor_create(&cfg, &mon), GSP_OK);
  return mon;
}

static bool has(const gsp_monitor_sample *s, gsp_monitor_field f) {
  return (s->present & (1u << f)) != 0;
}

/* ---- /proc parsing -------------------------------------------------------- */

static void test_parse_fixtures(void **state) {
  (void)state;
  char root[] = "/tmp/gsp-mon-XXXXXX";
  assert_non_null(mkdtemp(root));
  make_fixtures(root);
  gsp_metrics *m = NULL;
  assert_int_equal(gsp_metrics_create(NULL, &m), GSP_OK);
  gsp_monitor *mon = fixture_monitor(root, m);
  gsp_monitor_sample s;
  g_now = 10 * SEC;
  assert_int_equal(gsp_monitor_collect_now(mon, &s), GSP_OK);
  assert_false(has(&s, GSP_MON_PROC_CPU_PERCENT)); /* needs two samples */
  assert_false(has(&s, GSP_MON_CGROUP_MEM_LIMIT)); /* 2^63-4096: no limit */
  assert_true(has(&s, GSP_MON_CGROUP_MEM_USAGE));
  assert_true(s.v[GSP_MON_CGROUP_MEM_USAGE] == 123456.0);
  assert_true(s.v[GSP_MON_CGROUP_CPU_QUOTA] == 1.5);
  assert_true(s.v[GSP_MON_PROC_RSS_BYTES] == 250.0 * (double)sysconf(_SC_PAGESIZE));
  assert_true(s.v[GSP_MON_PROC_THREADS] == 7 && s.v[GSP_MON_PROC_OPEN_FDS] == 3);
  assert_true(s.v[GSP_MON_PROC_READ_BYTES] == 4096 && s.v[GSP_MON_PROC_WRITE_BYTES] == 8192);
  assert_true(s.v[GSP_MON_PROC_CTXSW_VOLUNTARY] == 120);
  assert_true(s.v[GSP_MON_PROC_CTXSW_INVOLUNTARY] == 30);
  assert_true(s.v[GSP_MON_MACHINE_MEM_TOTAL] == 1024000.0);
  assert_true(s.v[GSP_MON_MACHINE_MEM_AVAILABLE] == 614400.0);
  assert_true(s.v[GSP_MON_MACHINE_LOAD1] == 0.5 && s.v[GSP_MON_MACHINE_LOAD15] == 0.125);
  assert_true(has(&s, GSP_MON_PROC_HEAP_BYTES));
  /* absent values are not exposed (no "0" sample), present ones are */
  char *text = NULL;
  assert_int_equal(gsp_metrics_render(m, GSP_METRICS_PROMETHEUS, &text, NULL), GSP_OK);
  assert_null(strstr(text, "\ngsp_cgroup_memory_limit_bytes "));
  assert_null(strstr(text, "\ngsp_process_cpu_percent "));
  assert_non_null(strstr(text, "# TYPE gsp_cgroup_memory_limit_bytes gauge\n"));
  assert_non_null(strstr(text, "\ngsp_cgroup_memory_usage_bytes 123456\n"));
  gsp_free(text);
  /* one second later: 1.5 s of CPU time, machine 300 busy of 400 ticks */
  long hz = sysconf(_SC_CLK_TCK);
  proc_stat(root, 100 + (unsigned)hz, 50 + (unsigned)hz / 2, 1300, 3100);
  g_now = 11 * SEC;
  assert_int_equal(gsp_monitor_collect_now(mon, &s), GSP_OK);
  assert_true(fabs(s.v[GSP_MON_PROC_CPU_PERCENT] - 150.0) < 1e-9);
  assert_true(fabs(s.v[GSP_MON_MACHINE_CPU_PERCENT] - 75.0) < 1e-9);
  gsp_gauge *g = NULL;
  assert_int_equal(
      gsp_metrics_gauge_new(m, "gsp_process_cpu_percent", "gsperf system collector", &g), GSP_OK);
  assert_true(fabs(gsp_gauge_value(g) - 150.0) < 1e-9);
  gsp_monitor_point *pts = NULL;
  size_t n = 0;
  assert_int_equal(gsp_monitor_query(mon, "gsp_process_threads", NULL, 0, 20 * SEC, &pts, &n, NULL),
                   GSP_OK);
  assert_int_equal(n, 2);
  gsp_free(pts);
  /* cgroup v2 files win over v1 */
  put(root, "cg/memory.max", "1073741824\n");
  put(root, "cg/memory.current", "2048\n");
  put(root, "cg/cpu.max", "50000 100000\n");
  assert_int_equal(gsp_monitor_collect_now(mon, &s), GSP_OK);
  assert_true(s.v[GSP_MON_CGROUP_MEM_LIMIT] == 1073741824.0);
  assert_true(s.v[GSP_MON_CGROUP_MEM_USAGE] == 2048.0 && s.v[GSP_MON_CGROUP_CPU_QUOTA] == 0.5);
  put(root, "cg/memory.max", "max\n");
  put(root, "cg/cpu.max", "max 100000\n");
  assert_int_equal(gsp_monitor_collect_now(mon, &s), GSP_OK);
  assert_false(has(&s, GSP_MON_CGROUP_MEM_LIMIT) || has(&s, GSP_MON_CGROUP_CPU_QUOTA));
  /* a limit that goes away leaves the exposition with it */
  assert_int_equal(gsp_metrics_render(m, GSP_METRICS_PROMETHEUS, &text, NULL), GSP_OK);
  assert_null(strstr(text, "\ngsp_cgroup_memory_limit_bytes "));
  assert_null(strstr(text, "\ngsp_cgroup_cpu_quota_cores "));
  assert_non_null(strstr(text, "\ngsp_cgroup_memory_usage_bytes 2048\n"));
  gsp_free(text);
  gsp_monitor_destroy(mon);
  gsp_metrics_destroy(m);
  rm_tree(root);
}

static void test_parse_errors(void **state) {
  (void)state;
  char root[] = "/tmp/gsp-mon-XXXXXX";
  assert_non_null(mkdtemp(root));
  make_fixtures(root);
  put(root, "proc/self/status", "Threads:\tseven\nvoluntary_ctxt_switches:\t1\n");
  put(root, "proc/self/io", ""); /* unreadable io is absent; here: parse error later */
  unlink(strcat(strcpy((char[600]){0}, root), "/proc/self/io"));
  gsp_monitor *mon = fixture_monitor(root, NULL);
  gsp_monitor_sample s;
  assert_int_equal(gsp_monitor_collect_now(mon, &s), GSP_EFORMAT);
  char err[400];
  assert_int_equal(gsp_monitor_collect_error(mon, err, sizeof err), 1);
  assert_non_null(strstr(err, "/proc/self/status"));
  assert_non_null(strstr(err, "Threads:"));
  assert_false(has(&s, GSP_MON_PROC_THREADS) || has(&s, GSP_MON_PROC_READ_BYTES));
  assert_true(has(&s, GSP_MON_PROC_CTXSW_VOLUNTARY) && has(&s, GSP_MON_MACHINE_LOAD5));
  /* the collector thread keeps running through errors */
  assert_int_equal(gsp_monitor_start(mon), GSP_OK);
  assert_int_equal(gsp_monitor_start(mon), GSP_ESTATE);
  for (int i = 0; i < 2000 && gsp_monitor_collect_error(mon, NULL, 0) < 4; i++) usleep(1000);
  assert_true(gsp_monitor_collect_error(mon, NULL, 0) >= 4);
  assert_true(gsp_monitor_running(mon));
  gsp_monitor_stop(mon);
  assert_false(gsp_monitor_running(mon));
  put(root, "proc/loadavg", "x y z\n");
  put(root, "proc/self/status",
      "Threads: 3\nvoluntary_ctxt_switches: 1\nnonvoluntary_ctxt_switches: 2\n");
  assert_int_equal(gsp_monitor_collect_now(mon, &s), GSP_EFORMAT);
  gsp_monitor_collect_error(mon, err, sizeof err);
  assert_non_null(strstr(err, "loadavg: field load1"));
  gsp_monitor_destroy(mon);
  rm_tree(root);
}

static void test_real_proc(void **state) {
  (void)state;
  gsp_monitor *mon = NULL;
  assert_int_equal(gsp_monitor_create(NULL, &mon), GSP_OK);
  gsp_monitor_sample s;
  assert_int_equal(gsp_monitor_collect_now(mon, &s), GSP_OK);
  assert_true(has(&s, GSP_MON_PROC_RSS_BYTES) && s.v[GSP_MON_PROC_RSS_BYTES] > 0);
  assert_true(has(&s, GSP_MON_PROC_THREADS) && s.v[GSP_MON_PROC_THREADS] >= 1);
  assert_true(has(&s, GSP_MON_MACHINE_MEM_TOTAL));
  assert_string_equal(gsp_monitor_field_name(GSP_MON_PROC_CPU_PERCENT), "gsp_process_cpu_percent");
  assert_null(gsp_monitor_field_name(GSP_MON_NFIELDS));
  gsp_monitor_destroy(mon);
}

/* ---- retention ------------------------------------------------------------ */

static void test_retention_math(void **state) {
  (void)state;
  gsp_monitor *mon = NULL;
  gsp_monitor_config cfg = {.tiers = {{1000, 10}, {10000, 5}}, .ntiers = 2, .max_series = 2};
  assert_int_equal(gsp_monitor_create(&cfg, &mon), GSP_OK);
  for (uint64_t t = 0; t < 30; t++)
    assert_int_equal(gsp_monitor_record(mon, "x", NULL, (double)t, t * SEC + 5), GSP_OK);
  gsp_monitor_point *p = NULL;
  size_t n = 0;
  uint32_t step = 0;
  /* the 1 s tier has only 20..29 left: a range from 25 s uses it */
  assert_int_equal(gsp_monitor_query(mon, "x", NULL, 25 * SEC, 100 * SEC, &p, &n, &step), GSP_OK);
  assert_int_equal(step, 1000);
  assert_int_equal(n, 5);
  assert_true(p[0].t_ns == 25 * SEC && p[0].mean == 25 && p[0].count == 1);
  gsp_free(p);
  /* from 0 it has dropped data: the 10 s tier, exact min/max/mean/count */
  assert_int_equal(gsp_monitor_query(mon, "x", NULL, 0, 100 * SEC, &p, &n, &step), GSP_OK);
  assert_int_equal(step, 10000);
  assert_int_equal(n, 3);
  for (size_t i = 0; i < 3; i++) {
    assert_true(p[i].t_ns == i * 10 * SEC && p[i].count == 10);
    assert_true(p[i].min == i * 10.0 && p[i].max == i * 10.0 + 9 && p[i].mean == i * 10.0 + 4.5);
  }
  gsp_free(p);
  /* a late value folds into the newest point */
  assert_int_equal(gsp_monitor_record(mon, "x", NULL, 100, 3 * SEC), GSP_OK);
  assert_int_equal(gsp_monitor_query(mon, "x", NULL, 29 * SEC, 29 * SEC, &p, &n, NULL), GSP_OK);
  assert_true(n == 1 && p[0].max == 100 && p[0].count == 2);
  gsp_free(p);
  /* rings keep only `points`: 40 more seconds leave 5 coarse points */
  for (uint64_t t = 30; t < 100; t++) gsp_monitor_record(mon, "x", NULL, 1, t * SEC);
  assert_int_equal(gsp_monitor_query(mon, "x", NULL, 0, 200 * SEC, &p, &n, NULL), GSP_OK);
  assert_true(n == 5 && p[0].t_ns == 50 * SEC);
  gsp_free(p);
  /* labels make distinct series; limits */
  assert_int_equal(gsp_monitor_record(mon, "x", "fn=\"a\"", 1, 0), GSP_OK);
  assert_int_equal(gsp_monitor_record(mon, "y", NULL, 1, 0), GSP_ENOSPC);
  assert_non_null(strstr(gsp_monitor_errmsg(mon), "max_series"));
  assert_int_equal(gsp_monitor_record(mon, "x", NULL, NAN, 0), GSP_EINVAL);
  assert_int_equal(gsp_monitor_query(mon, "nope", NULL, 0, 1, &p, &n, NULL), GSP_ENOENT);
  assert_int_equal(gsp_monitor_series_count(mon), 2);
  assert_int_equal(gsp_monitor_series_bytes(mon, "x", NULL),
                   15 * sizeof(gsp_monitor_point) + GSP_MONITOR_SERIES_OVERHEAD + 1 + 2);
  gsp_monitor_destroy(mon);
  /* defaults: 3600 + 2160 + 1440 points */
  assert_int_equal(gsp_monitor_create(NULL, &mon), GSP_OK);
  assert_int_equal(gsp_monitor_record(mon, "bad name", NULL, 1, 0), GSP_EINVAL);
  assert_int_equal(gsp_monitor_series_bytes(mon, "ab", NULL),
                   7200 * 40 + GSP_MONITOR_SERIES_OVERHEAD + 4);
  gsp_monitor_destroy(mon);
  cfg.tiers[1].step_ms = 0;
  assert_int_equal(gsp_monitor_create(&cfg, &mon), GSP_EINVAL);
}

/* ---- alerts ---------------------------------------------------------------- */

static gsp_alert_event g_cb[16];
static int g_ncb;
static void on_alert(void *u, const gsp_alert_event *ev) {
  (void)u;
  if (g_ncb < 16) g_cb[g_ncb++] = *ev;
}

static gsp_alert_state state_of(gsp_monitor *mon, const char *name) {
  gsp_alert_state st = GSP_ALERT_INACTIVE;
  assert_int_equal(gsp_monitor_rule_state(mon, name, &st), GSP_OK);
  return st;
}

static void step(gsp_monitor *mon, double v, uint64_t t_s) {
  assert_int_equal(gsp_monitor_record(mon, "load", "host=\"a\"", v, t_s * SEC), GSP_OK);
  assert_int_equal(gsp_monitor_evaluate(mon, t_s * SEC), GSP_OK);
}

static void test_alert_state_machine(void **state) {
  (void)state;
  g_ncb = 0;
  gsp_monitor *mon = NULL;
  gsp_monitor_config cfg = {.on_alert = on_alert, .max_events = 3};
  assert_int_equal(gsp_monitor_create(&cfg, &mon), GSP_OK);
  gsp_alert_rule r = {.name = "hot",
                      .metric = "load",
                      .cmp = GSP_ALERT_GT,
                      .threshold = 10,
                      .level = GSP_ALERT_CRITICAL,
                      .for_ms = 5000,
                      .cooldown_ms = 60000};
  assert_int_equal(gsp_monitor_add_rule(mon, &r), GSP_OK);
  assert_int_equal(gsp_monitor_add_rule(mon, &r), GSP_EEXIST);
  step(mon, 11, 0);
  assert_int_equal(state_of(mon, "hot"), GSP_ALERT_PENDING);
  step(mon, 5, 2); /* dropped before for_ms: back to inactive */
  assert_int_equal(state_of(mon, "hot"), GSP_ALERT_INACTIVE);
  step(mon, 12, 3);
  step(mon, 12, 7);
  assert_int_equal(state_of(mon, "hot"), GSP_ALERT_PENDING);
  assert_int_equal(g_ncb, 0);
  step(mon, 12, 8); /* held 5 s */
  assert_int_equal(state_of(mon, "hot"), GSP_ALERT_FIRING);
  assert_int_equal(g_ncb, 1);
  assert_true(g_cb[0].kind == GSP_EVENT_FIRING && g_cb[0].value == 12 && g_cb[0].t_ns == 8 * SEC);
  assert_string_equal(g_cb[0].rule, "hot");
  step(mon, 1, 9);
  assert_int_equal(state_of(mon, "hot"), GSP_ALERT_RESOLVED);
  assert_true(g_ncb == 2 && g_cb[1].kind == GSP_EVENT_RESOLVED);
  /* cooldown: the condition holds again for 5 s, but only 60 s after firing */
  step(mon, 20, 10);
  step(mon, 20, 30);
  assert_int_equal(state_of(mon, "hot"), GSP_ALERT_PENDING);
  step(mon, 20, 67);
  assert_int_equal(g_ncb, 2);
  step(mon, 20, 68); /* fired at 8, cooldown 60 s */
  assert_int_equal(state_of(mon, "hot"), GSP_ALERT_FIRING);
  assert_int_equal(g_ncb, 3);
  step(mon, 0, 70);
  /* history keeps the last 3 of 4 events, oldest first */
  gsp_alert_event ev[8];
  assert_int_equal(gsp_monitor_events(mon, ev, 8), 3);
  assert_true(ev[0].kind == GSP_EVENT_RESOLVED && ev[2].kind == GSP_EVENT_RESOLVED);
  assert_true(ev[1].t_ns == 68 * SEC && ev[1].level == GSP_ALERT_CRITICAL);
  /* comparisons, labels, for_ms 0 */
  gsp_alert_rule r2 = {.name = "b_low",
                       .metric = "load",
                       .labels = "host=\"b\"",
                       .cmp = GSP_ALERT_LE,
                       .threshold = 1};
  assert_int_equal(gsp_monitor_add_rule(mon, &r2), GSP_OK);
  step(mon, 0, 71); /* host a is 0, but the rule watches host b */
  assert_int_equal(state_of(mon, "b_low"), GSP_ALERT_INACTIVE);
  gsp_monitor_record(mon, "load", "host=\"b\"", 1, 72 * SEC);
  gsp_monitor_evaluate(mon, 72 * SEC);
  assert_int_equal(state_of(mon, "b_low"), GSP_ALERT_FIRING);
  gsp_alert_state st;
  assert_int_equal(gsp_monitor_rule_state(mon, "none", &st), GSP_ENOENT);
  gsp_alert_rule bad = {.name = "x", .metric = "bad metric"};
  assert_int_equal(gsp_monitor_add_rule(mon, &bad), GSP_EINVAL);
  assert_string_equal(gsp_alert_level_name(GSP_ALERT_ERROR), "ERROR");
  assert_string_equal(gsp_alert_state_name(GSP_ALERT_RESOLVED), "resolved");
  gsp_monitor_destroy(mon);
}

/* ---- JSON rules --------------------------------------------------------------- */

static int load_text(gsp_monitor *mon, const char *text) {
  char path[] = "/tmp/gsp-rules-XXXXXX";
  int fd = mkstemp(path);
  assert_true(fd >= 0);
  assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
  close(fd);
  int rv = gsp_monitor_load_rules(mon, path);
  unlink(path);
  return rv;
}

static void test_rules_json(void **state) {
  (void)state;
  gsp_monitor *mon = NULL;
  assert_int_equal(gsp_monitor_create(NULL, &mon), GSP_OK);
  assert_int_equal(
      load_text(mon,
                "{\"rules\": [{\"name\": \"a\", \"metric\": \"m\", \"comparison\": \">=\","
                " \"threshold\": 2, \"level\": \"ERROR\", \"for_ms\": 0},"
                " {\"name\": \"b\", \"metric\": \"m\", \"labels\": \"k=\\\"v\\\"\","
                " \"comparison\": \"!=\", \"threshold\": 0.5, \"cooldown_ms\": 10}]}"),
      GSP_OK);
  gsp_monitor_record(mon, "m", NULL, 2, 0);
  gsp_monitor_evaluate(mon, 0);
  assert_int_equal(state_of(mon, "a"), GSP_ALERT_FIRING);
  assert_int_equal(state_of(mon, "b"), GSP_ALERT_INACTIVE);
  /* errors name the file, the rule and the field; nothing is added */
  assert_int_equal(
      load_text(mon,
                "[{\"name\": \"c\", \"metric\": \"m\", \"comparison\": \">\", \"threshold\": 1},"
                " {\"name\": \"d\", \"metric\": \"m\", \"comparison\": \"=>\", \"threshold\": 1}]"),
      GSP_EFORMAT);
  const char *e = gsp_monitor_errmsg(mon);
  assert_non_null(strstr(e, "/tmp/gsp-rules-"));
  assert_non_null(strstr(e, "rule 1 (d)"));
  assert_non_null(strstr(e, "\"comparison\""));
  assert_int_equal(gsp_monitor_rule_state(mon, "c", &(gsp_alert_state){0}), GSP_ENOENT);
  assert_int_equal(
      load_text(
          mon,
          "[{\"name\": \"e\", \"metric\": \"m\", \"comparison\": \">\", \"threshold\": \"1\"}]"),
      GSP_EFORMAT);
  assert_non_null(strstr(gsp_monitor_errmsg(mon), "rule 0 (e): field \"threshold\""));
  assert_int_equal(load_text(mon,
                             "[{\"name\": \"f\", \"metric\": \"m\", \"comparison\": \">\", "
                             "\"threshold\": 1, \"lvl\": 1}]"),
                   GSP_EFORMAT);
  assert_non_null(strstr(gsp_monitor_errmsg(mon), "field \"lvl\": unknown key"));
  assert_int_equal(load_text(mon,
                             "[{\"name\": \"g\", \"metric\": \"m\", \"comparison\": \">\", "
                             "\"threshold\": 1, \"level\": \"LOUD\"}]"),
                   GSP_EFORMAT);
  assert_non_null(strstr(gsp_monitor_errmsg(mon), "field \"level\""));
  assert_int_equal(load_text(mon, "[{\"metric\": \"m\"}]"), GSP_EFORMAT);
  assert_non_null(strstr(gsp_monitor_errmsg(mon), "rule 0 (?): field \"name\": missing"));
  assert_int_equal(load_text(mon,
                             "[{\"name\": \"h\", \"metric\": \"m\", \"comparison\": \">\", "
                             "\"threshold\": 1, \"for_ms\": -1}]"),
                   GSP_EFORMAT);
  assert_non_null(strstr(gsp_monitor_errmsg(mon), "field \"for_ms\""));
  assert_int_equal(
      load_text(mon,
                "[{\"name\": \"a\", \"metric\": \"m\", \"comparison\": \">\", \"threshold\": 1}]"),
      GSP_EEXIST);
  assert_non_null(strstr(gsp_monitor_errmsg(mon), "rule 0 (a)"));
  assert_int_equal(load_text(mon, "[{\"name\": "), GSP_EFORMAT);
  assert_int_equal(load_text(mon, "{\"x\": 1}"), GSP_EFORMAT);
  assert_int_equal(gsp_monitor_load_rules(mon, "/nonexistent/rules.json"), GSP_EIO);
  assert_non_null(strstr(gsp_monitor_errmsg(mon), "/nonexistent/rules.json"));
  gsp_monitor_destroy(mon);
}

/* ---- regression detection ------------------------------------------------------ */

static uint64_t g_rng;
static double uniform(void) {
  g_rng ^= g_rng << 13;
  g_rng ^= g_rng >> 7;
  g_rng ^= g_rng << 17;
  return ((double)(g_rng >> 11) + 0.5) / 9007199254740992.0;
}
/* A duration around 1 ms with lognormal noise (sigma 0.25) */
static double duration(double scale) {
  double z = sqrt(-2 * log(uniform())) * cos(6.283185307179586 * uniform());
  return 1e-3 * scale * exp(0.25 * z);
}

static void test_regress_stationary(void **state) {
  (void)state;
  for (uint64_t seed = 1; seed <= 3; seed++) {
    g_rng = 0x9E3779B97F4A7C15ull * seed;
    gsp_regress *r = NULL;
    assert_int_equal(gsp_regress_create(NULL, &r), GSP_OK);
    double zmax = 0;
    for (int i = 0; i < 10000; i++) {
      gsp_regress_add(r, duration(1.0));
      gsp_regress_result res;
      if (gsp_regress_test(r, &res)) fail_msg("false alarm at %d (z %.2f)", i, res.z);
      if (res.z > zmax) zmax = res.z;
    }
    print_message("stationary seed %llu: max z %.2f\n", (unsigned long long)seed, zmax);
    gsp_regress_destroy(r);
  }
}

static void test_regress_slowdown(void **state) {
  (void)state;
  for (uint64_t seed = 1; seed <= 3; seed++) {
    g_rng = 0xD1B54A32D192ED03ull * seed;
    gsp_regress *r = NULL;
    assert_int_equal(gsp_regress_create(NULL, &r), GSP_OK);
    int found = -1;
    for (int i = 0; i < 10000 && found < 0; i++) {
      gsp_regress_add(r, duration(i < 5000 ? 1.0 : 1.2));
      gsp_regress_result res;
      if (gsp_regress_test(r, &res)) {
        assert_true(i >= 5000);
        assert_true(res.recent_median > res.baseline_median * 1.05);
        found = i - 5000;
      }
    }
    print_message("slowdown seed %llu: found %d points after injection\n", (unsigned long long)seed,
                  found);
    assert_true(found >= 0 && found <= 200);
    gsp_regress_destroy(r);
  }
  assert_int_equal(gsp_regress_create(&(gsp_regress_config){.baseline = 2}, &(gsp_regress *){0}),
                   GSP_EINVAL);
}

static void test_monitor_regression_event(void **state) {
  (void)state;
  g_ncb = 0;
  g_rng = 42;
  gsp_monitor *mon = NULL;
  gsp_monitor_config cfg = {.on_alert = on_alert, .regress_baseline = 200, .regress_recent = 50};
  assert_int_equal(gsp_monitor_create(&cfg, &mon), GSP_OK);
  int found = -1;
  for (int i = 0; i < 3000 && found < 0; i++) {
    gsp_monitor_record(mon, "parse_seconds", "lang=\"c\"", duration(i < 2000 ? 1 : 1.2),
                       (uint64_t)i * SEC / 10);
    gsp_monitor_record(mon, "parse_total", NULL, i, (uint64_t)i * SEC / 10); /* not a duration */
    if (i % 10 == 9) gsp_monitor_evaluate(mon, (uint64_t)i * SEC / 10);
    if (g_ncb > 0) found = i;
  }
  assert_true(found >= 2000 && found <= 2200);
  assert_true(g_cb[0].kind == GSP_EVENT_REGRESSION && g_cb[0].z >= 4.5);
  assert_string_equal(g_cb[0].series, "parse_seconds");
  assert_true(g_cb[0].value > g_cb[0].baseline);
  gsp_monitor_destroy(mon);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_parse_fixtures),
      cmocka_unit_test(test_parse_errors),
      cmocka_unit_test(test_real_proc),
      cmocka_unit_test(test_retention_math),
      cmocka_unit_test(test_alert_state_machine),
      cmocka_unit_test(test_rules_json),
      cmocka_unit_test(test_regress_stationary),
      cmocka_unit_test(test_regress_slowdown),
      cmocka_unit_test(test_monitor_regression_event),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
