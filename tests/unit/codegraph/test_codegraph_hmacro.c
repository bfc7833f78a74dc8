/*
 * test_codegraph_hmacro.c - annotation macros learned from included
 * headers in gsp_cg_run's parse (hmacro.c, resolve_cxx.c's pre-scan):
 *
 *  - include/api.h defines `API`, `api_local` and `API_EMPTY` as
 *    annotations; src/use.c includes it and declares `api_local int
 *    f (void);`, `int g (int x) API_EMPTY;`, `API int k (void);` and defines
 *    `api_local static int h (...)`: no syntax error, every name extracted
 *    (without the learned names api_local and API_EMPTY break the parse);
 *  - src/own.c defines api_local itself (the file's own definition
 *    counts), src/plain.c includes a header that teaches nothing;
 *  - warm run after cold: nothing parsed, no file read by the pre-scan, the
 *    graph and the database byte-identical to the cold run's;
 *  - api.h edited so that it no longer defines api_local: api.h and its
 *    includer use.c are parsed again, nothing else (own.c defines
 *    api_local itself, so what api.h teaches about it does not reach it);
 *    use.c has a syntax error again, the graph equals a run without store;
 *  - api.h edited in a way that keeps what it teaches (a declaration
 *    added): only api.h is parsed again;
 *  - one job and two jobs give the same graph;
 *  - several teaching headers (a tree of its own): files that include the
 *    same two (in either order) learn their union, but a file among them
 *    that #undefs or #defines one of those names after using it does not
 *    learn that name (`int f (int x) B_API;` stays a syntax error there,
 *    also when a file before it made the union: the union cache), nor
 *    does one with another pair; a header whose taught names follow an
 *    #include of its own teaches them; the same graph with one and two
 *    jobs, and warm (notes from the memo) as cold.
 *
 * Runs wait 250 ms after any write, past the stat rule's 100 ms
 * granularity.
 */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "cg_dump.h"
#include "cg_scratch.h"
#include "gsperf/tier.h"

extern _Atomic uint64_t gsp__cg_cxx_reads;

#define NELEM(a) (sizeof(a) / sizeof *(a))

static const char *const c_incs[] = {"include"};

static const char api_h[] =
    "#ifndef API_H\n"
    "#define API_H\n"
    "#define API __attribute__ ((visibility (\"default\")))\n"
    "#define api_local __attribute__ ((unused))\n"
    "#define API_EMPTY\n"
    "int api_version (void);\n"
    "#endif\n";
static const char api_h_no_local[] =
    "#ifndef API_H\n"
    "#define API_H\n"
    "#define API __attribute__ ((visibility (\"default\")))\n"
    "#define API_EMPTY\n"
    "int api_version (void);\n"
    "#endif\n";
static const char use_c[] =
    "#include \"api.h\"\n"
    "\n"
    "api_local int f (void);\n"
    "int g (int x) API_EMPTY;\n"
    "api_local static int h (int x) { return x + 1; }\n"
    "API int k (void);\n"
    "int m (void) { return h (1) + api_version (); }\n";
static const char own_c[] =
    "#include <api.h>\n"
    "#define api_local\n"
    "api_local int own_f (void);\n";
static const char plain_h[] = "#ifndef PLAIN_H\n#define PLAIN_H\nint plain (void);\n#endif\n";
static const char plain_c[] = "#include \"../include/plain.h\"\nint plain (void) { return 0; }\n";

typedef struct run_out {
  char *dump;
  uint64_t reads; /* C files the pre-scan read */
  gsp_cg_stats st;
  bool use_error; /* src/use.c has a syntax error */
  size_t use_defs;
} run_out;

typedef cg_scratch scratch;

static void put(const scratch *s, const char *rel, const char *text) {
  char path[256];
  snprintf(path, sizeof path, "%s/%s", s->tree, rel);
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  assert_int_equal(fwrite(text, 1, strlen(text), f), strlen(text));
  fclose(f);
}

