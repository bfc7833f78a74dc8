/*
 * test_codegraph_cxx_memo.c - the include memo of the extension-less
 * header scan (resolve_cxx.c, stat_index.c): a C file whose stat is
 * unchanged since the scan last read it is not read again, its recorded
 * include spellings stand in for it, and the set of headers reached is the
 * one a full scan gives.
 *
 *  - warm after cold: the scan reads no C file, the graph and the database
 *    byte-identical to the cold run's and to a run without a store;
 *  - a C file edited to add `#include <unused>` (an extension-less file of
 *    the tree): exactly that file is read, and unused becomes a file of
 *    the graph; the include blanked out again at the same size with the
 *    mtime put back (seen through ctime): unused is dropped;
 *  - a file rewritten within the same timestamp tick (made by writing its
 *    new stat into the memo): racy against the memo's reference time, so
 *    read again; the same memo with a reference far past the change would
 *    serve the stale spellings, which shows what the racy rule prevents;
 *  - a damaged memo: every C file read, the graph unchanged, a sound memo
 *    written again;
 *  - without a store no memo is read or written.
 *
 * Reads are counted by the test hook gsp__cg_cxx_reads. Runs wait 250 ms
 * after any write, past the stat rule's 100 ms granularity.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <glob.h>
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

#include <xxhash.h>

#include "cg_dump.h"
#include "cg_scratch.h"
#include "gsperf/tier.h"

/* The memo layout documented in stat_index.c. */
typedef struct mx_hdr {
  char magic[8];
  uint32_t version, count;
  int64_t ref_ns;
  uint64_t strtab_len, reserved, checksum;
} mx_hdr;
typedef struct mx_ent {
  uint64_t dev, ino, size;
  int64_t mtime_ns, ctime_ns;
  uint32_t path_off, path_len, sp_off, sp_len;
} mx_ent;

extern _Atomic uint64_t gsp__cg_cxx_reads;

#define NELEM(a) (sizeof(a) / sizeof *(a))
#define NEW_INCLUDE "#include <unused>\n"

static const char *const c_incs[] = {"inc", "inc/c++"};

typedef struct run_out {
  char *dump;
  uint64_t reads; /* C files the scan read */
  bool has_unused, has_vector;
} run_out;

typedef cg_scratch scratch;

static void make_scratch(scratch *s) {
  cg_scratch_make(s, "cgcxx", CG_FIXTURE_LANG3_DIR "/c");
  cg_settle();
}

static void drop_scratch(const scratch *s) { cg_scratch_drop(s); }

/* One analysis of s->tree; with_store: through an LMDB store in s->cache;
 * db: also write this database file (NULL = none). */
