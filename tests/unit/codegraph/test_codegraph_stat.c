/*
 * test_codegraph_stat.c - the stat index of warm runs (stat_index.c): per
 * path (device, inode, size, mtime, ctime) -> content hash, kept in the
 * store's cache directory, so a file whose stat is unchanged is not read.
 *
 *  - warm after cold: every file vouched for, nothing parsed, the graph and
 *    the database byte-identical to the cold run's (and to a run without a
 *    store);
 *  - one file appended to: exactly that file is read and parsed again;
 *  - a change of the same size with its mtime put back by utimensat: seen
 *    through ctime;
 *  - a file rewritten within the same timestamp tick (its stat then equal
 *    to the recorded one; made by writing the new stat into the index): the
 *    entry is racy against the index's reference time and the file is
 *    hashed again; the same index with a reference far past the change
 *    would serve the stale hash, which shows what the racy rule prevents;
 *  - a truncated or corrupted index: a warning naming its path, every file
 *    hashed, the graph unchanged, a sound index written again;
 *  - no_cache: no index is read or written.
 *
 * Files are copied into a scratch tree and the runs wait 250 ms after any
 * write, past the index's 100 ms granularity, so that only the racy test
 * sees racy entries.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <glob.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "cg_dump.h"
#include "cg_scratch.h"
#include "gsperf/tier.h"

/* The index layout documented in stat_index.c. */
typedef struct ix_hdr {
  char magic[8];
  uint32_t version, count;
  int64_t ref_ns;
  uint64_t strtab_len, reserved, checksum;
} ix_hdr;
typedef struct ix_ent {
  uint64_t dev, ino, size;
  int64_t mtime_ns, ctime_ns;
  uint8_t hash[16];
  uint32_t path_off, path_len;
} ix_ent;

#include <xxhash.h>

typedef struct run_out {
  char *dump;
  gsp_cg_stats st;
  char warning[600];
} run_out;

typedef cg_scratch scratch;

enum { LIMIT_BYTES = 150 }; /* below the largest fixture files (154-217 bytes) */

static void make_scratch(scratch *s) {
  cg_scratch_make(s, "cgstat", CG_FIXTURE_DIR);
  cg_settle();
}

static void drop_scratch(const scratch *s) { cg_scratch_drop(s); }

/* One analysis of s->tree; with_store: through an LMDB store in s->cache;
 * db: also write this database file (NULL = none). */
static void run(const scratch *s, bool with_store, bool no_cache, const char *db, run_out *out) {
  gsp_tier *tier = cg_scratch_store(s->cache, with_store);
  gsp_cg *cg = NULL;
  gsp_cg_config cfg = {.root = s->tree, .jobs = 2, .store = tier, .no_cache = no_cache, .db = db};
  assert_int_equal(gsp_cg_create(&cfg, &cg), GSP_OK);
  assert_int_equal(gsp_cg_run(cg), GSP_OK);
  out->dump = cg_dump(cg);
  assert_null(cg_check_invariants(cg));
  gsp_cg_stats_get(cg, &out->st);
  snprintf(out->warning, sizeof out->warning, "%s", gsp_cg_warning(cg));
  gsp_cg_destroy(cg);
  gsp_tier_destroy(tier);
}

/* The one stat index in the cache directory, or "" if none. */
static void index_file(const scratch *s, char *path, size_t cap) {
  char pat[160];
  snprintf(pat, sizeof pat, "%s/stat-*.idx", s->cache);
  glob_t g;
  path[0] = '\0';
  if (glob(pat, 0, NULL, &g) == 0) {
    assert_int_equal(g.gl_pathc, 1);
    snprintf(path, cap, "%s", g.gl_pathv[0]);
  }
  globfree(&g);
}

static void spill(const char *path, const char *buf, size_t len) {
  FILE *f = fopen(path, "wb");
  assert_non_null(f);
  assert_int_equal(fwrite(buf, 1, len, f), len);
  fclose(f);
}

