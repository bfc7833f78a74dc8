/*
 * test_tier_files.c - damaged and foreign L3 files. Records are damaged
 * behind the tier's back through LMDB itself (a flipped payload byte, a
 * record moved under another key, a shortened record, a newer record
 * version): each must read as a miss, be counted, be removed, and show in
 * gsp_tier_verify(). Whole files: garbage, a truncated database, a newer
 * format, another program's LMDB database: each fails to open with an
 * error naming the path and the problem, and opens empty with l3_rebuild.
 * A full map: a clean GSP_ENOSPC while L1 keeps working.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <fcntl.h>
#include <lmdb.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "tier_scratch.h"

static void fill(unsigned n, size_t vlen) {
  gsp_tier *t = NULL;
  gsp_tier_config c = {.l3 = g_uri, .durability = GSP_TIER_NONE};
  assert_int_equal(gsp_tier_create(&c, &t, NULL, 0), GSP_OK);
  char *v = malloc(vlen), k[32];
  for (unsigned i = 0; i < n; i++) {
    make_value(v, vlen, i, 1, 1);
    assert_int_equal(gsp_tier_put(t, k, key_of(k, sizeof k, i), v, vlen, NULL), GSP_OK);
  }
  free(v);
  gsp_tier_destroy(t);
}

/* Open the database with LMDB directly; fn edits it in a write txn. */
static void tamper(void (*fn)(MDB_txn *, MDB_dbi, MDB_dbi)) {
  MDB_env *env;
  MDB_txn *txn;
  MDB_dbi data, meta;
  assert_int_equal(mdb_env_create(&env), 0);
  mdb_env_set_maxdbs(env, 4);
  assert_int_equal(mdb_env_open(env, g_dir, 0, 0644), 0);
  assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
  assert_int_equal(mdb_dbi_open(txn, "data", 0, &data), 0);
  assert_int_equal(mdb_dbi_open(txn, "meta", 0, &meta), 0);
  fn(txn, data, meta);
  assert_int_equal(mdb_txn_commit(txn), 0);
  mdb_env_close(env);
}

static void edit_record(MDB_txn *txn, MDB_dbi data, unsigned i, size_t off, int delta, size_t cut) {
  char k[32];
  MDB_val key = {key_of(k, sizeof k, i), k}, v;
  assert_int_equal(mdb_get(txn, data, &key, &v), 0);
  unsigned char *copy = malloc(v.mv_size);
  memcpy(copy, v.mv_data, v.mv_size);
  copy[off] = (unsigned char)(copy[off] + delta);
  MDB_val nv = {v.mv_size - cut, copy};
  assert_int_equal(mdb_put(txn, data, &key, &nv, 0), 0);
  free(copy);
}

static void damage_records(MDB_txn *txn, MDB_dbi data, MDB_dbi meta) {
  (void)meta;
  edit_record(txn, data, 3, 100, 1, 0); /* payload byte */
  edit_record(txn, data, 4, 8, 1, 0);   /* version 2: newer */
  edit_record(txn, data, 6, 40, 0, 7);  /* shortened */
  /* key 5's slot holds key 7's (valid) record */
  char k[32];
  MDB_val k7 = {key_of(k, sizeof k, 7), k}, v;
  assert_int_equal(mdb_get(txn, data, &k7, &v), 0);
  char k5b[32];
  MDB_val k5 = {key_of(k5b, sizeof k5b, 5), k5b};
  unsigned char *copy = malloc(v.mv_size);
  memcpy(copy, v.mv_data, v.mv_size);
  MDB_val nv = {v.mv_size, copy};
  assert_int_equal(mdb_put(txn, data, &k5, &nv, 0), 0);
  free(copy);
}

static void test_damaged_records(void **st) {
  (void)st;
  fill(10, 400);
  tamper(damage_records);
  gsp_tier *t = NULL;
  gsp_tier_config c = {.l3 = g_uri};
  assert_int_equal(gsp_tier_create(&c, &t, NULL, 0), GSP_OK);
  uint64_t good, bad;
  assert_int_equal(gsp_tier_verify(t, false, &good, &bad), GSP_OK);
  assert_int_equal(good, 6);
  assert_int_equal(bad, 4);
  for (unsigned i = 0; i < 10; i++) {
    char k[32];
    void *v;
    size_t n;
    int rv = gsp_tier_get(t, k, key_of(k, sizeof k, i), &v, &n);
    if (i >= 3 && i <= 6) {
      assert_int_equal(rv, GSP_ENOENT);
      continue;
    }
    assert_int_equal(rv, GSP_OK);
    assert_true(value_ok(v, n, i, 1));
    gsp_free(v);
  }
  gsp_tier_stats s;
  gsp_tier_stats_get(t, &s);
  assert_int_equal(s.level[2].corrupt, 4);
  assert_non_null(strstr(gsp_tier_errmsg(t), g_dir));
  assert_int_equal(gsp_tier_verify(t, false, &good, &bad), GSP_OK);
  assert_int_equal(bad, 0); /* removed when met */
  assert_int_equal(good, 6);
  gsp_tier_destroy(t);
}

