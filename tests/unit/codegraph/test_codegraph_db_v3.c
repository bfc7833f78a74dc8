/*
 * test_codegraph_db_v3.c - references in the database (schema version 3,
 * kept by version 4): a reference is a site (written as its file is
 * parsed: a calls row, or an element of its file's type_uses row, which
 * the ref_sites view unpacks) and, when bound, a target row (ref_targets,
 * written once the references are bound); the refs view joins them.
 *
 * Checks, on the fixture, written during a 2-job run and after a 1-job
 * run: every reference of the graph is one site row whose columns are the
 * graph's, its target row exists exactly when the graph bound it and
 * names the bound definition's id; the view agrees with the two tables;
 * `callers` answers from them; the database written during a one-job
 * run equals the one written after it. Version 2 and 3 files are
 * refused by gsp_cgdb_open and rewritten as version 4 by the next run,
 * with a log line.
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

static void sh(const char *fmt, ...) GSP_PRINTF(1, 2);
static void sh(const char *fmt, ...) {
  char cmd[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(cmd, sizeof cmd, fmt, ap);
  va_end(ap);
  assert_int_equal(system(cmd), 0);
}

static int setup(void **state) {
  (void)state;
  snprintf(g_dir, sizeof g_dir, "/tmp/cgdbv3XXXXXX");
  assert_non_null(mkdtemp(g_dir));
  return 0;
}

static int teardown(void **state) {
  (void)state;
  sh("rm -rf '%s'", g_dir);
  return 0;
}

static gsp_cg *run(const char *root, const char *db, unsigned jobs) {
  gsp_cg *cg = NULL;
  gsp_cg_config cfg = {.root = root, .jobs = jobs, .no_cache = true, .db = db};
  assert_int_equal(gsp_cg_create(&cfg, &cg), GSP_OK);
  assert_int_equal(gsp_cg_run(cg), GSP_OK);
  return cg;
}

static int64_t scalar(sqlite3 *db, const char *sql, int64_t arg) {
  sqlite3_stmt *st = NULL;
  assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
  sqlite3_bind_int64(st, 1, arg);
  int64_t v = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : -1;
  sqlite3_finalize(st);
  return v;
}

static int64_t file_id(sqlite3 *db, const char *path) {
  sqlite3_stmt *st = NULL;
  assert_int_equal(sqlite3_prepare_v2(db, "SELECT id FROM files WHERE path = ?", -1, &st, NULL),
                   SQLITE_OK);
  sqlite3_bind_text(st, 1, path, -1, SQLITE_STATIC);
  assert_int_equal(sqlite3_step(st), SQLITE_ROW);
  int64_t v = sqlite3_column_int64(st, 0);
  sqlite3_finalize(st);
  return v;
}

/* Reference i of file f: its site row matches the graph; its target row
 * exists iff bound, naming (target file id << 24) + definition. */
static void check_ref(sqlite3 *db, const gsp_cg *cg, size_t f, size_t i, int64_t id) {
  gsp_cg_ref x;
  gsp_cg_result_ref(gsp_cg_file_result(cg, f), i, &x);
  sqlite3_stmt *st = NULL;
  assert_int_equal(sqlite3_prepare_v2(db,
                                      "SELECT name, qualifier, kind, line, file_id FROM ref_sites"
                                      " WHERE id = ?",
                                      -1, &st, NULL),
                   SQLITE_OK);
  sqlite3_bind_int64(st, 1, id);
  assert_int_equal(sqlite3_step(st), SQLITE_ROW);
  assert_string_equal((const char *)sqlite3_column_text(st, 0), x.name);
  assert_string_equal((const char *)sqlite3_column_text(st, 1), x.qualifier);
  assert_string_equal((const char *)sqlite3_column_text(st, 2), gsp_cg_ref_kind_name(x.kind));
  assert_int_equal(sqlite3_column_int64(st, 3), x.line);
  assert_int_equal(sqlite3_column_int64(st, 4), id >> 24);
  sqlite3_finalize(st);
  size_t tf = 0, td = 0;
  int64_t want = -1;
  if (gsp_cg_ref_target(cg, f, i, &tf, &td))
    want = (file_id(db, gsp_cg_file_path(cg, tf)) << 24) + (int64_t)td;
  assert_int_equal(scalar(db, "SELECT target_symbol_id FROM ref_targets WHERE id = ?", id), want);
  int64_t in_view = scalar(db, "SELECT coalesce(target_symbol_id, -1) FROM refs WHERE id = ?", id);
  assert_int_equal(in_view, want);
}