/* A source file of the fixture (its relative path) and its full path. */
static const char *some_file(const scratch *s, char *full, size_t cap) {
  const char *rel = "py/pkg/core.py";
  snprintf(full, cap, "%s/%s", s->tree, rel);
  struct stat st;
  assert_int_equal(stat(full, &st), 0);
  return rel;
}

/* Change one byte of path in place (same size), optionally putting its
 * atime and mtime back. */
static void rewrite_same_size(const char *path, bool keep_mtime) {
  struct stat st;
  assert_int_equal(stat(path, &st), 0);
  size_t len = 0;
  char *b = cg_slurp(path, &len);
  assert_true(len > 2);
  b[len - 2] = b[len - 2] == '#' ? ' ' : '#';
  spill(path, b, len);
  free(b);
  if (keep_mtime) {
    struct timespec ts[2] = {st.st_atim, st.st_mtim};
    assert_int_equal(utimensat(AT_FDCWD, path, ts, 0), 0);
  }
}

static void test_warm_identical(void **state) {
  (void)state;
  scratch s;
  make_scratch(&s);
  run_out ref = {0}, cold = {0}, warm = {0};
  char db_cold[128], db_warm[128], ix[256];
  snprintf(db_cold, sizeof db_cold, "%s/cold.db", s.dir);
  snprintf(db_warm, sizeof db_warm, "%s/warm.db", s.dir);
  run(&s, false, false, NULL, &ref);
  run(&s, true, false, db_cold, &cold);
  assert_int_equal(cold.st.files_stat_known, 0);
  index_file(&s, ix, sizeof ix);
  assert_true(ix[0] != '\0');
  run(&s, true, false, db_warm, &warm);
  assert_int_equal(warm.st.files_stat_known, warm.st.files);
  assert_int_equal(warm.st.parsed, 0);
  assert_true(warm.st.resolve_cached);
  assert_string_equal(warm.warning, "");
  assert_string_equal(ref.dump, cold.dump);
  assert_string_equal(cold.dump, warm.dump);
  size_t a = 0, b = 0;
  char *da = cg_slurp(db_cold, &a), *dbb = cg_slurp(db_warm, &b);
  assert_int_equal(a, b);
  assert_memory_equal(da, dbb, a);
  free(da), free(dbb);
  free(ref.dump), free(cold.dump), free(warm.dump);
  drop_scratch(&s);
}

static void test_one_changed(void **state) {
  (void)state;
  scratch s;
  make_scratch(&s);
  run_out cold = {0}, next = {0}, ref = {0};
  run(&s, true, false, NULL, &cold);
  char full[256];
  some_file(&s, full, sizeof full);
  FILE *f = fopen(full, "a");
  assert_non_null(f);
  fputs("\n# one more line\n", f);
  fclose(f);
  cg_settle();
  run(&s, true, false, NULL, &next);
  run(&s, false, false, NULL, &ref);
  assert_int_equal(next.st.parsed, 1);
  assert_int_equal(next.st.files_stat_known, next.st.files - 1);
  assert_string_equal(ref.dump, next.dump);
  free(cold.dump), free(next.dump), free(ref.dump);
  drop_scratch(&s);
}

static void test_same_size_mtime_restored(void **state) {
  (void)state;
  scratch s;
  make_scratch(&s);
  run_out cold = {0}, next = {0}, ref = {0};
  run(&s, true, false, NULL, &cold);
  char full[256];
  some_file(&s, full, sizeof full);
  struct stat before, after;
  assert_int_equal(stat(full, &before), 0);
  rewrite_same_size(full, true);
  assert_int_equal(stat(full, &after), 0);
  assert_int_equal(before.st_size, after.st_size);
  assert_int_equal(before.st_mtim.tv_sec, after.st_mtim.tv_sec);
  assert_int_equal(before.st_mtim.tv_nsec, after.st_mtim.tv_nsec);
  cg_settle();
  run(&s, true, false, NULL, &next);
  run(&s, false, false, NULL, &ref);
  assert_int_equal(next.st.parsed, 1);
  assert_int_equal(next.st.files_stat_known, next.st.files - 1);
  assert_string_equal(ref.dump, next.dump);
  assert_string_not_equal(cold.dump, next.dump);
  free(cold.dump), free(next.dump), free(ref.dump);
  drop_scratch(&s);
}