static void make_scratch(scratch *s) {
  cg_scratch_make(s, "cghm", NULL);
  char d[160];
  snprintf(d, sizeof d, "%s/include", s->tree);
  assert_int_equal(mkdir(d, 0755), 0);
  snprintf(d, sizeof d, "%s/src", s->tree);
  assert_int_equal(mkdir(d, 0755), 0);
  put(s, "include/api.h", api_h);
  put(s, "include/plain.h", plain_h);
  put(s, "src/use.c", use_c);
  put(s, "src/own.c", own_c);
  put(s, "src/plain.c", plain_c);
  cg_settle();
}

static void drop_scratch(const scratch *s) { cg_scratch_drop(s); }

/* Whether file rel of cg defines name. */
static bool defines(const gsp_cg *cg, const char *rel, const char *name) {
  long f = gsp_cg_file_find(cg, rel);
  assert_true(f >= 0);
  const gsp_cg_result *r = gsp_cg_file_result(cg, (size_t)f);
  for (size_t i = 0; r && i < gsp_cg_result_ndefs(r); i++) {
    gsp_cg_def d;
    gsp_cg_result_def(r, i, &d);
    if (strcmp(d.name, name) == 0) return true;
  }
  return false;
}

/* One analysis of s->tree with `jobs` threads; with_store: through an LMDB
 * store in s->cache; db: also write this database file (NULL = none);
 * then check(cg, out) on the tree's own files. */
static void run_with(const scratch *s, unsigned jobs, bool with_store, const char *db, run_out *out,
                     void (*check)(const gsp_cg *cg, run_out *out)) {
  gsp_tier *tier = cg_scratch_store(s->cache, with_store);
  gsp_cg *cg = NULL;
  gsp_cg_config cfg = {.root = s->tree,
                       .jobs = jobs,
                       .store = tier,
                       .db = db,
                       .include_dirs = c_incs,
                       .n_include_dirs = NELEM(c_incs)};
  assert_int_equal(gsp_cg_create(&cfg, &cg), GSP_OK);
  uint64_t before = atomic_load(&gsp__cg_cxx_reads);
  assert_int_equal(gsp_cg_run(cg), GSP_OK);
  out->reads = atomic_load(&gsp__cg_cxx_reads) - before;
  out->dump = cg_dump(cg);
  assert_null(cg_check_invariants(cg));
  gsp_cg_stats_get(cg, &out->st);
  check(cg, out);
  gsp_cg_destroy(cg);
  gsp_tier_destroy(tier);
}

/* The api.h tree: what use.c and own.c parse to. */
static void check_use(const gsp_cg *cg, run_out *out) {
  long u = gsp_cg_file_find(cg, "src/use.c");
  assert_true(u >= 0);
  const gsp_cg_result *r = gsp_cg_file_result(cg, (size_t)u);
  assert_non_null(r);
  out->use_error = gsp_cg_result_has_error(r);
  out->use_defs = gsp_cg_result_ndefs(r);
  static const char *const names[] = {"f", "g", "h", "k", "m"};
  bool all = true;
  for (size_t i = 0; i < NELEM(names); i++) all = all && defines(cg, "src/use.c", names[i]);
  if (!out->use_error) assert_true(all);
  assert_true(defines(cg, "src/own.c", "own_f"));
}

static void run(const scratch *s, unsigned jobs, bool with_store, const char *db, run_out *out) {
  run_with(s, jobs, with_store, db, out, check_use);
}

static void test_learned_names_parse(void **state) {
  (void)state;
  scratch s;
  make_scratch(&s);
  run_out one = {0}, two = {0};
  run(&s, 1, false, NULL, &one);
  run(&s, 2, false, NULL, &two);
  assert_false(one.use_error);
  assert_int_equal(one.st.parsed, 5);
  assert_string_equal(one.dump, two.dump);
  free(one.dump), free(two.dump);
  drop_scratch(&s);
}

