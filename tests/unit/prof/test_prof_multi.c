/*
 * test_prof_multi.c - reports of several processes read from one
 * directory (gsp_prof_multi_load, gsp_prof_heap_load_dir), made from
 * files this test writes: raw CPU files of two in-process profiles (each
 * burning in its own function) under different pids, a copy cut in the
 * middle of its last record, a garbage file, one without its memory map,
 * a badly named one; heap files with and without a leak, one whose last
 * line is cut. Checked: which processes are read, the problems naming
 * each bad file, the merged functions and their pids, the writers, and
 * every allocation failed in turn.
 */
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

#include "gsperf/prof.h"

#include "../../support/fault_alloc.h"
#include "prof_test_util.h"

static volatile uint64_t g_sink;
static char g_dir[128], g_fault_dir[256];

__attribute__((noinline)) static void multi_work_a(double s) {
  uint64_t x = g_sink + 1;
  for (double end = cpu_now() + s; cpu_now() < end;)
    for (int i = 0; i < 1000; i++) x = x * 6364136223846793005ull + 1;
  g_sink = x;
}

__attribute__((noinline)) static void multi_work_b(double s) {
  uint64_t x = g_sink + 3;
  for (double end = cpu_now() + s; cpu_now() < end;)
    for (int i = 0; i < 1000; i++) x = x * 2862933555777941757ull + 7;
  g_sink = x;
}

/* A function whose address a synthetic heap file names. */
__attribute__((noinline)) static void multi_heap_site(void) { g_sink++; }

static void path_in(char *out, size_t cap, const char *dir, const char *name) {
  snprintf(out, cap, "%s/%s", dir, name);
}

/* Profiles work(s) in-process into DIR/NAME (+ .maps). */
static void profile_to(const char *dir, const char *name, void (*work)(double), double s) {
  char p[512];
  path_in(p, sizeof p, dir, name);
  gsp_prof *prof;
  assert_int_equal(gsp_prof_create(&(gsp_prof_config){.hz = 997, .raw_path = p}, &prof), GSP_OK);
  assert_int_equal(gsp_prof_start(prof), GSP_OK);
  work(s);
  assert_int_equal(gsp_prof_stop(prof), GSP_OK);
  gsp_prof_destroy(prof);
}

/* Copies DIR/FROM to DIR/TO without its last `cut` bytes. */
static void copy_cut(const char *dir, const char *from, const char *to, long cut) {
  char a[512], b[512], buf[1 << 16];
  path_in(a, sizeof a, dir, from);
  path_in(b, sizeof b, dir, to);
  FILE *in = fopen(a, "rb"), *out = fopen(b, "wb");
  assert_non_null(in);
  assert_non_null(out);
  size_t n, total = 0;
  while ((n = fread(buf, 1, sizeof buf, in)) > 0) total += fwrite(buf, 1, n, out);
  fclose(in);
  assert_int_equal(fclose(out), 0);
  assert_int_equal(truncate(b, (off_t)total - cut), 0);
}

static void write_text(const char *dir, const char *name, const char *text) {
  char p[512];
  path_in(p, sizeof p, dir, name);
  FILE *f = fopen(p, "w");
  assert_non_null(f);
  fputs(text, f);
  assert_int_equal(fclose(f), 0);
}

static int setup(void **state) {
  (void)state;
  snprintf(g_dir, sizeof g_dir, "/tmp/gsp_multi_%ld", (long)getpid());
  snprintf(g_fault_dir, sizeof g_fault_dir, "%s/fault", g_dir);
  if (mkdir(g_dir, 0755) != 0 || mkdir(g_fault_dir, 0755) != 0) return -1;
  profile_to(g_dir, "cpu.100.raw", multi_work_a, 0.3);
  copy_cut(g_dir, "cpu.100.raw.maps", "cpu.300.raw.maps", 0);
  copy_cut(g_dir, "cpu.100.raw", "cpu.300.raw", 5); /* mid-record */
  profile_to(g_dir, "cpu.200.raw", multi_work_b, 0.3);
  copy_cut(g_dir, "cpu.200.raw", "cpu.500.raw", 0); /* no .maps */
  write_text(g_dir, "cpu.400.raw", "this is not a raw sample file\n");
  write_text(g_dir, "cpu.abc.raw", "GSPRAW1\n");
  write_text(g_dir, "notes.txt", "not the profiler's\n");
  profile_to(g_fault_dir, "cpu.7.raw", multi_work_a, 0.05);
  copy_cut(g_fault_dir, "cpu.7.raw", "cpu.8.raw", 3);
  write_text(g_fault_dir, "cpu.9.raw", "junk");
  return 0;
}

