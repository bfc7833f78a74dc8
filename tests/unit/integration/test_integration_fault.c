/*
 * test_integration_fault.c - the persistent-store path under allocation
 * failure: a tier-backed result store (L3 in a cache directory) and reads
 * on an I/O executor, the Nth allocation failing for N = 1, 2, ... until a
 * run no longer reaches the failure. Every run must succeed or fail with
 * GSP_ENOMEM, a run that succeeds must give the fixture's graph, and
 * nothing allocated through the gsperf hooks may remain. Two loops: every
 * run against a fresh cache directory (the cold path: parse, put, resolve,
 * save), every run against a directory already filled (the warm path:
 * get, adopt, load the resolution), and the same with one header of a copy
 * of the fixture changed between runs (the partial path: the header's
 * includers bound again, the rest of the resolution restored).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "gsperf/codegraph.h"
#include "gsperf/exec.h"
#include "gsperf/tier.h"

#include "../../support/fault_alloc.h"

typedef struct fault_arg {
  const char *base; /* temporary directory */
  bool fresh;       /* a new cache directory per run */
  long run;
  const char *tree; /* NULL = the fixture; else a copy whose c/util.h flips */
  const char *util_h;
} fault_arg;

/* The copy's c/util.h: the original, every other run with one more line. */
static void flip_header(fault_arg *a) {
  char path[256];
  snprintf(path, sizeof path, "%s/c/util.h", a->tree);
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  fputs(a->util_h, f);
  if (a->run++ % 2) fputs("int util_flip(void);\n", f);
  assert_int_equal(fclose(f), 0);
}

static int analyze_once(fault_arg *a) {
  char dir[128], uri[160], err[256];
  if (a->tree) flip_header(a);
  if (a->fresh)
    snprintf(dir, sizeof dir, "%s/c%ld", a->base, a->run++);
  else
    snprintf(dir, sizeof dir, "%s/warm", a->base);
  snprintf(uri, sizeof uri, "lmdb:%s", dir);
  gsp_tier *tier = NULL;
  gsp_io *io = NULL;
  gsp_cg *cg = NULL;
  gsp_tier_config tc = {.l3 = uri,
                        .write_mode = GSP_TIER_WRITE_BACK,
                        .durability = GSP_TIER_NONE,
                        .no_promote = true};
  int rv = gsp_tier_create(&tc, &tier, err, sizeof err);
  if (rv == GSP_OK) rv = gsp_io_create(&(gsp_io_config){.threads = 2, .no_uring = true}, &io);
  gsp_cg_config cfg = {
      .root = a->tree ? a->tree : CG_FIXTURE_DIR, .jobs = 2, .store = tier, .io = io};
  if (rv == GSP_OK) rv = gsp_cg_create(&cfg, &cg);
  if (rv == GSP_OK) rv = gsp_cg_run(cg);
  if (rv == GSP_OK) {
    gsp_cg_stats st;
    gsp_cg_stats_get(cg, &st);
    assert_int_equal(st.files, 17);
    assert_int_equal(st.file_edges, 19);
    assert_int_equal(st.files_skipped, 0);
  }
  gsp_cg_destroy(cg);
  gsp_io_destroy(io);
  gsp_tier_destroy(tier);
  return rv;
}

/* One life under fault injection: a clean GSP_ENOMEM, or GSP_OK once no
   allocation failed. */
static void run_life(void *p) {
  int rv = analyze_once(p);
  ok_or_nomem(rv);
  if (!g_failed) assert_int_equal(rv, GSP_OK);
}

static void remove_dir(const char *dir) {
  char cmd[256];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  assert_int_equal(system(cmd), 0);
}

static void test_cold_faults(void **state) {
  (void)state;
  char base[] = "/tmp/cgifaultXXXXXX";
  assert_non_null(mkdtemp(base));
  fault_arg a = {.base = base, .fresh = true};
  assert_true(fault_each_allocation(run_life, &a) >= 50);
  remove_dir(base);
}

static void test_warm_faults(void **state) {
  (void)state;
  char base[] = "/tmp/cgifaultXXXXXX";
  assert_non_null(mkdtemp(base));
  fault_arg a = {.base = base, .fresh = false};
  assert_int_equal(analyze_once(&a), GSP_OK); /* fill the cache */
  assert_true(fault_each_allocation(run_life, &a) >= 20);
  remove_dir(base);
}

/* The partial path: one header changed since the stored resolution, so
 * its includers are bound again and the rest restored from the store. */
static void test_changed_faults(void **state) {
  (void)state;
  char base[] = "/tmp/cgifaultXXXXXX", tree[64], cmd[256], path[128];
  static char util_h[4096];
  assert_non_null(mkdtemp(base));
  snprintf(tree, sizeof tree, "%s/tree", base);
  snprintf(cmd, sizeof cmd, "mkdir '%s' && cp -R '%s/.' '%s'", tree, CG_FIXTURE_DIR, tree);
  assert_int_equal(system(cmd), 0);
  snprintf(path, sizeof path, "%s/c/util.h", CG_FIXTURE_DIR);
  FILE *f = fopen(path, "r");
  assert_non_null(f);
  size_t n = fread(util_h, 1, sizeof util_h - 1, f);
  fclose(f);
  util_h[n] = '\0';
  fault_arg a = {.base = base, .fresh = false, .tree = tree, .util_h = util_h};
  assert_int_equal(analyze_once(&a), GSP_OK); /* fill the cache */
  assert_true(fault_each_allocation(run_life, &a) >= 20);
  remove_dir(base);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_cold_faults),
      cmocka_unit_test(test_warm_faults),
      cmocka_unit_test(test_changed_faults),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
