/*
 * test_codegraph_db_update_fault.c - the in-place update of a database
 * (schema 3) under allocation failure: the Nth allocation fails, for
 * N = 1, 2, ... until a run no longer reaches the failure. Each life
 * starts from the database of the tree before a change and runs over the
 * changed tree: it must succeed with the database equal to a cold write
 * of the changed tree (sqlite3 .dump), or fail with GSP_ENOMEM leaving the
 * old database as it was, and free everything it allocated through the
 * gsperf hooks.
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

#include "../../support/fault_alloc.h"

typedef struct life {
  char dir[64], tree[96], base[96], db[96];
  char *old_dump, *new_dump;
  unsigned jobs;
} life;

static char *slurp(const char *path) {
  FILE *f = fopen(path, "rb");
  assert_non_null(f);
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  rewind(f);
  char *b = malloc((size_t)n + 1);
  assert_int_equal(fread(b, 1, (size_t)n, f), (size_t)n);
  b[n] = '\0';
  fclose(f);
  return b;
}

static char *dump(const life *l, const char *db) {
  char cmd[512], out[128];
  snprintf(out, sizeof out, "%s/dump.sql", l->dir);
  snprintf(cmd, sizeof cmd, "sqlite3 '%s' .dump > '%s'", db, out);
  assert_int_equal(system(cmd), 0);
  return slurp(out);
}

static int run(const char *root, const char *db, unsigned jobs) {
  gsp_cg *cg = NULL;
  gsp_cg_config cfg = {.root = root, .jobs = jobs, .no_cache = true, .db = db};
  int rv = gsp_cg_create(&cfg, &cg);
  if (rv == GSP_OK) rv = gsp_cg_run(cg);
  gsp_cg_destroy(cg);
  return rv;
}

static void one_life(void *arg) {
  const life *l = arg;
  char cmd[256];
  snprintf(cmd, sizeof cmd, "cp '%s' '%s'", l->base, l->db);
  assert_int_equal(system(cmd), 0);
  int rv = run(l->tree, l->db, l->jobs);
  ok_or_nomem(rv);
  if (!g_failed) assert_int_equal(rv, GSP_OK);
  char *d = dump(l, l->db);
  assert_string_equal(d, rv == GSP_OK ? l->new_dump : l->old_dump);
  free(d);
}

static void check(unsigned jobs) {
  life l = {.jobs = jobs};
  char cmd[512], cold[128];
  snprintf(l.dir, sizeof l.dir, "/tmp/cgdbupfXXXXXX");
  assert_non_null(mkdtemp(l.dir));
  snprintf(l.tree, sizeof l.tree, "%s/tree", l.dir);
  snprintf(l.base, sizeof l.base, "%s/base.db", l.dir);
  snprintf(l.db, sizeof l.db, "%s/f.db", l.dir);
  snprintf(cold, sizeof cold, "%s/cold.db", l.dir);
  snprintf(cmd, sizeof cmd, "mkdir '%s' && cp -R '%s/.' '%s'", l.tree, CG_FIXTURE_DIR, l.tree);
  assert_int_equal(system(cmd), 0);
  assert_int_equal(run(l.tree, l.base, 2), GSP_OK);
  l.old_dump = dump(&l, l.base);
  snprintf(cmd, sizeof cmd,
           "printf 'int util_more(int x) { return util_add(x, 2); }\\n' >> '%s/c/util.c'", l.tree);
  assert_int_equal(system(cmd), 0);
  assert_int_equal(run(l.tree, cold, 1), GSP_OK);
  l.new_dump = dump(&l, cold);
  assert_true(fault_each_allocation(one_life, &l) >= 20);
  free(l.old_dump), free(l.new_dump);
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", l.dir);
  assert_int_equal(system(cmd), 0);
}

static void test_update_faults_1(void **state) {
  (void)state;
  check(1);
}

static void test_update_faults_2(void **state) {
  (void)state;
  check(2);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_update_faults_1),
      cmocka_unit_test(test_update_faults_2),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
