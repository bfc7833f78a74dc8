/*
 * test_codegraph_db_rows.c - the row ids and the name indexes of a
 * database written cold.
 *
 * A cold write leaves the id of a row that follows the table's last one
 * to SQLite (largest rowid plus one); the ids must still be the schema's:
 * (file id << 24) + the row's index in its file. Checked on the project's
 * own sources (hundreds of files, written during a 2-job run and after a
 * 1-job run): per file, the symbols, imports and reference sites are
 * exactly ids 0..n-1 of its range, n the graph's count, and every target
 * row is a bound reference's site id. The name indexes, made by sorting
 * once most rows are in, exist and are the ones the `symbol` and `callers`
 * lookups use.
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
#include <sqlite3.h>

#include "gsperf/codegraph.h"

static char g_dir[64];

static int setup(void **state) {
  (void)state;
  snprintf(g_dir, sizeof g_dir, "/tmp/cgdbrowsXXXXXX");
  assert_non_null(mkdtemp(g_dir));
  return 0;
}

static int teardown(void **state) {
  (void)state;
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
  assert_int_equal(system(cmd), 0);
  return 0;
}

static gsp_cg *run(const char *root, const char *db, unsigned jobs) {
  gsp_cg *cg = NULL;
  gsp_cg_config cfg = {.root = root, .jobs = jobs, .no_cache = true, .db = db};
  assert_int_equal(gsp_cg_create(&cfg, &cg), GSP_OK);
  assert_int_equal(gsp_cg_run(cg), GSP_OK);
  return cg;
}

static int64_t scalar(sqlite3 *db, const char *sql, const char *text, int64_t arg) {
  sqlite3_stmt *st = NULL;
  assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
  if (text)
    sqlite3_bind_text(st, 1, text, -1, SQLITE_STATIC);
  else
    sqlite3_bind_int64(st, 1, arg);
  int64_t v = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : -1;
  sqlite3_finalize(st);
  return v;
}

/* The rows of table in file fid's range: n of them, ids 0..n-1. */
static void check_range(sqlite3 *db, const char *table, int64_t fid, size_t n) {
  char sql[160];
  snprintf(sql, sizeof sql, "SELECT count(*) FROM %s WHERE id >> 24 = ?", table);
  assert_int_equal(scalar(db, sql, NULL, fid), (int64_t)n);
  if (n == 0) return;
  snprintf(sql, sizeof sql, "SELECT min(id & 16777215) FROM %s WHERE id >> 24 = ?", table);
  assert_int_equal(scalar(db, sql, NULL, fid), 0);
  snprintf(sql, sizeof sql, "SELECT max(id & 16777215) FROM %s WHERE id >> 24 = ?", table);
  assert_int_equal(scalar(db, sql, NULL, fid), (int64_t)n - 1);
}

static void check_ids(const gsp_cg *cg, const char *path) {
  sqlite3 *db = NULL;
  assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
  size_t bound = 0;
  for (size_t f = 0; f < gsp_cg_nfiles(cg); f++) {
    const gsp_cg_result *r = gsp_cg_file_result(cg, f);
    int64_t fid = scalar(db, "SELECT id FROM files WHERE path = ?", gsp_cg_file_path(cg, f), 0);
    assert_true(fid > 0);
    check_range(db, "symbols", fid, r ? gsp_cg_result_ndefs(r) : 0);
    check_range(db, "imports", fid, r ? gsp_cg_result_nimports(r) : 0);
    check_range(db, "ref_sites", fid, r ? gsp_cg_result_nrefs(r) : 0);
    for (size_t i = 0, n = r ? gsp_cg_result_nrefs(r) : 0; i < n; i++) {
      size_t tf, td;
      bool b = gsp_cg_ref_target(cg, f, i, &tf, &td);
      bound += b;
      int64_t id = (fid << 24) + (int64_t)i;
      assert_int_equal(scalar(db, "SELECT count(*) FROM ref_targets WHERE id = ?", NULL, id), b);
    }
  }
  assert_true(bound > 0);
  assert_int_equal(scalar(db, "SELECT count(*) FROM ref_targets", NULL, 0), (int64_t)bound);
  sqlite3_close(db);
}

static void test_ids_follow_the_schema(void **state) {
  (void)state;
  char a[96], b[96];
  snprintf(a, sizeof a, "%s/during.db", g_dir);
  snprintf(b, sizeof b, "%s/after.db", g_dir);
  gsp_cg *cg = run(CG_PROJECT_DIR "/src", a, 2);
  check_ids(cg, a);
  gsp_cg_destroy(cg);
  cg = run(CG_PROJECT_DIR "/src", NULL, 1);
  assert_int_equal(gsp_cg_write_db(cg, b, NULL), GSP_OK);
  check_ids(cg, b);
  gsp_cg_destroy(cg);
}

/* The plan of sql mentions index. */
static void check_plan(sqlite3 *db, const char *sql, const char *index) {
  char q[512];
  snprintf(q, sizeof q, "EXPLAIN QUERY PLAN %s", sql);
  sqlite3_stmt *st = NULL;
  assert_int_equal(sqlite3_prepare_v2(db, q, -1, &st, NULL), SQLITE_OK);
  bool found = false;
  while (sqlite3_step(st) == SQLITE_ROW) {
    const char *detail = (const char *)sqlite3_column_text(st, 3);
    found = found || (detail && strstr(detail, index));
  }
  sqlite3_finalize(st);
  if (!found) print_error("%s does not use %s\n", sql, index);
  assert_true(found);
}

/* Every row of table (symbols or calls) named once in names, and no
 * other row there. */
static void check_names(sqlite3 *db, const char *table, const char *names) {
  char sql[256];
  snprintf(sql, sizeof sql, "SELECT count(*) FROM %s", table);
  int64_t n = scalar(db, sql, NULL, 0);
  assert_true(n > 0);
  snprintf(sql, sizeof sql, "SELECT count(*) FROM %s", names);
  assert_int_equal(scalar(db, sql, NULL, 0), n);
  snprintf(sql, sizeof sql,
           "SELECT count(*) FROM %s t JOIN %s n ON n.name = t.name AND n.id = t.id", table, names);
  assert_int_equal(scalar(db, sql, NULL, 0), n);
}

static void test_name_tables(void **state) {
  (void)state;
  char path[96], after[96];
  snprintf(path, sizeof path, "%s/g.db", g_dir);
  snprintf(after, sizeof after, "%s/after.db", g_dir);
  gsp_cg *cg = run(CG_PROJECT_DIR "/src", path, 2);
  assert_int_equal(gsp_cg_write_db(cg, after, NULL), GSP_OK);
  gsp_cg_destroy(cg);
  for (int k = 0; k < 2; k++) {
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open_v2(k ? after : path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    check_names(db, "symbols", "symbol_names");
    check_plan(db, "SELECT id FROM symbol_names WHERE name = 'util_add'", "PRIMARY KEY");
    check_plan(db, "SELECT line FROM calls WHERE name = 'helper'", "PRIMARY KEY");
    assert_true(scalar(db, "SELECT count(*) FROM calls", NULL, 0) > 0);
    sqlite3_close(db);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_ids_follow_the_schema, setup, teardown),
      cmocka_unit_test_setup_teardown(test_name_tables, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