static int teardown(void **state) {
  (void)state;
  char cmd[600];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
  return system(cmd) == 0 ? 0 : -1;
}

static const gsp_prof_process *proc_of(const gsp_prof_multi *m, long pid, size_t *idx) {
  const gsp_prof_process *p;
  size_t n = gsp_prof_multi_processes(m, &p);
  for (size_t i = 0; i < n; i++) {
    if (p[i].pid != pid) continue;
    if (idx) *idx = i;
    return &p[i];
  }
  return NULL;
}

static bool problem_has(const char *const *msg, size_t n, const char *file, const char *what) {
  char path[512];
  path_in(path, sizeof path, g_dir, file);
  for (size_t i = 0; i < n; i++)
    if (strncmp(msg[i], path, strlen(path)) == 0 && strstr(msg[i], what)) return true;
  return false;
}

static const gsp_prof_multi_func *func_named(const gsp_prof_multi *m, const char *name) {
  const gsp_prof_multi_func *f;
  size_t n = gsp_prof_multi_functions(m, &f);
  for (size_t i = 0; i < n; i++)
    if (strcmp(f[i].f.name, name) == 0) return &f[i];
  return NULL;
}

static void test_processes_and_problems(void **state) {
  (void)state;
  gsp_prof_multi *m;
  assert_int_equal(gsp_prof_multi_load(g_dir, 0, &m), GSP_OK);
  const gsp_prof_process *procs;
  assert_int_equal(gsp_prof_multi_processes(m, &procs), 4); /* 100 200 300 500 */
  const gsp_prof_process *a = proc_of(m, 100, NULL), *b = proc_of(m, 200, NULL);
  const gsp_prof_process *cut = proc_of(m, 300, NULL), *nomap = proc_of(m, 500, NULL);
  assert_non_null(a);
  assert_non_null(b);
  assert_non_null(cut);
  assert_non_null(nomap);
  assert_null(proc_of(m, 400, NULL));
  assert_true(a->samples > 50 && b->samples > 50);
  assert_true(cut->truncated && !a->truncated);
  assert_true(cut->samples > 0 && cut->samples < a->samples);
  assert_int_equal(nomap->samples, b->samples);
  assert_non_null(strstr(a->exe, "test_prof_multi"));
  assert_string_equal(a->comm, "test_prof_multi");
  assert_string_equal(nomap->comm, "pid 500");
  assert_int_equal(a->exit, GSP_PROF_EXIT_UNKNOWN);
  assert_int_equal(gsp_prof_multi_samples(m),
                   a->samples + b->samples + cut->samples + nomap->samples);
  const char *const *msg;
  size_t np = gsp_prof_multi_problems(m, &msg);
  assert_int_equal(np, 4);
  assert_true(problem_has(msg, np, "cpu.300.raw", "last record cut short"));
  assert_true(problem_has(msg, np, "cpu.400.raw", "not a gsperf CPU sample file"));
  assert_true(problem_has(msg, np, "cpu.500.raw.maps", "missing"));
  assert_true(problem_has(msg, np, "cpu.abc.raw", "not named cpu.<pid>.raw"));
  gsp_prof_multi_destroy(m);
}

static void test_merged_functions(void **state) {
  (void)state;
  gsp_prof_multi *m;
  assert_int_equal(gsp_prof_multi_load(g_dir, 0, &m), GSP_OK);
  size_t ia = 0, ib = 0, ic = 0;
  const gsp_prof_process *a = proc_of(m, 100, &ia), *b = proc_of(m, 200, &ib);
  const gsp_prof_process *c = proc_of(m, 300, &ic);
  const gsp_prof_multi_func *fa = func_named(m, "multi_work_a");
  const gsp_prof_multi_func *fb = func_named(m, "multi_work_b");
  assert_non_null(fa);
  assert_non_null(fb);
  assert_int_equal(fa->nprocs, 2); /* 100 and its cut copy 300 */
  assert_true((fa->procs[0] == ia && fa->procs[1] == ic) ||
              (fa->procs[0] == ic && fa->procs[1] == ia));
  assert_int_equal(fb->nprocs, 1); /* 500 has no map: addresses only */
  assert_int_equal(fb->procs[0], ib);
  uint64_t all = gsp_prof_multi_samples(m);
  assert_true(fa->f.self > (a->samples + c->samples) * 8 / 10);
  assert_true(fb->f.self > b->samples * 8 / 10);
  assert_true(fa->f.self_pct > 0 && fa->f.self_pct < 100);
  double sum = 0;
  const gsp_prof_multi_func *f;
  size_t n = gsp_prof_multi_functions(m, &f);
  for (size_t i = 0; i < n; i++) {
    sum += f[i].f.self_pct;
    if (i) assert_true(f[i - 1].f.self >= f[i].f.self);
  }
  assert_true(sum > 99.9 && sum < 100.1);
  assert_true(all > 0);
  const gsp_prof_report *r = gsp_prof_multi_report(m, ia);
  assert_int_equal(gsp_prof_report_samples(r), a->samples);
  assert_null(gsp_prof_multi_report(m, 99));
  gsp_prof_multi_destroy(m);
}