/* Every reference of the graph against the database at path. */
static void check_db(const gsp_cg *cg, const char *path) {
  sqlite3 *db = NULL;
  assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
  assert_int_equal(scalar(db, "SELECT value FROM meta WHERE key = 'schema_version'", 0), 4);
  size_t nrefs = 0, bound = 0;
  for (size_t f = 0; f < gsp_cg_nfiles(cg); f++) {
    const gsp_cg_result *r = gsp_cg_file_result(cg, f);
    size_t n = r ? gsp_cg_result_nrefs(r) : 0;
    int64_t fid = file_id(db, gsp_cg_file_path(cg, f));
    for (size_t i = 0; i < n; i++) {
      size_t tf, td;
      check_ref(db, cg, f, i, (fid << 24) + (int64_t)i);
      bound += gsp_cg_ref_target(cg, f, i, &tf, &td);
    }
    nrefs += n;
  }
  assert_true(bound > 0 && bound < nrefs); /* the fixture has both */
  assert_int_equal(scalar(db, "SELECT count(*) FROM ref_sites", 0), (int64_t)nrefs);
  /* calls in their table, type uses packed */
  assert_int_equal(scalar(db, "SELECT count(*) FROM ref_sites WHERE kind = 'call'", 0),
                   scalar(db, "SELECT count(*) FROM calls", 0));
  assert_true(scalar(db, "SELECT count(*) FROM calls", 0) > 0);
  assert_true(scalar(db, "SELECT count(*) FROM type_uses", 0) > 0);
  assert_int_equal(scalar(db, "SELECT count(*) FROM refs", 0), (int64_t)nrefs);
  assert_int_equal(scalar(db, "SELECT count(*) FROM ref_targets", 0), (int64_t)bound);
  assert_int_equal(scalar(db,
                          "SELECT count(*) FROM ref_targets t LEFT JOIN symbols s"
                          " ON s.id = t.target_symbol_id WHERE s.id IS NULL",
                          0),
                   0);
  assert_int_equal(scalar(db,
                          "SELECT count(*) FROM ref_targets t LEFT JOIN ref_sites s"
                          " ON s.id = t.id WHERE s.id IS NULL",
                          0),
                   0);
  sqlite3_close(db);
}

static void test_sites_and_targets(void **state) {
  (void)state;
  char db1[96], db2[96];
  snprintf(db1, sizeof db1, "%s/during.db", g_dir);
  snprintf(db2, sizeof db2, "%s/after.db", g_dir);
  gsp_cg *cg = run(CG_FIXTURE_DIR, db1, 2);
  check_db(cg, db1);
  gsp_cg_destroy(cg);
  cg = run(CG_FIXTURE_DIR, NULL, 1);
  assert_int_equal(gsp_cg_write_db(cg, db2, NULL), GSP_OK);
  check_db(cg, db2);
  gsp_cg_destroy(cg);
}

typedef struct rows {
  size_t n, bound;
} rows;

static void count_row(void *user, size_t ncols, const char *const *vals) {
  rows *r = user;
  assert_int_equal(ncols, 4);
  r->n++;
  r->bound += vals[3][0] != '\0';
}

/* callers reads the sites and targets: as many rows as the view says. */
static void test_callers_from_tables(void **state) {
  (void)state;
  char path[96];
  snprintf(path, sizeof path, "%s/g.db", g_dir);
  gsp_cg_destroy(run(CG_FIXTURE_DIR, path, 2));
  sqlite3 *db = NULL;
  assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
  sqlite3_stmt *st = NULL;
  assert_int_equal(sqlite3_prepare_v2(db,
                                      "SELECT name, count(*), count(target_symbol_id) FROM refs"
                                      " WHERE kind = 'call' GROUP BY name ORDER BY name",
                                      -1, &st, NULL),
                   SQLITE_OK);
  gsp_cgdb *q = NULL;
  assert_int_equal(gsp_cgdb_open(path, &q), GSP_OK);
  size_t names = 0, some_bound = 0;
  while (sqlite3_step(st) == SQLITE_ROW) {
    rows r = {0};
    const char *name = (const char *)sqlite3_column_text(st, 0);
    assert_int_equal(gsp_cgdb_run(q, GSP_CGDB_CALLERS, name, NULL, count_row, &r), GSP_OK);
    assert_int_equal(r.n, sqlite3_column_int64(st, 1));
    assert_int_equal(r.bound, sqlite3_column_int64(st, 2));
    names++, some_bound += r.bound > 0;
  }
  assert_true(names > 0 && some_bound > 0);
  sqlite3_finalize(st);
  sqlite3_close(db);
  gsp_cgdb_close(q);
}

