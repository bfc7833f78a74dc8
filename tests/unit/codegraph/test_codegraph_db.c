/*
 * test_codegraph_db.c - the database written during the run (cfg.db).
 *
 * The file written by a run with cfg.db, on 1 and 2 threads,
 * holds exactly what gsp_cg_write_db writes after a run (every schema row
 * and every table row compared, as sqlite3 .dump would show them), on the
 * fixture and on the project's own sources (hundreds of files, so the
 * writer follows the parse stage file by file); a current file is left
 * alone, a stale one rewritten; a failing run leaves neither the file nor
 * PATH.tmp; an unwritable path fails the run and says which file. (The
 * resolution reused after a change is tested through the engine, in
 * tests/unit/integration/test_integration.c.)
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
#include <sqlite3.h>

#include "gsperf/codegraph.h"

/* ---- a canonical dump of a database file ---- */

typedef struct text {
  char *buf;
  size_t len;
  FILE *f;
} text;

static void text_open(text *t) {
  t->buf = NULL, t->len = 0;
  t->f = open_memstream(&t->buf, &t->len);
  assert_non_null(t->f);
}

static char *text_close(text *t) {
  fclose(t->f);
  return t->buf;
}

static void dump_rows(sqlite3 *db, const char *sql, FILE *o) {
  sqlite3_stmt *st = NULL;
  assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
  while (sqlite3_step(st) == SQLITE_ROW) {
    for (int c = 0; c < sqlite3_column_count(st); c++) {
      int type = sqlite3_column_type(st, c);
      const unsigned char *v = sqlite3_column_text(st, c);
      fprintf(o, "%s%d:%s", c ? "|" : "", type, type == SQLITE_NULL ? "" : (const char *)v);
    }
    fputc('\n', o);
  }
  sqlite3_finalize(st);
}

/* The schema (in creation order) and every table's rows (in their order). */
static char *db_dump(const char *path) {
  sqlite3 *db = NULL;
  assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
  text t;
  text_open(&t);
  dump_rows(db, "SELECT type, name, tbl_name, sql FROM sqlite_schema ORDER BY rowid", t.f);
  static const char *const tables[] = {"meta", "files", "symbols", "imports", "refs", "edges"};
  for (size_t i = 0; i < sizeof tables / sizeof *tables; i++) {
    char sql[64];
    snprintf(sql, sizeof sql, "SELECT * FROM %s", tables[i]);
    fprintf(t.f, "-- %s\n", tables[i]);
    dump_rows(db, sql, t.f);
  }
  sqlite3_close(db);
  return text_close(&t);
}

static long db_rows(const char *path, const char *table) {
  sqlite3 *db = NULL;
  sqlite3_stmt *st = NULL;
  char sql[64];
  snprintf(sql, sizeof sql, "SELECT count(*) FROM %s", table);
  assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
  assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
  assert_int_equal(sqlite3_step(st), SQLITE_ROW);
  long n = sqlite3_column_int64(st, 0);
  sqlite3_finalize(st);
  sqlite3_close(db);
  return n;
}

static bool exists(const char *path) { return access(path, F_OK) == 0; }

/* ---- runs ---- */

static int run_into(const char *root, unsigned jobs, const char *db, gsp_cg **out) {
  gsp_cg_config cfg = {.root = root, .jobs = jobs, .no_cache = true, .db = db};
  assert_int_equal(gsp_cg_create(&cfg, out), GSP_OK);
  return gsp_cg_run(*out);
}

/* The database of root written during the run (jobs threads) equals the
 * one gsp_cg_write_db writes after a run on one thread. */
static void check_same_db(const char *root, unsigned jobs) {
  char dir[] = "/tmp/cgdbXXXXXX", a[64], b[64];
  assert_non_null(mkdtemp(dir));
  snprintf(a, sizeof a, "%s/during.db", dir);
  snprintf(b, sizeof b, "%s/after.db", dir);
  gsp_cg *cg = NULL, *ref = NULL;
  assert_int_equal(run_into(root, jobs, a, &cg), GSP_OK);
  assert_true(exists(a));
  uint64_t ns = 0;
  assert_int_equal(gsp_cg_write_db(cg, a, &ns), GSP_OK); /* the run's outcome */
  gsp_cg_stats st;
  gsp_cg_stats_get(cg, &st);
  assert_false(st.db_unchanged);
  assert_int_equal(ns, st.db_ns);
  assert_int_equal(run_into(root, 1, NULL, &ref), GSP_OK);
  assert_int_equal(gsp_cg_write_db(ref, b, NULL), GSP_OK);
  char *da = db_dump(a), *dbb = db_dump(b);
  assert_string_equal(da, dbb);
  assert_true(db_rows(a, "symbols") > 0);
  assert_true(db_rows(a, "refs") > 0);
  assert_int_equal(db_rows(a, "files"), (long)gsp_cg_nfiles(cg));
  free(da), free(dbb);
  char tmp[80];
  snprintf(tmp, sizeof tmp, "%s.tmp", a);
  assert_false(exists(tmp));
  gsp_cg_destroy(cg), gsp_cg_destroy(ref);
  unlink(a), unlink(b), rmdir(dir);
}

