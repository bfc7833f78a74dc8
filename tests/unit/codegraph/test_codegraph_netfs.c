/*
 * test_codegraph_netfs.c - a network or FUSE mount below a local root
 * (walk.c, netfs.h): the walk sees a directory's device change from its
 * parent's, checks that directory's file system once, and the files below
 * it are never vouched for by the stat index or the include memo (their
 * times come from another machine's clock), while the rest of the tree
 * keeps both.
 *
 * No test can mount NFS, so the test hook gsp__cg_fs_hook makes one
 * directory of a scratch tree look like a mount point: a device of its
 * own (for it and everything below it) and statfs's f_type NFS. Checked:
 *
 *  - stat index: on a warm run every file but those below the mount is
 *    vouched for; the index records none of them, and a warm run whose
 *    local files were all vouched for leaves the index as it is (not
 *    rewritten because of the mount's files); exactly one file-system check
 *    per run for the mount crossed, none for the files or the directories
 *    below it; the graph equals the cold run's;
 *  - the same tree without the hook: every file vouched for (what the hook
 *    changes is the mount, nothing else);
 *  - include memo: a warm run's scan reads exactly the C files below the
 *    mount, the memo records none of them and is not rewritten;
 *  - a local mount (another device, a local file system type) changes
 *    nothing.
 */
#define _GNU_SOURCE
#include <glob.h>
#include <linux/magic.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>
#include <cmocka.h>

#include "cg_dump.h"
#include "cg_scratch.h"
#include "gsperf/tier.h"
#include "netfs.h"

extern _Atomic uint64_t gsp__cg_cxx_reads; /* resolve_cxx.c's test hook */

#define NELEM(a) (sizeof(a) / sizeof *(a))

/* The index and memo headers documented in stat_index.c. */
typedef struct ix_hdr {
  char magic[8];
  uint32_t version, count;
  int64_t ref_ns;
  uint64_t strtab_len, reserved, checksum;
} ix_hdr;

typedef cg_scratch scratch;

typedef struct run_out {
  char *dump;
  gsp_cg_stats st;
  uint64_t reads; /* C files the extension-less header scan read */
  size_t below;   /* files of the graph below the mount */
  size_t below_c; /* of them C files */
  char warning[600];
} run_out;

/* ---- the fake mount ---- */

static char mount_dir[256]; /* full path of the "mounted" directory, "" = none */
static long mount_type;     /* its f_type */
static _Atomic unsigned checks_mount, checks_other;

static bool below_or_at(const char *path) {
  size_t n = strlen(mount_dir);
  return n && strncmp(path, mount_dir, n) == 0 && (path[n] == '\0' || path[n] == '/');
}

static uint64_t fake_dev(const char *path, uint64_t dev) {
  return below_or_at(path) ? dev ^ 0x5a5a5aull : dev;
}

static int fake_type(const char *path, long *type) {
  if (strcmp(path, mount_dir) == 0) {
    atomic_fetch_add(&checks_mount, 1);
    *type = mount_type;
    return 0;
  }
  atomic_fetch_add(&checks_other, 1);
  struct statfs sf;
  if (statfs(path, &sf) != 0) return -1;
  *type = (long)sf.f_type;
  return 0;
}

static const cg_fs_hook hook = {fake_dev, fake_type};

static void mount_at(const scratch *s, const char *rel, long type) {
  snprintf(mount_dir, sizeof mount_dir, "%s/%s", s->tree, rel);
  mount_type = type;
  gsp__cg_fs_hook = &hook;
}

static void unmount(void) {
  gsp__cg_fs_hook = NULL;
  mount_dir[0] = '\0';
}

/* ---- scratch trees and runs ---- */

static void make_scratch(scratch *s, const char *from) {
  cg_scratch_make(s, "cgnet", from);
  cg_settle();
}

static void drop_scratch(const scratch *s) {
  unmount();
  cg_scratch_drop(s);
}

static const char *const c_incs[] = {"inc", "inc/c++"};

/* One analysis of s->tree through an LMDB store in s->cache; incs: the
 * include directories of fixture_lang3's C tree. below: a relative
 * directory whose files are counted. */
static void run(const scratch *s, bool incs, const char *below, run_out *out) {
  gsp_tier *tier = cg_scratch_store(s->cache, true);
  gsp_cg *cg = NULL;
  gsp_cg_config cfg = {.root = s->tree, .jobs = 2, .store = tier};
  if (incs) cfg.include_dirs = c_incs, cfg.n_include_dirs = NELEM(c_incs);
  assert_int_equal(gsp_cg_create(&cfg, &cg), GSP_OK);
  uint64_t before = atomic_load(&gsp__cg_cxx_reads);
  assert_int_equal(gsp_cg_run(cg), GSP_OK);
  out->reads = atomic_load(&gsp__cg_cxx_reads) - before;
  out->dump = cg_dump(cg);
  assert_null(cg_check_invariants(cg));
  gsp_cg_stats_get(cg, &out->st);
  snprintf(out->warning, sizeof out->warning, "%s", gsp_cg_warning(cg));
  size_t bl = strlen(below);
  out->below = out->below_c = 0;
  for (size_t f = 0; f < gsp_cg_nfiles(cg); f++) {
    const char *p = gsp_cg_file_path(cg, f);
    if (strncmp(p, below, bl) != 0 || p[bl] != '/') continue;
    out->below++;
    const gsp_cg_result *r = gsp_cg_file_result(cg, f);
    out->below_c += r && gsp_cg_result_lang(r) == GSP_CG_LANG_C;
  }
  gsp_cg_destroy(cg);
  gsp_tier_destroy(tier);
}

