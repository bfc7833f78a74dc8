/*
 * test_codegraph_db_escape.c - the names and qualifiers of type uses, packed
 * as JSON text into type_uses.sites (one row per file), come back byte for
 * byte through the ref_sites and refs views, whatever bytes they hold.
 *
 * No extractor makes such names, but results also come from outside the
 * parser: a parse farm's ranks send them as bytes, and a result store may
 * hold those of another build. So a farm (gsp_cg_config.farm) hands the run
 * results built here with the library's result builder and passed through
 * their serialized form (gsp_cg_result_load, as a rank's would come):
 * quotes, backslashes, every control byte, DEL, every byte from 0x80 up
 * (invalid UTF-8: stray continuation bytes, truncated and overlong
 * sequences, an encoded surrogate), valid multibyte UTF-8, text that reads
 * like JSON or its escapes, a long name of bytes that all need escaping,
 * and empty qualifiers; calls (their own table) among them, so the packed
 * indexes skip them; scopes and a line at UINT32_MAX. Checked after the
 * cold write during the run and after an in-place update of the same file
 * with the names moved round: json_valid of every sites text, and each
 * site's index, scope, name, qualifier, kind and line.
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

#include "../../../src/codegraph/cg_int.h" /* the result builder */
#include "cg_run.h"
#include "cg_scratch.h"
#include "gsperf/codegraph.h"

typedef struct site {
  const char *name, *qual;
  gsp_cg_ref_kind kind;
} site;

static char g_ctl[32];        /* bytes 1..31 */
static char g_high[129];      /* bytes 0x80..0xff */
static char g_long[3 * 2000]; /* '"', '\\', 0x01 over and over */

static const site g_sites[] = {
    {"q\"uote", "back\\slash", GSP_CG_REF_TYPE},
    {g_ctl, "x\x1f\x7f/y", GSP_CG_REF_TYPE},
    {"call\"\\\n", "o\tbj", GSP_CG_REF_CALL},
    {g_high, "\xc3", GSP_CG_REF_TYPE},
    {"\xe2\x82", "\xc0\xaf\xed\xa0\x80\xbf", GSP_CG_REF_TYPE},
    {"caf\xc3\xa9 \xe2\x82\xac \xf0\x9d\x84\x9e", "\\u0041\\n\\\"", GSP_CG_REF_TYPE},
    {"[1,\"x\"]", "null", GSP_CG_REF_TYPE},
    {"plain", "", GSP_CG_REF_CALL},
    {g_long, "", GSP_CG_REF_TYPE},
    {"\"", "\\", GSP_CG_REF_TYPE},
    {"plain", "", GSP_CG_REF_TYPE},
};
#define NSITES (sizeof g_sites / sizeof g_sites[0])

static cg_scratch g_s;
static char g_db[128];

/* The site at index i of a run whose names are moved round by shift. */
static const site *site_at(size_t i, size_t shift) { return &g_sites[(i + shift) % NSITES]; }
static int32_t scope_at(size_t i) { return i % 3 == 0 ? 0 : -1; }
static uint32_t line_at(size_t i) { return i == 4 ? UINT32_MAX : (uint32_t)(10 * i + 1); }

static uint32_t intern(cg_builder *b, const char *s) {
  return gsp__cg_intern(b, s, strlen(s), NULL);
}

/* The file's result: one struct (the scope of every third site), then the
 * sites; built, serialized and loaded again as a farm rank's would be. */
static gsp_cg_result *remote_result(size_t shift) {
  cg_builder b;
  gsp__cg_builder_init(&b);
  assert_int_equal(gsp__cg_add_def(&b, intern(&b, "S\"\\\x01"), GSP_CG_DEF_STRUCT, 1, -1), 0);
  for (size_t i = 0; i < NSITES; i++) {
    const site *s = site_at(i, shift);
    gsp__cg_add_ref(&b, intern(&b, s->name), intern(&b, s->qual), s->kind, line_at(i), scope_at(i));
  }
  gsp_cg_result *built = NULL, *r = NULL;
  assert_int_equal(gsp__cg_builder_finish(&b, GSP_CG_LANG_C, false, 1, &built), GSP_OK);
  gsp__cg_builder_free(&b);
  assert_int_equal(gsp_cg_result_nrefs(built), NSITES);
  size_t len = 0;
  const void *bytes = gsp_cg_result_bytes(built, &len);
  assert_int_equal(gsp_cg_result_load(bytes, len, &r), GSP_OK);
  gsp_cg_result_free(built);
  return r;
}

/* The farm: each file read, hashed and parsed as a rank would; a.c's
 * result then replaced by the one from above. */
static int farm(void *user, const char *root, gsp_cg_farm_file *ff, size_t n) {
  const size_t *shift = user;
  assert_int_equal(cg_farm_parse(root, ff, n, &(cg_farm_how){0}), GSP_OK);
  size_t seen = 0;
  for (size_t i = 0; i < n; i++) {
    if (strcmp(ff[i].path, "a.c") != 0) continue;
    gsp_cg_result_free(ff[i].res);
    ff[i].res = remote_result(*shift);
    seen++;
  }
  assert_int_equal(seen, 1);
  return GSP_OK;
}

/* b.c: enough rows of its own that rewriting a.c's is an in-place update
 * (more than half of the rows rewritten is a cold write). */
