/*
 * test_codegraph_rebind_fault.c - re-analysis after a change under
 * allocation failure, the Nth allocation failing for N = 1, 2, ... until a
 * run no longer reaches the failure: every run succeeds or fails with
 * GSP_ENOMEM, nothing allocated through the gsperf hooks remains, and a
 * run that succeeds gives the graph of a run without any store. Two
 * paths: a Python module of the fixture changed (imports kept from the
 * store, the lazy per-file index of the incremental bind, the stored
 * targets of one section borrowed), and a leaf module of a generated tree
 * of two sections changed (sections read and kept, one written again).
 * The changed file flips between two contents, so each run has a change
 * to pick up.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "../../support/fault_alloc.h"
#include "cg_dump.h"
#include "gsperf/tier.h"

typedef struct fault_arg {
  const char *tree, *cache;
  const char *rel;   /* the file that flips */
  const char *extra; /* appended every other run */
  char orig[8192];   /* its original content */
  char *want[2];     /* the graph of each content, from runs without a store */
  long run;
} fault_arg;

static void sh(const char *cmd) { assert_int_equal(system(cmd), 0); }

static FILE *open_rel(const fault_arg *a, const char *mode) {
  char path[256];
  snprintf(path, sizeof path, "%s/%s", a->tree, a->rel);
  FILE *f = fopen(path, mode);
  assert_non_null(f);
  return f;
}

/* Content `odd` of the flipping file: the original, or with extra. */
static void flip(const fault_arg *a, int odd) {
  FILE *f = open_rel(a, "w");
  fputs(a->orig, f);
  if (odd) fputs(a->extra, f);
  assert_int_equal(fclose(f), 0);
}

/* One analysis with the store (cache NULL: without); *dump its graph. */
static int analyze(const fault_arg *a, const char *cache, char **dump) {
  char uri[600], err[256];
  gsp_tier *tier = NULL;
  int rv = GSP_OK;
  if (cache) {
    snprintf(uri, sizeof uri, "lmdb:%s", cache);
    gsp_tier_config tc = {.l3 = uri, .durability = GSP_TIER_NONE, .no_promote = true};
    rv = gsp_tier_create(&tc, &tier, err, sizeof err);
  }
  const char *incs[] = {"c"};
  gsp_cg_config cfg = {.root = a->tree,
                       .include_dirs = incs,
                       .n_include_dirs = 1,
                       .jobs = 2,
                       .store = tier,
                       .no_cache = cache == NULL};
  gsp_cg *cg = NULL;
  if (rv == GSP_OK) rv = gsp_cg_create(&cfg, &cg);
  if (rv == GSP_OK) rv = gsp_cg_run(cg);
  *dump = rv == GSP_OK ? cg_dump(cg) : NULL; /* malloc'd: the test's, not the run's */
  if (rv == GSP_OK) assert_null(cg_check_invariants(cg));
  gsp_cg_destroy(cg);
  gsp_tier_destroy(tier);
  return rv;
}

static void run_life(void *p) {
  fault_arg *a = p;
  int odd = (int)(a->run++ % 2);
  flip(a, odd);
  char *dump = NULL;
  int rv = analyze(a, a->cache, &dump);
  ok_or_nomem(rv);
  if (!g_failed) assert_int_equal(rv, GSP_OK);
  if (rv == GSP_OK) assert_string_equal(dump, a->want[odd]);
  free(dump);
}

/* tree/rel's content kept; the graphs of both contents; the store
 * filled; then the fault loop. */
static void check_path(fault_arg *a, long min_runs) {
  FILE *f = open_rel(a, "r");
  size_t n = fread(a->orig, 1, sizeof a->orig - 1, f);
  fclose(f);
  a->orig[n] = '\0';
  for (int odd = 0; odd < 2; odd++) {
    flip(a, odd);
    assert_int_equal(analyze(a, NULL, &a->want[odd]), GSP_OK);
  }
  assert_string_not_equal(a->want[0], a->want[1]);
  char *dump = NULL;
  assert_int_equal(analyze(a, a->cache, &dump), GSP_OK); /* fill the store */
  free(dump);
  long runs = fault_each_allocation(run_life, a);
  printf("%s: %ld allocations failed in turn\n", a->rel, runs);
  assert_true(runs >= min_runs);
  free(a->want[0]), free(a->want[1]);
}

static void test_python_change_faults(void **state) {
  (void)state;
  char base[] = "/tmp/cgrbfXXXXXX", tree[64], cache[64], cmd[512];
  assert_non_null(mkdtemp(base));
  snprintf(tree, sizeof tree, "%s/tree", base);
  snprintf(cache, sizeof cache, "%s/cache", base);
  snprintf(cmd, sizeof cmd, "mkdir '%s' && cp -R '%s/.' '%s'", tree, CG_FIXTURE_DIR, tree);
  sh(cmd);
  static fault_arg a;
  a = (fault_arg){.tree = tree,
                  .cache = cache,
                  .rel = "py/pkg/helpers.py",
                  .extra = "\ndef flipped():\n    return helper(2)\n"};
  check_path(&a, 20);
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", base);
  sh(cmd);
}

#define GEN_FILES 260 /* two sections */

static void test_sections_faults(void **state) {
  (void)state;
  char base[] = "/tmp/cgrbfXXXXXX", tree[64], cache[64], cmd[512];
  assert_non_null(mkdtemp(base));
  snprintf(tree, sizeof tree, "%s/tree", base);
  snprintf(cache, sizeof cache, "%s/cache", base);
  snprintf(cmd, sizeof cmd, "mkdir '%s'", tree);
  sh(cmd);
  for (int i = 0; i < GEN_FILES; i++) {
    char path[128];
    snprintf(path, sizeof path, "%s/m%03d.py", tree, i);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    if (i) fprintf(f, "from m%03d import f%d\n\n", i - 1, i - 1);
    fprintf(f, "def f%d():\n    return %s\n", i, i ? "f0() + f0()" : "1");
    fclose(f);
  }
  static fault_arg a;
  a = (fault_arg){.tree = tree,
                  .cache = cache,
                  .rel = "m259.py",
                  .extra = "\ndef flipped():\n    return f258()\n"};
  check_path(&a, 20);
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", base);
  sh(cmd);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_python_change_faults),
      cmocka_unit_test(test_sections_faults),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