static char *read_all(const char *path) {
  FILE *f = fopen(path, "rb");
  assert_non_null(f);
  static char buf[1 << 20];
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[n] = '\0';
  return buf;
}

static void test_writers(void **state) {
  (void)state;
  gsp_prof_multi *m;
  assert_int_equal(gsp_prof_multi_load(g_dir, 0, &m), GSP_OK);
  assert_true(gsp_prof_multi_set_exit(m, 100, 3));
  assert_false(gsp_prof_multi_set_exit(m, 4242, 1));
  char p[512];
  path_in(p, sizeof p, g_dir, "out.collapsed");
  assert_int_equal(gsp_prof_multi_write_collapsed(m, p), GSP_OK);
  const char *text = read_all(p);
  assert_non_null(strstr(text, "test_prof_multi [200];"));
  assert_non_null(strstr(text, ";multi_work_b "));
  for (const char *l = text; *l; l = strchr(l, '\n') + 1)
    assert_true(strncmp(l, "test_prof_multi [", 17) == 0 || strncmp(l, "pid 500 [500];", 14) == 0);
  path_in(p, sizeof p, g_dir, "out.svg");
  assert_int_equal(gsp_prof_multi_write_flame(m, p, "t"), GSP_OK);
  text = read_all(p);
  assert_non_null(strstr(text, "<title>test_prof_multi [100] ("));
  assert_non_null(strstr(text, "function search(re)"));
  assert_null(strstr(text, "href"));
  path_in(p, sizeof p, g_dir, "out.pb.gz");
  assert_int_equal(gsp_prof_multi_write_pprof(m, p), GSP_OK);
  path_in(p, sizeof p, g_dir, "out.json");
  FILE *f = fopen(p, "w");
  assert_int_equal(gsp_prof_multi_write_json(m, f, 10), GSP_OK);
  fclose(f);
  text = read_all(p);
  assert_non_null(strstr(text, "{\"pid\":100,"));
  assert_non_null(strstr(text, "\"exit\":3,"));
  assert_non_null(strstr(text, "\"exit\":null,"));
  assert_non_null(strstr(text, "cpu.400.raw: not a gsperf CPU sample file"));
  path_in(p, sizeof p, g_dir, "out.txt");
  f = fopen(p, "w");
  assert_int_equal(gsp_prof_multi_write_text(m, f, 10), GSP_OK);
  fclose(f);
  text = read_all(p);
  assert_non_null(strstr(text, "Processes: 4"));
  assert_non_null(strstr(text, "multi_work_b"));
  assert_non_null(strstr(text, "problem: "));
  gsp_prof_multi_destroy(m);
}

static void test_empty_and_missing(void **state) {
  (void)state;
  char p[512];
  path_in(p, sizeof p, g_dir, "empty");
  assert_int_equal(mkdir(p, 0755), 0);
  gsp_prof_multi *m;
  assert_int_equal(gsp_prof_multi_load(p, 0, &m), GSP_OK);
  const gsp_prof_process *procs;
  assert_int_equal(gsp_prof_multi_processes(m, &procs), 0);
  assert_int_equal(gsp_prof_multi_samples(m), 0);
  char out[600];
  snprintf(out, sizeof out, "%s/e.svg", p);
  assert_int_equal(gsp_prof_multi_write_flame(m, out, NULL), GSP_OK);
  snprintf(out, sizeof out, "%s/e.pb.gz", p);
  assert_int_equal(gsp_prof_multi_write_pprof(m, out), GSP_OK);
  gsp_prof_multi_destroy(m);
  path_in(p, sizeof p, g_dir, "no_such_dir");
  assert_int_equal(gsp_prof_multi_load(p, 0, &m), GSP_ENOENT);
  gsp_prof_heap *h;
  assert_int_equal(gsp_prof_heap_load_dir(p, &h), GSP_ENOENT);
}

