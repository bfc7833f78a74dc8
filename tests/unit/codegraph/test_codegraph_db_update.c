/*
 * test_codegraph_db_update.c - database schema version 3: ids that do not
 * depend on other files, and the in-place update of an existing database.
 *
 * Every check compares `sqlite3 DB .dump` of the updated file with the
 * dump of a cold write of the same tree, byte for byte: after changing,
 * adding and removing a file of the fixture, and on a generated tree of
 * 300 files. Also: a file's ids stay when other files come and go; a hash
 * collision of two paths gives the later path the next id (forced through
 * the path-hash seam); a version 1 database is rewritten with a log line
 * and refused by gsp_cgdb_open; a process killed inside the update's
 * transaction leaves the old graph, and the next run completes it.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>
#include <sqlite3.h>
#include <xxhash.h>

#include "gsperf/codegraph.h"

/* Test seams of src/codegraph/db_int.h (the library is linked statically). */
extern uint64_t (*gsp__cg_db_path_hash)(const char *path, size_t len);
extern void (*gsp__cg_db_update_hook)(void *sqlite_db);

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

/* sqlite3 DB .dump, as text */
static char *dump(const char *db) {
  char out[128];
  snprintf(out, sizeof out, "%s/dump.sql", g_dir);
  sh("sqlite3 '%s' .dump > '%s'", db, out);
  return slurp(out);
}

static gsp_cg *run(const char *root, const char *db, unsigned jobs, int want) {
  gsp_cg *cg = NULL;
  gsp_cg_config cfg = {.root = root, .jobs = jobs, .no_cache = true, .db = db};
  assert_int_equal(gsp_cg_create(&cfg, &cg), GSP_OK);
  assert_int_equal(gsp_cg_run(cg), want);
  return cg;
}

static gsp_cg_stats stats_of(const gsp_cg *cg) {
  gsp_cg_stats st;
  gsp_cg_stats_get(cg, &st);
  return st;
}

/* db (updated or not) equals a cold write of root's tree. Returns the
 * cold write's rows. */
static uint64_t same_as_cold(const char *root, const char *db) {
  char cold[128];
  snprintf(cold, sizeof cold, "%s/cold.db", g_dir);
  unlink(cold);
  gsp_cg *cg = run(root, NULL, 1, GSP_OK);
  assert_int_equal(gsp_cg_write_db(cg, cold, NULL), GSP_OK);
  gsp_cg_stats st = stats_of(cg);
  assert_false(st.db_incremental);
  gsp_cg_destroy(cg);
  char *a = dump(db), *b = dump(cold);
  assert_string_equal(a, b);
  free(a), free(b);
  return st.db_rows;
}

/* Run over root into db: an in-place update; equal to a cold write. */
static void update_ok(const char *root, const char *db, unsigned jobs) {
  gsp_cg *cg = run(root, db, jobs, GSP_OK);
  gsp_cg_stats st = stats_of(cg);
  gsp_cg_destroy(cg);
  assert_true(st.db_incremental);
  assert_false(st.db_unchanged);
  uint64_t cold = same_as_cold(root, db);
  assert_true(st.db_rows > 0);
  assert_true(st.db_rows < cold);
}

static int setup(void **state) {
  (void)state;
  snprintf(g_dir, sizeof g_dir, "/tmp/cgdbupXXXXXX");
  assert_non_null(mkdtemp(g_dir));
  sh("mkdir '%s/tree' && cp -R '%s/.' '%s/tree'", g_dir, CG_FIXTURE_DIR, g_dir);
  return 0;
}

static int teardown(void **state) {
  (void)state;
  gsp__cg_db_path_hash = NULL;
  gsp__cg_db_update_hook = NULL;
  sh("rm -rf '%s'", g_dir);
  return 0;
}