/* The same damage met through borrowed gets: a bad record is never lent. */
static void test_damaged_views(void **st) {
  (void)st;
  fill(10, 400);
  tamper(damage_records);
  gsp_tier *t = NULL;
  gsp_tier_config c = {.l3 = g_uri, .l2_max_bytes = SIZE_MAX, .no_promote = true};
  assert_int_equal(gsp_tier_create(&c, &t, NULL, 0), GSP_OK);
  for (unsigned i = 0; i < 10; i++) {
    char k[32];
    gsp_tier_view v;
    int rv = gsp_tier_get_view(t, k, key_of(k, sizeof k, i), &v);
    if (i >= 3 && i <= 6) {
      assert_int_equal(rv, GSP_ENOENT);
      assert_null(v.data);
      continue;
    }
    assert_int_equal(rv, GSP_OK);
    assert_true(value_ok(v.data, v.len, i, 1));
    gsp_tier_view_release(&v);
  }
  gsp_tier_stats s;
  gsp_tier_stats_get(t, &s);
  assert_int_equal(s.level[2].corrupt, 4);
  assert_int_equal(s.level[2].hits, 6);
  uint64_t good, bad;
  assert_int_equal(gsp_tier_verify(t, false, &good, &bad), GSP_OK);
  assert_int_equal(bad, 0); /* removed when met */
  assert_int_equal(good, 6);
  gsp_tier_destroy(t);
}

static void test_verify_repair(void **st) {
  (void)st;
  fill(10, 400);
  tamper(damage_records);
  gsp_tier *t = NULL;
  gsp_tier_config c = {.l3 = g_uri};
  assert_int_equal(gsp_tier_create(&c, &t, NULL, 0), GSP_OK);
  uint64_t good, bad;
  assert_int_equal(gsp_tier_verify(t, true, &good, &bad), GSP_OK);
  assert_int_equal(bad, 4);
  assert_int_equal(gsp_tier_verify(t, false, &good, &bad), GSP_OK);
  assert_int_equal(good, 6);
  assert_int_equal(bad, 0);
  gsp_tier_destroy(t);
}

/* Opening fails with `want` and a message holding `what` and the path;
 * with l3_rebuild it opens, empty. */
static void expect_bad_then_rebuild(int want, const char *what) {
  gsp_tier *t = NULL;
  char err[512];
  gsp_tier_config c = {.l3 = g_uri};
  assert_int_equal(gsp_tier_create(&c, &t, err, sizeof err), want);
  assert_null(t);
  if (strstr(err, what) == NULL || strstr(err, g_dir) == NULL)
    fail_msg("message '%s' lacks '%s' or the path", err, what);
  c.l3_rebuild = true;
  assert_int_equal(gsp_tier_create(&c, &t, err, sizeof err), GSP_OK);
  gsp_tier_stats s;
  gsp_tier_stats_get(t, &s);
  assert_int_equal(s.level[2].entries, 0);
  assert_int_equal(gsp_tier_put(t, "k", 1, "v", 1, NULL), GSP_OK);
  gsp_tier_destroy(t);
}

static void write_file(const char *name, const char *fill_byte, size_t n) {
  char f[128];
  snprintf(f, sizeof f, "%s/%s", g_dir, name);
  FILE *fp = fopen(f, "wb");
  assert_non_null(fp);
  for (size_t i = 0; i < n; i++) fputc(fill_byte[i % strlen(fill_byte)], fp);
  fclose(fp);
}

static void test_garbage_file(void **st) {
  (void)st;
  write_file("data.mdb", "this is not a database ", 65536);
  expect_bad_then_rebuild(GSP_EFORMAT, "not an LMDB database");
}

static void test_truncated_file(void **st) {
  (void)st;
  fill(3000, 1000);
  char f[128];
  snprintf(f, sizeof f, "%s/data.mdb", g_dir);
  assert_int_equal(truncate(f, 256 * 1024), 0);
  expect_bad_then_rebuild(GSP_ECORRUPT, "truncated");
}

static void newer_format(MDB_txn *txn, MDB_dbi data, MDB_dbi meta) {
  (void)data;
  uint64_t v = 99;
  MDB_val k = {7, "version"}, val = {sizeof v, &v};
  assert_int_equal(mdb_put(txn, meta, &k, &val, 0), 0);
}