/* Heap files: pid 100 leaks 64 bytes from multi_heap_site, pid 200 has
 * the same site without a leak, pid 300's second line is cut. */
static void test_heap_dir(void **state) {
  (void)state;
  char p[512], line[256];
  path_in(p, sizeof p, g_dir, "heap");
  assert_int_equal(mkdir(p, 0755), 0);
  unsigned long long pc = (unsigned long long)(uintptr_t)&multi_heap_site + 1;
  snprintf(line, sizeof line, "gsperf-heap 1 sample 0 leaks 1\n3 192 64 1 128 1 64 1 %llx\n", pc);
  write_text(p, "heap.100.raw", line);
  snprintf(line, sizeof line, "gsperf-heap 1 sample 0 leaks 1\n2 128 0 0 64 0 0 1 %llx\n", pc);
  write_text(p, "heap.200.raw", line);
  snprintf(line, sizeof line, "gsperf-heap 1 sample 0 leaks 1\n2 128 0 0 64 0 0 1 %llx\n2 12", pc);
  write_text(p, "heap.300.raw", line);
  write_text(p, "heap.400.raw", "garbage\n");
  const char *pids[] = {"100", "200", "300", "400"};
  for (int i = 0; i < 4; i++) {
    char from[64], to[64];
    snprintf(to, sizeof to, "heap/heap.%s.raw.maps", pids[i]);
    snprintf(from, sizeof from, "cpu.100.raw.maps");
    copy_cut(g_dir, from, to, 0);
  }
  gsp_prof_heap *h;
  assert_int_equal(gsp_prof_heap_load_dir(p, &h), GSP_OK);
  assert_int_equal(gsp_prof_heap_processes(h), 3);
  assert_true(gsp_prof_heap_leaks_checked(h));
  const gsp_prof_heap_site *s;
  assert_int_equal(gsp_prof_heap_leaks(h, &s), 1);
  assert_int_equal(s[0].pid, 100);
  assert_int_equal(s[0].leak_bytes, 64);
  assert_string_equal(s[0].stack[0], "multi_heap_site");
  assert_string_equal(s[0].comm, "test_prof_multi");
  assert_int_equal(gsp_prof_heap_sites(h, &s), 3);
  const char *const *msg;
  size_t np = gsp_prof_heap_problems(h, &msg);
  assert_int_equal(np, 2);
  bool cut = false, bad = false;
  for (size_t i = 0; i < np; i++) {
    cut |= strstr(msg[i], "heap/heap.300.raw: last line cut short") != NULL;
    bad |= strstr(msg[i], "heap/heap.400.raw: not a gsperf heap file") != NULL;
  }
  assert_true(cut && bad);
  FILE *f = fopen("/dev/null", "w");
  assert_int_equal(gsp_prof_heap_write_leaks_json(h, f), GSP_OK);
  assert_int_equal(gsp_prof_heap_write_text(h, f, 10), GSP_OK);
  fclose(f);
  char out[600];
  snprintf(out, sizeof out, "%s/heap.pb.gz", p);
  assert_int_equal(gsp_prof_heap_write_pprof(h, out), GSP_OK);
  gsp_prof_heap_destroy(h);
}

static void fault_life(void *arg) {
  (void)arg;
  gsp_prof_multi *m = NULL;
  int rv = gsp_prof_multi_load(g_fault_dir, 0, &m);
  ok_or_nomem(rv);
  if (rv != GSP_OK) return;
  char p[512];
  path_in(p, sizeof p, g_fault_dir, "o.pb.gz");
  ok_or_nomem(gsp_prof_multi_write_pprof(m, p));
  path_in(p, sizeof p, g_fault_dir, "o.svg");
  ok_or_nomem(gsp_prof_multi_write_flame(m, p, "x"));
  path_in(p, sizeof p, g_fault_dir, "o.collapsed");
  ok_or_nomem(gsp_prof_multi_write_collapsed(m, p));
  FILE *f = fopen("/dev/null", "w");
  ok_or_nomem(gsp_prof_multi_write_json(m, f, 5));
  ok_or_nomem(gsp_prof_multi_write_text(m, f, 5));
  fclose(f);
  gsp_prof_multi_destroy(m);
}

static void test_faults(void **state) {
  (void)state;
  assert_true(fault_each_allocation(fault_life, NULL) > 10);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_processes_and_problems),
      cmocka_unit_test(test_merged_functions),
      cmocka_unit_test(test_writers),
      cmocka_unit_test(test_empty_and_missing),
      cmocka_unit_test(test_heap_dir),
      cmocka_unit_test(test_faults),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