static int64_t scalar(const char *db, const char *sql) {
  sqlite3 *h = NULL;
  sqlite3_stmt *st = NULL;
  assert_int_equal(sqlite3_open_v2(db, &h, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
  assert_int_equal(sqlite3_prepare_v2(h, sql, -1, &st, NULL), SQLITE_OK);
  int64_t v = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : -1;
  sqlite3_finalize(st);
  sqlite3_close(h);
  return v;
}

/* ---- tests ---- */

static void test_change_add_remove(void **state) {
  (void)state;
  char tree[96], db[96];
  snprintf(tree, sizeof tree, "%s/tree", g_dir);
  snprintf(db, sizeof db, "%s/g.db", g_dir);
  gsp_cg *cg = run(tree, db, 2, GSP_OK);
  assert_false(stats_of(cg).db_incremental);
  gsp_cg_destroy(cg);
  int64_t util_id = scalar(db, "SELECT id FROM files WHERE path = 'c/util.c'");
  /* change: a new function calling an existing one */
  sh("printf 'int util_more(int x) { return util_add(x, 2); }\\n' >> '%s/c/util.c'", tree);
  update_ok(tree, db, 2);
  assert_int_equal(scalar(db, "SELECT count(*) FROM symbols WHERE name = 'util_more'"), 1);
  /* add: a file before every other in path order; ids of the others stay */
  sh("printf '#include \"c/util.h\"\\nint aa(void) { return util_add(1, 2); }\\n' > '%s/aa.c'",
     tree);
  update_ok(tree, db, 1);
  assert_int_equal(scalar(db, "SELECT id FROM files WHERE path = 'c/util.c'"), util_id);
  assert_int_equal(scalar(db, "SELECT count(*) FROM files WHERE path = 'aa.c'"), 1);
  /* remove: a header others include (their bindings change) */
  sh("rm '%s/c/lib/node.h'", tree);
  update_ok(tree, db, 2);
  assert_int_equal(scalar(db, "SELECT count(*) FROM files WHERE path = 'c/lib/node.h'"), 0);
  assert_int_equal(scalar(db, "SELECT id FROM files WHERE path = 'c/util.c'"), util_id);
  /* nothing changed: left alone */
  cg = run(tree, db, 2, GSP_OK);
  assert_true(stats_of(cg).db_unchanged);
  gsp_cg_destroy(cg);
}

/* Most files changed: written anew rather than updated; same rows. */
static void test_most_changed_written_anew(void **state) {
  (void)state;
  char tree[96], db[96];
  snprintf(tree, sizeof tree, "%s/tree", g_dir);
  snprintf(db, sizeof db, "%s/g.db", g_dir);
  gsp_cg_destroy(run(tree, db, 2, GSP_OK));
  sh("for f in $(find '%s' -name '*.c' -o -name '*.h' -o -name '*.py'); do"
     " printf '\n' >> \"$f\"; done",
     tree);
  gsp_cg *cg = run(tree, db, 2, GSP_OK);
  gsp_cg_stats st = stats_of(cg);
  gsp_cg_destroy(cg);
  assert_false(st.db_incremental);
  assert_false(st.db_unchanged);
  assert_int_equal(same_as_cold(tree, db), st.db_rows);
}

/* Row ids: (file id << 24) + index, file ids from the path alone. */
static void test_ids_from_paths(void **state) {
  (void)state;
  char tree[96], db[96];
  snprintf(tree, sizeof tree, "%s/tree", g_dir);
  snprintf(db, sizeof db, "%s/g.db", g_dir);
  gsp_cg_destroy(run(tree, db, 2, GSP_OK));
  int64_t id = scalar(db, "SELECT id FROM files WHERE path = 'c/main.c'");
  int64_t want = (int64_t)(XXH3_64bits("c/main.c", 8) & ((UINT64_C(1) << 39) - 1));
  assert_int_equal(id, want ? want : 1);
  assert_int_equal(scalar(db, "SELECT count(*) FROM symbols WHERE file_id != id >> 24"), 0);
  assert_int_equal(scalar(db, "SELECT count(*) FROM refs WHERE file_id != id >> 24"), 0);
  assert_int_equal(scalar(db, "SELECT count(*) FROM imports WHERE file_id != id >> 24"), 0);
  assert_int_equal(scalar(db,
                          "SELECT min(id & 16777215) FROM symbols WHERE file_id = (SELECT id"
                          " FROM files WHERE path = 'c/main.c')"),
                   0);
}

/* Two paths with one hash: the later in path order takes the next id. */
static uint64_t colliding_hash(const char *p, size_t n) {
  if ((n == 8 && memcmp(p, "c/util.c", 8) == 0) || (n == 8 && memcmp(p, "c/util.h", 8) == 0))
    return 4242;
  if (n == 9 && memcmp(p, "c/types.h", 9) == 0) return 4243; /* then one more probe */
  return XXH3_64bits(p, n);
}

static void test_collision(void **state) {
  (void)state;
  char tree[96], db[96];
  snprintf(tree, sizeof tree, "%s/tree", g_dir);
  snprintf(db, sizeof db, "%s/g.db", g_dir);
  gsp__cg_db_path_hash = colliding_hash;
  gsp_cg_destroy(run(tree, db, 2, GSP_OK));
  assert_int_equal(scalar(db, "SELECT id FROM files WHERE path = 'c/util.c'"), 4242);
  assert_int_equal(scalar(db, "SELECT id FROM files WHERE path = 'c/types.h'"), 4243);
  assert_int_equal(scalar(db, "SELECT id FROM files WHERE path = 'c/util.h'"), 4244);
  gsp_cgdb *q = NULL;
  assert_int_equal(gsp_cgdb_open(db, &q), GSP_OK);
  assert_int_equal(gsp_cgdb_run(q, GSP_CGDB_RDEPS, "c/util.h", NULL, NULL, NULL), GSP_OK);
  gsp_cgdb_close(q);
  assert_int_equal(scalar(db,
                          "SELECT count(*) FROM imports i JOIN files t ON t.id ="
                          " i.target_file_id WHERE t.path = 'c/util.h'"),
                   5);
  sh("printf 'int util_more(int x) { return util_add(x, 2); }\\n' >> '%s/c/util.c'", tree);
  update_ok(tree, db, 2);
  /* util.c gone: util.h's id still comes from the probe the tree implies,
   * which moved, so the writer writes cold; still the same rows */
  sh("rm '%s/c/util.c'", tree);
  gsp_cg *cg = run(tree, db, 2, GSP_OK);
  assert_false(stats_of(cg).db_incremental);
  gsp_cg_destroy(cg);
  same_as_cold(tree, db);
  assert_int_equal(scalar(db, "SELECT id FROM files WHERE path = 'c/util.h'"), 4242);
}

static char g_logged[512];
static void log_sink(void *user, gsp_log_level level, const char *module, const char *msg) {
  (void)user, (void)level;
  if (strcmp(module, "codegraph") == 0) snprintf(g_logged, sizeof g_logged, "%s", msg);
}

static void test_version_1_rebuilt(void **state) {
  (void)state;
  char tree[96], db[96];
  snprintf(tree, sizeof tree, "%s/tree", g_dir);
  snprintf(db, sizeof db, "%s/g.db", g_dir);
  sh("sqlite3 '%s' \"CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);"
     " INSERT INTO meta VALUES('schema_version', '1'), ('generator', 'gsperf " GSP_VERSION_STRING
     "'), ('root', '%s'); CREATE TABLE files(id INTEGER PRIMARY KEY, path TEXT);"
     " INSERT INTO files VALUES(1, 'c/main.c');\"",
     db, tree);
  gsp_cgdb *q = NULL;
  assert_int_equal(gsp_cgdb_open(db, &q), GSP_ENOTSUP);
  assert_null(q);
  gsp_log_set_sink(log_sink, NULL, GSP_LOG_INFO);
  gsp_cg *cg = run(tree, db, 2, GSP_OK);
  gsp_log_set_sink(NULL, NULL, GSP_LOG_WARN);
  assert_false(stats_of(cg).db_incremental);
  gsp_cg_destroy(cg);
  assert_non_null(strstr(g_logged, "schema version 1"));
  assert_non_null(strstr(g_logged, db));
  assert_int_equal(gsp_cgdb_open(db, &q), GSP_OK);
  gsp_cgdb_close(q);
  same_as_cold(tree, db);
}

/* Inside the update's transaction: the changed pages go to the file (the
 * old ones to the journal), then the process dies. */
static void die_now(void *db) {
  if (sqlite3_db_cacheflush(db) != SQLITE_OK) _exit(4);
  raise(SIGKILL);
}

/* A process killed inside the update's transaction: the old graph stays;
 * a reader rolls the journal back; the next run completes the update. */
static void test_killed_update(void **state) {
  (void)state;
  char tree[96], db[96], journal[128];
  snprintf(tree, sizeof tree, "%s/tree", g_dir);
  snprintf(db, sizeof db, "%s/g.db", g_dir);
  snprintf(journal, sizeof journal, "%s-journal", db);
  gsp_cg_destroy(run(tree, db, 2, GSP_OK));
  char *before = dump(db);
  sh("printf 'int util_more(int x) { return util_add(x, 2); }\\n' >> '%s/c/util.c'", tree);
  fflush(NULL);
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    gsp__cg_db_update_hook = die_now;
    gsp_cg *cg = NULL;
    gsp_cg_config cfg = {.root = tree, .jobs = 2, .no_cache = true, .db = db};
    if (gsp_cg_create(&cfg, &cg) == GSP_OK) gsp_cg_run(cg);
    _exit(3); /* not reached when the update ran */
  }
  int status = 0;
  assert_int_equal(waitpid(pid, &status, 0), pid);
  assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
  assert_int_equal(access(journal, F_OK), 0); /* a hot journal was left */
  gsp_cgdb *q = NULL;
  assert_int_equal(gsp_cgdb_open(db, &q), GSP_OK); /* rolls it back */
  gsp_cgdb_close(q);
  assert_int_not_equal(access(journal, F_OK), 0);
  char *after = dump(db);
  assert_string_equal(before, after);
  free(before), free(after);
  update_ok(tree, db, 2);
}

/* A generated tree of 300 files: headers in a chain of includes, sources
 * calling into them; a header changed, a file added, one removed. */
static void gen_tree(const char *root) {
  sh("mkdir -p '%s/inc' '%s/src'", root, root);
  for (int i = 0; i < 150; i++) {
    char p[160];
    snprintf(p, sizeof p, "%s/inc/h%03d.h", root, i);
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    if (i > 0) fprintf(f, "#include \"h%03d.h\"\n", i / 2);
    fprintf(f, "struct s%d { int v; };\nint fn%d(struct s%d *p);\n", i, i, i);
    fclose(f);
    snprintf(p, sizeof p, "%s/src/c%03d.c", root, i);
    f = fopen(p, "w");
    assert_non_null(f);
    fprintf(f, "#include \"../inc/h%03d.h\"\n", i);
    fprintf(f, "int fn%d(struct s%d *p) { return p->v + fn%d(0); }\n", i, i, i / 2);
    fclose(f);
  }
}

static void test_generated_tree(void **state) {
  (void)state;
  char tree[96], db[96];
  snprintf(tree, sizeof tree, "%s/gen", g_dir);
  snprintf(db, sizeof db, "%s/gen.db", g_dir);
  gen_tree(tree);
  gsp_cg_destroy(run(tree, db, 2, GSP_OK));
  assert_int_equal(scalar(db, "SELECT count(*) FROM files"), 300);
  sh("printf 'int extra7(void);\\n' >> '%s/inc/h007.h'", tree);
  update_ok(tree, db, 2);
  sh("printf '#include \"../inc/h010.h\"\\nint z(void) { return fn10(0); }\\n' > '%s/src/z.c'",
     tree);
  update_ok(tree, db, 1);
  sh("rm '%s/inc/h100.h'", tree);
  update_ok(tree, db, 2);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_change_add_remove, setup, teardown),
      cmocka_unit_test_setup_teardown(test_most_changed_written_anew, setup, teardown),
      cmocka_unit_test_setup_teardown(test_ids_from_paths, setup, teardown),
      cmocka_unit_test_setup_teardown(test_collision, setup, teardown),
      cmocka_unit_test_setup_teardown(test_version_1_rebuilt, setup, teardown),
      cmocka_unit_test_setup_teardown(test_killed_update, setup, teardown),
      cmocka_unit_test_setup_teardown(test_generated_tree, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