static void test_warm_equals_cold(void **state) {
  (void)state;
  scratch s;
  make_scratch(&s);
  run_out cold = {0}, warm = {0}, fresh = {0};
  char db_cold[128], db_warm[128];
  snprintf(db_cold, sizeof db_cold, "%s/cold.db", s.dir);
  snprintf(db_warm, sizeof db_warm, "%s/warm.db", s.dir);
  run(&s, 2, true, db_cold, &cold);
  assert_int_equal(cold.st.parsed, 5);
  assert_true(cold.reads >= 5);
  run(&s, 2, true, db_warm, &warm);
  assert_int_equal(warm.st.parsed, 0);
  assert_int_equal(warm.reads, 0);
  run(&s, 1, false, NULL, &fresh);
  assert_false(warm.use_error);
  assert_string_equal(cold.dump, warm.dump);
  assert_string_equal(fresh.dump, warm.dump);
  cg_assert_same_file(db_cold, db_warm);
  free(cold.dump), free(warm.dump), free(fresh.dump);
  drop_scratch(&s);
}

/* The SQL dump of database db (sqlite3's .dump), malloc'ed. */
static char *sql_dump(const char *db) {
  char cmd[256];
  snprintf(cmd, sizeof cmd, "sqlite3 '%s' .dump", db);
  FILE *p = popen(cmd, "r");
  assert_non_null(p);
  size_t cap = 1 << 16, len = 0, n;
  char *buf = malloc(cap);
  while ((n = fread(buf + len, 1, cap - len - 1, p)) > 0)
    if ((len += n) + 1 >= cap) buf = realloc(buf, cap *= 2);
  buf[len] = '\0';
  assert_int_equal(pclose(p), 0);
  return buf;
}

static void test_header_changes(void **state) {
  (void)state;
  scratch s;
  make_scratch(&s);
  run_out cold = {0}, dropped = {0}, fresh = {0}, kept = {0}, fresh2 = {0};
  char db_inc[128], db_fresh[128];
  snprintf(db_inc, sizeof db_inc, "%s/inc.db", s.dir);
  snprintf(db_fresh, sizeof db_fresh, "%s/fresh.db", s.dir);
  run(&s, 2, true, db_inc, &cold);
  assert_false(cold.use_error);
  /* api.h no longer teaches api_local: api.h and use.c again, not own.c;
   * the database brought up to date as a cold write gives it */
  put(&s, "include/api.h", api_h_no_local);
  cg_settle();
  run(&s, 2, true, db_inc, &dropped);
  assert_int_equal(dropped.st.parsed, 2);
  assert_true(dropped.use_error); /* api_local int f (void); is no C any more */
  run(&s, 2, false, db_fresh, &fresh);
  assert_string_equal(dropped.dump, fresh.dump);
  char *di = sql_dump(db_inc), *df = sql_dump(db_fresh);
  assert_string_equal(di, df);
  free(di), free(df);
  /* a declaration added: what api.h teaches is the same, only it again */
  char grown[sizeof api_h_no_local + 64];
  snprintf(grown, sizeof grown, "%sint api_more (void);\n", api_h_no_local);
  put(&s, "include/api.h", grown);
  cg_settle();
  run(&s, 2, true, NULL, &kept);
  assert_int_equal(kept.st.parsed, 1);
  assert_int_equal(kept.reads, 1);
  run(&s, 2, false, NULL, &fresh2);
  assert_string_equal(kept.dump, fresh2.dump);
  free(cold.dump), free(dropped.dump), free(fresh.dump), free(kept.dump), free(fresh2.dump);
  drop_scratch(&s);
}

/* ---- several teachers ---- */