/* Write the current stat of rel into its index entry (as if the rewrite
 * had kept the stat: same tick), with reference time ref_ns (0 = keep). */
static void forge_entry(const char *ix, const char *rel, const char *full, int64_t ref_ns) {
  size_t len = 0;
  char *b = cg_slurp(ix, &len);
  ix_hdr h;
  memcpy(&h, b, sizeof h);
  ix_ent *e = (ix_ent *)(void *)(b + sizeof h);
  const char *strs = (const char *)(e + h.count);
  struct stat st;
  assert_int_equal(stat(full, &st), 0);
  bool found = false;
  for (uint32_t i = 0; i < h.count; i++) {
    if (e[i].path_len != strlen(rel) || memcmp(strs + e[i].path_off, rel, e[i].path_len) != 0)
      continue;
    e[i].size = (uint64_t)st.st_size;
    e[i].mtime_ns = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
    e[i].ctime_ns = (int64_t)st.st_ctim.tv_sec * 1000000000 + st.st_ctim.tv_nsec;
    found = true;
  }
  assert_true(found);
  if (ref_ns) h.ref_ns = ref_ns;
  h.checksum = XXH3_64bits(b + sizeof h, len - sizeof h);
  memcpy(b, &h, sizeof h);
  spill(ix, b, len);
  free(b);
}

static void test_racy_same_tick(void **state) {
  (void)state;
  scratch s;
  make_scratch(&s);
  run_out cold = {0}, racy = {0}, ref = {0}, stale = {0};
  run(&s, true, false, NULL, &cold);
  char full[256], ix[256], saved[300];
  const char *rel = some_file(&s, full, sizeof full);
  index_file(&s, ix, sizeof ix);
  snprintf(saved, sizeof saved, "%s.saved", ix);
  size_t len = 0;
  char *orig = cg_slurp(ix, &len);
  spill(saved, orig, len);
  rewrite_same_size(full, false);
  cg_settle();
  /* the recorded stat now equals the file's, reference time unchanged:
   * the change happened after it, so the entry is racy */
  forge_entry(ix, rel, full, 0);
  run(&s, true, false, NULL, &racy);
  run(&s, false, false, NULL, &ref);
  assert_int_equal(racy.st.parsed, 1);
  assert_int_equal(racy.st.files_stat_known, racy.st.files - 1);
  assert_string_equal(ref.dump, racy.dump);
  /* control: the same forged entry with a reference 10 s past the change
   * is trusted, and the stale hash serves the old result */
  spill(ix, orig, len);
  forge_entry(ix, rel, full, (int64_t)time(NULL) * 1000000000 + 10000000000);
  run(&s, true, false, NULL, &stale);
  assert_int_equal(stale.st.parsed, 0);
  assert_string_equal(cold.dump, stale.dump);
  free(orig);
  free(cold.dump), free(racy.dump), free(ref.dump), free(stale.dump);
  drop_scratch(&s);
}

/* The index damaged by `damage`: a warning naming it, nothing vouched,
 * the same graph; the run writes a sound one again. */
static void check_damaged(const scratch *s, const char *ix, const char *cold_dump) {
  run_out bad = {0}, again = {0};
  run(s, true, false, NULL, &bad);
  assert_non_null(strstr(bad.warning, ix));
  assert_non_null(strstr(bad.warning, "stat index"));
  assert_int_equal(bad.st.files_stat_known, 0);
  assert_int_equal(bad.st.parsed, 0); /* the store still has every result */
  assert_string_equal(cold_dump, bad.dump);
  run(s, true, false, NULL, &again);
  assert_string_equal(again.warning, "");
  assert_int_equal(again.st.files_stat_known, again.st.files);
  assert_string_equal(cold_dump, again.dump);
  free(bad.dump), free(again.dump);
}