static void run(const scratch *s, bool with_store, const char *db, run_out *out) {
  gsp_tier *tier = cg_scratch_store(s->cache, with_store);
  gsp_cg *cg = NULL;
  gsp_cg_config cfg = {.root = s->tree,
                       .jobs = 2,
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
  out->has_unused = gsp_cg_file_find(cg, "inc/c++/unused") >= 0;
  out->has_vector = gsp_cg_file_find(cg, "inc/c++/vector") >= 0;
  assert_string_equal(gsp_cg_warning(cg), "");
  gsp_cg_destroy(cg);
  gsp_tier_destroy(tier);
}

/* The one memo in the cache directory, or "" if none. */
static void memo_file(const scratch *s, char *path, size_t cap) {
  char pat[160];
  snprintf(pat, sizeof pat, "%s/cxx-*.memo", s->cache);
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

static void test_warm_reads_nothing(void **state) {
  (void)state;
  scratch s;
  make_scratch(&s);
  run_out ref = {0}, cold = {0}, warm = {0};
  char db_cold[128], db_warm[128], memo[256];
  snprintf(db_cold, sizeof db_cold, "%s/cold.db", s.dir);
  snprintf(db_warm, sizeof db_warm, "%s/warm.db", s.dir);
  run(&s, false, NULL, &ref);
  assert_true(ref.reads >= 4); /* the .c and .h files and the headers reached */
  memo_file(&s, memo, sizeof memo);
  assert_string_equal(memo, ""); /* no store, no memo */
  run(&s, true, db_cold, &cold);
  assert_int_equal(cold.reads, ref.reads);
  memo_file(&s, memo, sizeof memo);
  assert_true(memo[0] != '\0');
  run(&s, true, db_warm, &warm);
  assert_int_equal(warm.reads, 0);
  assert_true(warm.has_vector);
  assert_false(warm.has_unused);
  assert_string_equal(ref.dump, cold.dump);
  assert_string_equal(cold.dump, warm.dump);
  cg_assert_same_file(db_cold, db_warm);
  free(ref.dump), free(cold.dump), free(warm.dump);
  drop_scratch(&s);
}

static void test_include_added_then_removed(void **state) {
  (void)state;
  scratch s;
  make_scratch(&s);
  run_out cold = {0}, added = {0}, ref_added = {0}, removed = {0}, ref_removed = {0};
  run(&s, true, NULL, &cold);
  assert_false(cold.has_unused);
  char full[256];
  snprintf(full, sizeof full, "%s/src/use.c", s.tree);
  FILE *f = fopen(full, "a");
  assert_non_null(f);
  fputs(NEW_INCLUDE, f);
  fclose(f);
  cg_settle();
  run(&s, true, NULL, &added);
  assert_int_equal(added.reads, 2); /* src/use.c, and unused, reached now */
  assert_true(added.has_unused);
  run(&s, false, NULL, &ref_added);
  assert_string_equal(ref_added.dump, added.dump);

  /* blank the include out: same size, mtime put back */
  struct stat st;
  assert_int_equal(stat(full, &st), 0);
  size_t len = 0;
  char *b = cg_slurp(full, &len);
  char *at = strstr(b, NEW_INCLUDE);
  assert_non_null(at);
  memset(at, ' ', strlen(NEW_INCLUDE) - 1);
  spill(full, b, len);
  free(b);
  struct timespec ts[2] = {st.st_atim, st.st_mtim};
  assert_int_equal(utimensat(AT_FDCWD, full, ts, 0), 0);
  cg_settle();
  run(&s, true, NULL, &removed);
  assert_int_equal(removed.reads, 1);
  assert_false(removed.has_unused);
  run(&s, false, NULL, &ref_removed);
  assert_string_equal(ref_removed.dump, removed.dump);
  free(cold.dump), free(added.dump), free(ref_added.dump), free(removed.dump);
  free(ref_removed.dump);
  drop_scratch(&s);
}

static void test_damaged_memo(void **state) {
  (void)state;
  scratch s;
  make_scratch(&s);
  run_out cold = {0}, after = {0}, again = {0};
  char memo[256];
  run(&s, true, NULL, &cold);
  memo_file(&s, memo, sizeof memo);
  assert_true(memo[0] != '\0');
  size_t len = 0;
  char *b = cg_slurp(memo, &len);
  assert_true(len > 60);
  b[len - 2] ^= 0x5a; /* a byte of the string table: the checksum fails */
  spill(memo, b, len);
  free(b);
  run(&s, true, NULL, &after);
  assert_int_equal(after.reads, cold.reads);
  assert_string_equal(cold.dump, after.dump);
  spill(memo, "GSPCXXM1", 8); /* truncated */
  run(&s, true, NULL, &again);
  assert_int_equal(again.reads, cold.reads);
  assert_string_equal(cold.dump, again.dump);
  free(again.dump);
  run(&s, true, NULL, &again); /* the memo written again is sound */
  assert_int_equal(again.reads, 0);
  assert_string_equal(cold.dump, again.dump);
  free(cold.dump), free(after.dump), free(again.dump);
  drop_scratch(&s);
}

/* Write the current stat of rel into its entry of the memo image b (as if
 * the rewrite had kept the stat: same tick), with reference time ref_ns
 * (0 = keep), and store it at path. */
static void forge_entry(const char *path, char *b, size_t len, const char *rel, const char *full,
                        int64_t ref_ns) {
  mx_hdr h;
  memcpy(&h, b, sizeof h);
  mx_ent *e = (mx_ent *)(void *)(b + sizeof h);
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
  spill(path, b, len);
}

static void test_racy_entry(void **state) {
  (void)state;
  scratch s;
  make_scratch(&s);
  run_out cold = {0}, racy = {0}, stale = {0};
  char memo[256], full[256];
  run(&s, true, NULL, &cold);
  memo_file(&s, memo, sizeof memo);
  assert_true(memo[0] != '\0');
  size_t len = 0;
  char *b = cg_slurp(memo, &len), *copy = malloc(len);
  memcpy(copy, b, len);
  snprintf(full, sizeof full, "%s/src/use.c", s.tree);
  FILE *f = fopen(full, "a");
  assert_non_null(f);
  fputs(NEW_INCLUDE, f);
  fclose(f);
  cg_settle();
  forge_entry(memo, b, len, "src/use.c", full, 0); /* the cold run's reference: racy */
  run(&s, true, NULL, &racy);
  assert_int_equal(racy.reads, 2); /* src/use.c, and unused */
  assert_true(racy.has_unused);
  forge_entry(memo, copy, len, "src/use.c", full, INT64_MAX / 2); /* not racy: stale */
  run(&s, true, NULL, &stale);
  assert_int_equal(stale.reads, 0);
  assert_false(stale.has_unused);
  free(b), free(copy);
  free(cold.dump), free(racy.dump), free(stale.dump);
  drop_scratch(&s);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_warm_reads_nothing),
      cmocka_unit_test(test_include_added_then_removed),
      cmocka_unit_test(test_racy_entry),
      cmocka_unit_test(test_damaged_memo),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