static void write_b(void) {
  char path[160];
  snprintf(path, sizeof path, "%s/b.c", g_s.tree);
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  for (int i = 0; i < 64; i++)
    fprintf(f, "struct s%d { int x; };\nint f%d(struct s%d *p) { return f%d(p); }\n", i, i, i, i);
  assert_int_equal(fclose(f), 0);
}

static int setup(void **state) {
  (void)state;
  for (int i = 0; i < 31; i++) g_ctl[i] = (char)(i + 1);
  for (int i = 0; i < 128; i++) g_high[i] = (char)(0x80 + i);
  for (size_t i = 0; i + 1 < sizeof g_long; i++) g_long[i] = "\"\\\x01"[i % 3];
  cg_scratch_make(&g_s, "cgdbesc", NULL);
  snprintf(g_db, sizeof g_db, "%s/g.db", g_s.dir);
  write_b();
  return 0;
}

static int teardown(void **state) {
  (void)state;
  cg_scratch_drop(&g_s);
  return 0;
}

/* A run over the tree (a.c holding src) into g_db; whether it was an
 * in-place update. */
static bool run(const char *src, size_t shift) {
  char path[160];
  snprintf(path, sizeof path, "%s/a.c", g_s.tree);
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  assert_true(fputs(src, f) >= 0);
  assert_int_equal(fclose(f), 0);
  gsp_cg *cg = NULL;
  gsp_cg_config cfg = {
      .root = g_s.tree, .jobs = 2, .no_cache = true, .db = g_db, .farm = farm, .farm_user = &shift};
  assert_int_equal(gsp_cg_create(&cfg, &cg), GSP_OK);
  assert_int_equal(gsp_cg_run(cg), GSP_OK);
  gsp_cg_stats st;
  gsp_cg_stats_get(cg, &st);
  assert_int_equal(st.files, 2);
  gsp_cg_destroy(cg);
  return st.db_incremental;
}

static int64_t scalar(sqlite3 *db, const char *sql) {
  sqlite3_stmt *st = NULL;
  assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
  assert_int_equal(sqlite3_step(st), SQLITE_ROW);
  int64_t v = sqlite3_column_int64(st, 0);
  sqlite3_finalize(st);
  return v;
}

/* Column c of st's row is exactly the text s. */
static void assert_text(sqlite3_stmt *st, int c, const char *s) {
  assert_int_equal(sqlite3_column_type(st, c), SQLITE_TEXT);
  const unsigned char *t = sqlite3_column_text(st, c);
  assert_int_equal((size_t)sqlite3_column_bytes(st, c), strlen(s));
  assert_memory_equal(t, s, strlen(s));
}

/* Column c of st's row is the integer v, or NULL when v < 0. */
static void assert_int_or_null(sqlite3_stmt *st, int c, int64_t v) {
  if (v < 0) {
    assert_int_equal(sqlite3_column_type(st, c), SQLITE_NULL);
    return;
  }
  assert_int_equal(sqlite3_column_type(st, c), SQLITE_INTEGER);
  assert_int_equal(sqlite3_column_int64(st, c), v);
}

/* Every site of view (ref_sites or refs) as the run with shift made it. */
static void check_view(sqlite3 *db, const char *view, size_t shift) {
  char sql[192];
  snprintf(sql, sizeof sql,
           "SELECT id & 16777215, scope_id - (file_id << 24), name, qualifier, kind, line"
           " FROM %s WHERE file_id = (SELECT id FROM files WHERE path = 'a.c') ORDER BY id",
           view);
  sqlite3_stmt *st = NULL;
  assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
  size_t i = 0;
  for (; sqlite3_step(st) == SQLITE_ROW; i++) {
    assert_true(i < NSITES);
    const site *s = site_at(i, shift);
    assert_int_equal(sqlite3_column_int64(st, 0), (int64_t)i);
    assert_int_or_null(st, 1, scope_at(i));
    assert_text(st, 2, s->name);
    assert_text(st, 3, s->qual);
    assert_text(st, 4, s->kind == GSP_CG_REF_CALL ? "call" : "use");
    assert_int_equal(sqlite3_column_int64(st, 5), (int64_t)line_at(i));
  }
  assert_int_equal(i, NSITES);
  sqlite3_finalize(st);
}

static void check_db(size_t shift) {
  sqlite3 *db = NULL;
  assert_int_equal(sqlite3_open_v2(g_db, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
  assert_int_equal(scalar(db, "SELECT count(*) FROM type_uses"), 2);
  assert_int_equal(scalar(db, "SELECT count(*) FROM type_uses WHERE NOT json_valid(sites)"), 0);
  assert_int_equal(scalar(db,
                          "SELECT json_array_length(sites) FROM type_uses WHERE file_id ="
                          " (SELECT id FROM files WHERE path = 'a.c')"),
                   NSITES - 2);
  check_view(db, "ref_sites", shift);
  check_view(db, "refs", shift);
  sqlite3_close(db);
}

static void test_escaped_sites_round_trip(void **state) {
  (void)state;
  assert_false(run("int a;\n", 0));
  check_db(0);
  /* the in-place update rewrites the changed file's row */
  assert_true(run("int a2;\n", 5));
  check_db(5);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_escaped_sites_round_trip, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