static void test_corrupt_index(void **state) {
  (void)state;
  scratch s;
  make_scratch(&s);
  run_out cold = {0};
  run(&s, true, false, NULL, &cold);
  char ix[256];
  index_file(&s, ix, sizeof ix);
  size_t len = 0;
  char *b = cg_slurp(ix, &len);
  assert_true(len > 200);
  spill(ix, b, len / 2); /* truncated */
  check_damaged(&s, ix, cold.dump);
  b[len - 3] ^= 0x5a; /* one byte of a path flipped: checksum */
  spill(ix, b, len);
  check_damaged(&s, ix, cold.dump);
  spill(ix, b, 10); /* shorter than a header */
  check_damaged(&s, ix, cold.dump);
  memset(b, 'x', 48); /* not an index at all */
  spill(ix, b, len);
  check_damaged(&s, ix, cold.dump);
  free(b);
  free(cold.dump);
  drop_scratch(&s);
}

static void test_no_cache(void **state) {
  (void)state;
  scratch s;
  make_scratch(&s);
  run_out a = {0}, b = {0};
  run(&s, true, true, NULL, &a);
  char ix[256];
  index_file(&s, ix, sizeof ix);
  assert_string_equal(ix, "");
  run(&s, true, true, NULL, &b);
  assert_int_equal(b.st.files_stat_known, 0);
  assert_int_equal(b.st.parsed, b.st.files);
  free(a.dump), free(b.dump);
  drop_scratch(&s);
}

/* A run with a file-size limit, through the store or without one. */
static void run_limited(const scratch *s, bool with_store, uint64_t max_bytes, run_out *out) {
  gsp_tier *tier = cg_scratch_store(s->cache, with_store);
  gsp_cg *cg = NULL;
  gsp_cg_config cfg = {.root = s->tree,
                       .jobs = 2,
                       .store = tier,
                       .no_cache = !with_store,
                       .max_file_bytes = max_bytes};
  assert_int_equal(gsp_cg_create(&cfg, &cg), GSP_OK);
  assert_int_equal(gsp_cg_run(cg), GSP_OK);
  out->dump = cg_dump(cg);
  /* no cg_check_invariants: imports may name a skipped file, which is in
   * the graph without a result; the dumps are compared instead */
  gsp_cg_stats_get(cg, &out->st);
  gsp_cg_destroy(cg);
  gsp_tier_destroy(tier);
}

/* A file the index vouches for but larger than this run's max_file_bytes
 * is skipped as a read would skip it (no result, no hash): the graph is
 * the one a run without the index makes with that limit. */
static void test_size_limit_over_index(void **state) {
  (void)state;
  scratch s;
  make_scratch(&s);
  run_out cold = {0}, limited = {0}, ref = {0};
  run_limited(&s, true, 0, &cold); /* default limit: every file recorded */
  cg_settle();
  run_limited(&s, true, LIMIT_BYTES, &limited);
  run_limited(&s, false, LIMIT_BYTES, &ref);
  assert_true(limited.st.files_skipped > 0);
  assert_int_equal(limited.st.files_skipped, ref.st.files_skipped);
  assert_true(limited.st.files_stat_known > 0);
  assert_string_equal(limited.dump, ref.dump);
  free(cold.dump), free(limited.dump), free(ref.dump);
  drop_scratch(&s);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_warm_identical),
      cmocka_unit_test(test_one_changed),
      cmocka_unit_test(test_same_size_mtime_restored),
      cmocka_unit_test(test_racy_same_tick),
      cmocka_unit_test(test_corrupt_index),
      cmocka_unit_test(test_no_cache),
      cmocka_unit_test(test_size_limit_over_index),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