static const char *const u_files[][2] = {
    {"include/a.h", "#ifndef A_H\n#define A_H\n#define A_API __attribute__ ((unused))\n#endif\n"},
    {"include/b.h", "#ifndef B_H\n#define B_H\n#define B_API __attribute__ ((unused))\n#endif\n"},
    {"include/c.h", "#include \"a.h\"\n#define C_API\nint c_version (void);\n"},
    {"src/m1.c",
     "#include <a.h>\n#include <b.h>\nint m1a (int x) A_API;\nint m1b (int x) B_API;\n"},
    {"src/m2.c",
     "#include <b.h>\n#include <a.h>\nint m2a (int x) A_API;\nint m2b (int x) B_API;\n"},
    {"src/m3.c", /* uses B_API before its own #undef: only a learned B_API would blank it */
     "#include <a.h>\n#include <b.h>\nint m3b (int x) B_API;\n#undef B_API\n"
     "int m3a (int x) A_API;\n"},
    {"src/m4.c",
     "#include <a.h>\n#include <b.h>\nint m4a (int x) A_API;\nint m4b (int x) B_API;\n"},
    {"src/m5.c",
     "#include <c.h>\n#include <b.h>\nint m5c (int x) C_API;\nint m5b (int x) B_API;\n"},
    {"src/m6.c", /* uses B_API before its own #define: B_API is its own, not learned */
     "#include <a.h>\n#include <b.h>\nint m6a (int x) A_API;\nint m6b (int x) B_API;\n"
     "#define B_API\n"},
};

/* Whether file rel of cg has a syntax error. */
static bool has_error(const gsp_cg *cg, const char *rel) {
  long f = gsp_cg_file_find(cg, rel);
  assert_true(f >= 0);
  const gsp_cg_result *r = gsp_cg_file_result(cg, (size_t)f);
  assert_non_null(r);
  return gsp_cg_result_has_error(r);
}

/* The several-teachers tree: what each file learned, by what it parses to. */
static void check_union(const gsp_cg *cg, run_out *out) {
  (void)out;
  static const char *const good[][3] = {{"src/m1.c", "m1a", "m1b"},
                                        {"src/m2.c", "m2a", "m2b"},
                                        {"src/m4.c", "m4a", "m4b"},
                                        {"src/m5.c", "m5c", "m5b"}};
  for (size_t i = 0; i < NELEM(good); i++) {
    assert_false(has_error(cg, good[i][0]));
    assert_true(defines(cg, good[i][0], good[i][1]));
    assert_true(defines(cg, good[i][0], good[i][2]));
  }
  assert_true(has_error(cg, "src/m3.c")); /* its own #undef B_API: not learned */
  assert_true(has_error(cg, "src/m6.c")); /* its own #define B_API: not learned */
  assert_true(defines(cg, "src/m6.c", "m6a"));
}

static void run_union(const scratch *s, unsigned jobs, bool with_store, run_out *out) {
  run_with(s, jobs, with_store, NULL, out, check_union);
}

static void test_several_teachers(void **state) {
  (void)state;
  scratch s;
  cg_scratch_make(&s, "cghmu", NULL);
  char d[160];
  snprintf(d, sizeof d, "%s/include", s.tree);
  assert_int_equal(mkdir(d, 0755), 0);
  snprintf(d, sizeof d, "%s/src", s.tree);
  assert_int_equal(mkdir(d, 0755), 0);
  for (size_t i = 0; i < NELEM(u_files); i++) put(&s, u_files[i][0], u_files[i][1]);
  cg_settle();
  run_out one = {0}, two = {0}, cold = {0}, warm = {0};
  run_union(&s, 1, false, &one);
  run_union(&s, 2, false, &two);
  assert_string_equal(one.dump, two.dump);
  run_union(&s, 2, true, &cold);
  assert_int_equal(cold.st.parsed, NELEM(u_files));
  run_union(&s, 2, true, &warm);
  assert_int_equal(warm.st.parsed, 0);
  assert_int_equal(warm.reads, 0);
  assert_string_equal(cold.dump, warm.dump);
  assert_string_equal(one.dump, warm.dump);
  free(one.dump), free(two.dump), free(cold.dump), free(warm.dump);
  cg_scratch_drop(&s);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_learned_names_parse),
      cmocka_unit_test(test_warm_equals_cold),
      cmocka_unit_test(test_header_changes),
      cmocka_unit_test(test_several_teachers),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