/* The one file matching cache/<pattern>, or "" if none. */
static void cache_file(const scratch *s, const char *pattern, char *path, size_t cap) {
  char pat[160];
  snprintf(pat, sizeof pat, "%s/%s", s->cache, pattern);
  glob_t g;
  path[0] = '\0';
  if (glob(pat, 0, NULL, &g) == 0) {
    assert_int_equal(g.gl_pathc, 1);
    snprintf(path, cap, "%s", g.gl_pathv[0]);
  }
  globfree(&g);
}

/* The header of an index or memo, and whether its bytes name `text`. */
static ix_hdr read_hdr(const char *path, const char *text, bool *names) {
  size_t n = 0;
  char *b = cg_slurp(path, &n);
  ix_hdr h;
  assert_true(n >= sizeof h);
  memcpy(&h, b, sizeof h);
  *names = memmem(b, n, text, strlen(text)) != NULL;
  free(b);
  return h;
}

static void same_file(const struct stat *a, const struct stat *b) {
  assert_int_equal(a->st_ino, b->st_ino);
  assert_int_equal(a->st_mtim.tv_sec, b->st_mtim.tv_sec);
  assert_int_equal(a->st_mtim.tv_nsec, b->st_mtim.tv_nsec);
}

static void free_outs(run_out *a, size_t n) {
  for (size_t i = 0; i < n; i++) free(a[i].dump);
}

/* ---- tests ---- */

static void test_index_below_mount(void **state) {
  (void)state;
  scratch s;
  make_scratch(&s, CG_FIXTURE_DIR);
  run_out r[3] = {{0}};
  char ix[256];
  mount_at(&s, "c/lib", NFS_SUPER_MAGIC);
  atomic_store(&checks_mount, 0);
  atomic_store(&checks_other, 0);
  run(&s, false, "c/lib", &r[0]); /* cold */
  assert_int_equal(atomic_load(&checks_mount), 1);
  assert_int_equal(r[0].st.files_stat_known, 0);
  assert_true(r[0].below >= 2); /* list.c, list.h, node.h */
  cache_file(&s, "stat-*.idx", ix, sizeof ix);
  assert_true(ix[0] != '\0');
  bool names = true;
  ix_hdr h = read_hdr(ix, "c/lib/", &names);
  assert_int_equal(h.count, r[0].st.files - r[0].below);
  assert_false(names);
  struct stat a, b;
  assert_int_equal(stat(ix, &a), 0);
  cg_settle();

  atomic_store(&checks_mount, 0);
  atomic_store(&checks_other, 0);
  run(&s, false, "c/lib", &r[1]);                  /* warm */
  assert_int_equal(atomic_load(&checks_mount), 1); /* the mount, once */
  /* and the root's own check (index, memo): no other directory's, no file's */
  assert_true(atomic_load(&checks_other) <= 2);
  assert_int_equal(r[1].st.files_stat_known, r[1].st.files - r[1].below);
  assert_int_equal(r[1].st.parsed, 0); /* hashed, and found in the store */
  assert_string_equal(r[1].warning, "");
  assert_string_equal(r[0].dump, r[1].dump);
  assert_int_equal(stat(ix, &b), 0);
  same_file(&a, &b); /* every local file vouched for: not written again */

  unmount(); /* the same tree, no mount: every file vouched for */
  run(&s, false, "c/lib", &r[2]);
  assert_int_equal(r[2].st.files_stat_known, r[2].st.files - r[2].below);
  free_outs(r, 1);
  run(&s, false, "c/lib", &r[0]);
  assert_int_equal(r[0].st.files_stat_known, r[0].st.files);
  assert_string_equal(r[0].dump, r[1].dump);
  free_outs(r, 3);
  drop_scratch(&s);
}

static void test_memo_below_mount(void **state) {
  (void)state;
  scratch s;
  char from[512], memo[256];
  snprintf(from, sizeof from, "%s/c", CG_FIXTURE_LANG3_DIR);
  make_scratch(&s, from);
  run_out r[2] = {{0}};
  mount_at(&s, "src", NFS_SUPER_MAGIC);
  run(&s, true, "src", &r[0]);
  assert_true(r[0].below_c >= 3);
  assert_true(r[0].reads >= r[0].below_c);
  cache_file(&s, "cxx-*.memo", memo, sizeof memo);
  assert_true(memo[0] != '\0');
  bool names = true;
  read_hdr(memo, "src/", &names);
  assert_false(names);
  struct stat a, b;
  assert_int_equal(stat(memo, &a), 0);
  cg_settle();
  run(&s, true, "src", &r[1]);
  assert_int_equal(r[1].reads, r[1].below_c); /* the mount's C files, and only them */
  assert_string_equal(r[0].dump, r[1].dump);
  assert_string_equal(r[1].warning, "");
  assert_int_equal(stat(memo, &b), 0);
  same_file(&a, &b);
  free_outs(r, 2);
  drop_scratch(&s);
}

static void test_local_mount(void **state) {
  (void)state;
  scratch s;
  make_scratch(&s, CG_FIXTURE_DIR);
  run_out r[2] = {{0}};
  mount_at(&s, "c/lib", TMPFS_MAGIC);
  atomic_store(&checks_mount, 0);
  run(&s, false, "c/lib", &r[0]);
  cg_settle();
  run(&s, false, "c/lib", &r[1]);
  assert_int_equal(atomic_load(&checks_mount), 2); /* once per run */
  assert_int_equal(r[1].st.files_stat_known, r[1].st.files);
  free_outs(r, 2);
  drop_scratch(&s);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_index_below_mount),
      cmocka_unit_test(test_memo_below_mount),
      cmocka_unit_test(test_local_mount),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
