/*
 * test_codegraph_memory.c - the memory strategy of a run
 * (gsp_cg_config.memory): AGGRESSIVE writes the same database file, byte
 * for byte, as DEFAULT, on the fixture and on a tree whose database is
 * larger than the aggressive page cache (the Python 3.11 standard
 * library, when installed: a database of about 5 MB, so SQLite spills
 * pages and sorts to files); gsp_integration_apply turns an
 * engine whose strategy is MEMORY or whose level is AGGRESSIVE into an
 * AGGRESSIVE run and leaves a default engine's run at DEFAULT.
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

#include "gsperf/codegraph.h"
#include "gsperf/integration.h"

static char *slurp(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  assert_non_null(f);
  fseek(f, 0, SEEK_END);
  *len = (size_t)ftell(f);
  rewind(f);
  char *b = malloc(*len + 1);
  assert_int_equal(fread(b, 1, *len, f), *len);
  fclose(f);
  return b;
}

/* Analyze root with the given strategy and write the database to path;
 * returns the file's size. */
static size_t write_db(const char *root, gsp_cg_memory mem, const char *path) {
  gsp_cg *cg = NULL;
  gsp_cg_config cfg = {.root = root, .jobs = 2, .no_cache = true, .memory = mem};
  assert_int_equal(gsp_cg_create(&cfg, &cg), GSP_OK);
  assert_int_equal(gsp_cg_run(cg), GSP_OK);
  assert_int_equal(gsp_cg_write_db(cg, path, NULL), GSP_OK);
  gsp_cg_destroy(cg);
  struct stat st;
  assert_int_equal(stat(path, &st), 0);
  return (size_t)st.st_size;
}

static void assert_same_db(const char *root, size_t min_bytes) {
  char dir[] = "/tmp/cgmemXXXXXX", a[64], b[64];
  assert_non_null(mkdtemp(dir));
  snprintf(a, sizeof a, "%s/default.db", dir), snprintf(b, sizeof b, "%s/aggressive.db", dir);
  size_t na = write_db(root, GSP_CG_MEMORY_DEFAULT, a);
  size_t nb = write_db(root, GSP_CG_MEMORY_AGGRESSIVE, b);
  assert_true(na >= min_bytes);
  assert_int_equal(na, nb);
  char *ba = slurp(a, &na), *bb = slurp(b, &nb);
  assert_memory_equal(ba, bb, na);
  free(ba), free(bb);
  unlink(a), unlink(b), rmdir(dir);
}

static void test_fixture_same_db(void **state) {
  (void)state;
  assert_same_db(CG_FIXTURE_DIR, 1);
}

/* A tree whose database outgrows the aggressive 4 MiB page cache. */
static void test_large_same_db(void **state) {
  (void)state;
  const char *root = "/usr/lib/python3.11";
  struct stat st;
  if (stat("/usr/lib/python3.11/email/__init__.py", &st) != 0) {
    skip();
    return;
  }
  assert_same_db(root, (size_t)4 << 20);
}

static gsp_cg_memory applied(const gsp_opt_config *ec) {
  gsp_integration *ig = NULL;
  assert_int_equal(
      gsp_integration_create(&(gsp_integration_config){.engine_cfg = ec}, &ig, NULL, 0), GSP_OK);
  gsp_cg_config cfg = {0};
  gsp_integration_apply(ig, &cfg);
  gsp_integration_destroy(ig);
  return cfg.memory;
}

static void test_engine_strategy_applies(void **state) {
  (void)state;
  assert_int_equal(applied(&(gsp_opt_config){.max_workers = 1}), GSP_CG_MEMORY_DEFAULT);
  assert_int_equal(applied(&(gsp_opt_config){.max_workers = 1, .strategy = GSP_OPT_MEMORY}),
                   GSP_CG_MEMORY_AGGRESSIVE);
  assert_int_equal(applied(&(gsp_opt_config){.max_workers = 1, .level = GSP_OPT_LEVEL_AGGRESSIVE}),
                   GSP_CG_MEMORY_AGGRESSIVE);
  assert_int_equal(applied(&(gsp_opt_config){.max_workers = 1, .strategy = GSP_OPT_CPU}),
                   GSP_CG_MEMORY_DEFAULT);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_fixture_same_db),
      cmocka_unit_test(test_large_same_db),
      cmocka_unit_test(test_engine_strategy_applies),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