static void test_newer_format(void **st) {
  (void)st;
  fill(5, 100);
  tamper(newer_format);
  expect_bad_then_rebuild(GSP_EFORMAT, "newer");
}

static void test_foreign_lmdb(void **st) {
  (void)st;
  MDB_env *env;
  MDB_txn *txn;
  MDB_dbi dbi;
  assert_int_equal(mdb_env_create(&env), 0);
  assert_int_equal(mdb_env_open(env, g_dir, 0, 0644), 0);
  assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
  assert_int_equal(mdb_dbi_open(txn, NULL, 0, &dbi), 0);
  MDB_val k = {5, "hello"}, v = {5, "world"};
  assert_int_equal(mdb_put(txn, dbi, &k, &v, 0), 0);
  assert_int_equal(mdb_txn_commit(txn), 0);
  mdb_env_close(env);
  expect_bad_then_rebuild(GSP_EFORMAT, "foreign");
}

/* A reader in another process pins an old snapshot, so freed pages cannot
 * be reused and churn fills the map: puts fail cleanly with GSP_ENOSPC, L1
 * keeps serving, and once the reader is gone the puts succeed again. */
static void test_map_full(void **st) {
  (void)st;
  fill(1, 100);
  int go[2], hold[2];
  assert_int_equal(pipe(go), 0);
  assert_int_equal(pipe(hold), 0);
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    MDB_env *env;
    MDB_txn *txn;
    char c = 1;
    close(hold[1]);
    close(go[0]);
    if (mdb_env_create(&env) || mdb_env_set_maxdbs(env, 4) ||
        mdb_env_open(env, g_dir, MDB_RDONLY, 0644) || mdb_txn_begin(env, NULL, MDB_RDONLY, &txn))
      _exit(1);
    if (write(go[1], &c, 1) != 1) _exit(2);
    if (read(hold[0], &c, 1) < 0) _exit(3); /* until the parent closes it */
    _exit(0);
  }
  close(hold[0]);
  close(go[1]);
  char c;
  assert_int_equal(read(go[0], &c, 1), 1);
  gsp_tier *t = NULL;
  gsp_tier_config cfg = {.l3 = g_uri, .l3_max_bytes = 1 << 20, .durability = GSP_TIER_NONE};
  assert_int_equal(gsp_tier_create(&cfg, &t, NULL, 0), GSP_OK);
  char *v = malloc(16384), k[32];
  int rv = GSP_OK;
  unsigned i;
  for (i = 0; i < 20000 && rv == GSP_OK; i++) {
    make_value(v, 16384, i, 1, 0);
    rv = gsp_tier_put(t, k, key_of(k, sizeof k, i), v, 16384, NULL);
  }
  assert_int_equal(rv, GSP_ENOSPC);
  assert_non_null(strstr(gsp_tier_errmsg(t), "map full"));
  void *got;
  size_t n;
  assert_int_equal(gsp_tier_get(t, k, key_of(k, sizeof k, i - 1), &got, &n), GSP_OK); /* in L1 */
  assert_true(value_ok(got, n, i - 1, 0));
  gsp_free(got);
  close(hold[1]);
  waitpid(pid, NULL, 0);
  make_value(v, 16384, i, 1, 0);
  assert_int_equal(gsp_tier_put(t, k, key_of(k, sizeof k, i), v, 16384, NULL), GSP_OK);
  free(v);
  gsp_tier_destroy(t);
  close(go[0]);
}

static void test_unwritable_dir(void **st) {
  (void)st;
  gsp_tier *t = NULL;
  char err[512];
  gsp_tier_config c = {.l3 = "lmdb:/proc/no/such/dir"};
  int rv = gsp_tier_create(&c, &t, err, sizeof err);
  assert_true(rv == GSP_EIO);
  assert_non_null(strstr(err, "/proc/no/such/dir"));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_damaged_records, tier_setup, tier_teardown),
      cmocka_unit_test_setup_teardown(test_damaged_views, tier_setup, tier_teardown),
      cmocka_unit_test_setup_teardown(test_verify_repair, tier_setup, tier_teardown),
      cmocka_unit_test_setup_teardown(test_garbage_file, tier_setup, tier_teardown),
      cmocka_unit_test_setup_teardown(test_truncated_file, tier_setup, tier_teardown),
      cmocka_unit_test_setup_teardown(test_newer_format, tier_setup, tier_teardown),
      cmocka_unit_test_setup_teardown(test_foreign_lmdb, tier_setup, tier_teardown),
      cmocka_unit_test_setup_teardown(test_map_full, tier_setup, tier_teardown),
      cmocka_unit_test(test_unwritable_dir),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