/* One job: the run's thread parses while the writer, on its own thread,
 * keeps up with it (waiting for files, building the symbols' index part
 * way). The database equals one written after the run (sqlite3 .dump). */
static void test_one_job_during_equals_after(void **state) {
  (void)state;
  char during[96], after[96];
  snprintf(during, sizeof during, "%s/during.db", g_dir);
  snprintf(after, sizeof after, "%s/after.db", g_dir);
  gsp_cg *cg = run(CG_PROJECT_DIR "/src", during, 1);
  assert_int_equal(gsp_cg_write_db(cg, after, NULL), GSP_OK);
  gsp_cg_destroy(cg);
  sh("sqlite3 '%s' .dump > '%s.sql' && sqlite3 '%s' .dump > '%s.sql' && cmp -s '%s.sql' '%s.sql'",
     during, during, after, after, during, after);
}

static char g_logged[512];
static void log_sink(void *user, gsp_log_level level, const char *module, const char *msg) {
  (void)user, (void)level;
  if (strcmp(module, "codegraph") == 0) snprintf(g_logged, sizeof g_logged, "%s", msg);
}

/* A version v file (as an older gsperf wrote it): refused by queries,
 * rewritten as version 4 by the next run. */
static void older_rebuilt(const char *v) {
  char tree[96], path[96], said[32];
  snprintf(tree, sizeof tree, "%s/tree", g_dir);
  snprintf(path, sizeof path, "%s/g.db", g_dir);
  sh("mkdir '%s' && cp -R '%s/.' '%s'", tree, CG_FIXTURE_DIR, tree);
  sh("sqlite3 '%s' \"CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);"
     " INSERT INTO meta VALUES('schema_version', '%s'), ('generator', 'gsperf " GSP_VERSION_STRING
     "'), ('root', '%s'), ('inputs', '00000000000000000000000000000000');"
     " CREATE TABLE files(id INTEGER PRIMARY KEY, path TEXT);"
     " CREATE TABLE refs(id INTEGER PRIMARY KEY, name TEXT, target_symbol_id INTEGER);"
     " INSERT INTO files VALUES(1, 'c/main.c');\"",
     path, v, tree);
  gsp_cgdb *q = NULL;
  assert_int_equal(gsp_cgdb_open(path, &q), GSP_ENOTSUP);
  assert_null(q);
  g_logged[0] = '\0';
  gsp_log_set_sink(log_sink, NULL, GSP_LOG_INFO);
  gsp_cg *cg = run(tree, path, 2);
  gsp_log_set_sink(NULL, NULL, GSP_LOG_WARN);
  gsp_cg_stats st;
  gsp_cg_stats_get(cg, &st);
  assert_false(st.db_incremental);
  assert_false(st.db_unchanged);
  snprintf(said, sizeof said, "schema version %s;", v);
  assert_non_null(strstr(g_logged, said));
  assert_non_null(strstr(g_logged, path));
  check_db(cg, path);
  gsp_cg_destroy(cg);
  assert_int_equal(gsp_cgdb_open(path, &q), GSP_OK);
  gsp_cgdb_close(q);
}

static void test_version_2_rebuilt(void **state) {
  (void)state;
  older_rebuilt("2");
}

static void test_version_3_rebuilt(void **state) {
  (void)state;
  older_rebuilt("3");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_sites_and_targets, setup, teardown),
      cmocka_unit_test_setup_teardown(test_callers_from_tables, setup, teardown),
      cmocka_unit_test_setup_teardown(test_one_job_during_equals_after, setup, teardown),
      cmocka_unit_test_setup_teardown(test_version_2_rebuilt, setup, teardown),
      cmocka_unit_test_setup_teardown(test_version_3_rebuilt, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