static void test_db_during_run_fixture(void **state) {
  (void)state;
  check_same_db(CG_FIXTURE_DIR, 1);
  check_same_db(CG_FIXTURE_DIR, 2);
}

static void test_db_during_run_project(void **state) {
  (void)state;
  check_same_db(CG_PROJECT_DIR "/src", 2);
}

static void test_db_current_left_alone(void **state) {
  (void)state;
  char dir[] = "/tmp/cgdbXXXXXX", a[64];
  assert_non_null(mkdtemp(dir));
  snprintf(a, sizeof a, "%s/g.db", dir);
  gsp_cg *one = NULL, *two = NULL;
  assert_int_equal(run_into(CG_FIXTURE_DIR, 2, a, &one), GSP_OK);
  struct stat s1, s2;
  assert_int_equal(stat(a, &s1), 0);
  assert_int_equal(run_into(CG_FIXTURE_DIR, 2, a, &two), GSP_OK);
  assert_int_equal(stat(a, &s2), 0);
  gsp_cg_stats st;
  gsp_cg_stats_get(two, &st);
  assert_true(st.db_unchanged);
  assert_int_equal(s1.st_ino, s2.st_ino); /* not replaced */
  gsp_cg_destroy(one), gsp_cg_destroy(two);
  unlink(a), rmdir(dir);
}

/* A file from an earlier state of the tree is rewritten (the write starts
 * at the first file that differs from its row) and equals a fresh one. */
static void test_db_stale_rewritten(void **state) {
  (void)state;
  char dir[] = "/tmp/cgdbXXXXXX", tree[64], a[64], b[64], cmd[256];
  assert_non_null(mkdtemp(dir));
  snprintf(tree, sizeof tree, "%s/tree", dir);
  snprintf(a, sizeof a, "%s/g.db", dir);
  snprintf(b, sizeof b, "%s/fresh.db", dir);
  snprintf(cmd, sizeof cmd, "mkdir '%s' && cp -R '%s/.' '%s'", tree, CG_FIXTURE_DIR, tree);
  assert_int_equal(system(cmd), 0);
  gsp_cg *one = NULL, *two = NULL, *ref = NULL;
  assert_int_equal(run_into(tree, 2, a, &one), GSP_OK);
  long before = db_rows(a, "symbols");
  snprintf(cmd, sizeof cmd, "printf 'int util_late(void) { return 2; }\\n' >> '%s/c/util.c'", tree);
  assert_int_equal(system(cmd), 0);
  assert_int_equal(run_into(tree, 2, a, &two), GSP_OK);
  gsp_cg_stats st;
  gsp_cg_stats_get(two, &st);
  assert_false(st.db_unchanged);
  assert_int_equal(db_rows(a, "symbols"), before + 1);
  assert_int_equal(run_into(tree, 1, NULL, &ref), GSP_OK);
  assert_int_equal(gsp_cg_write_db(ref, b, NULL), GSP_OK);
  char *da = db_dump(a), *dbb = db_dump(b);
  assert_string_equal(da, dbb);
  free(da), free(dbb);
  gsp_cg_destroy(one), gsp_cg_destroy(two), gsp_cg_destroy(ref);
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  assert_int_equal(system(cmd), 0);
}

static void test_db_failed_run_leaves_nothing(void **state) {
  (void)state;
  char dir[] = "/tmp/cgdbXXXXXX", a[64], tmp[80];
  assert_non_null(mkdtemp(dir));
  snprintf(a, sizeof a, "%s/g.db", dir);
  snprintf(tmp, sizeof tmp, "%s.tmp", a);
  gsp_cg *cg = NULL;
  assert_int_not_equal(run_into("/nonexistent/tree", 2, a, &cg), GSP_OK);
  assert_false(exists(a));
  assert_false(exists(tmp));
  gsp_cg_destroy(cg);
  /* an unwritable path: the run fails and names the file */
  assert_int_equal(run_into(CG_FIXTURE_DIR, 2, "/nonexistent/dir/x.db", &cg), GSP_EIO);
  assert_non_null(strstr(gsp_cg_errmsg(cg), "/nonexistent/dir/x.db"));
  gsp_cg_destroy(cg);
  rmdir(dir);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_db_during_run_fixture),
      cmocka_unit_test(test_db_during_run_project),
      cmocka_unit_test(test_db_current_left_alone),
      cmocka_unit_test(test_db_stale_rewritten),
      cmocka_unit_test(test_db_failed_run_leaves_nothing),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
