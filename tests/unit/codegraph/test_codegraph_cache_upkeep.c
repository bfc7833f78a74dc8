/*
 * test_codegraph_cache_upkeep.c - the files the stat index and the include
 * memo keep in the cache directory (stat_index.c), when things go wrong:
 *
 *  - the memo cannot be written (a directory stands at its path, so the
 *    rename over it fails; root ignores permissions, so a read-only
 *    directory would not do): the run completes with the same graph as a
 *    run without a store, gsp_cg_warning() names the memo's path and the
 *    errno text, the log sink gets the same message, and the stat index is
 *    still written;
 *  - temporary files a killed run left ("<index>.<pid>.tmp", "<memo>.<pid>
 *    .tmp"): opening the index removes those whose process is gone and
 *    that are older than ten minutes, and leaves those of a live process,
 *    recent ones (a writer on another host sharing the directory), other
 *    trees' and other names alone.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
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
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include <xxhash.h>

#include "cg_dump.h"
#include "cg_scratch.h"
#include "gsperf/tier.h"

#define NELEM(a) (sizeof(a) / sizeof *(a))

typedef struct scratch {
  cg_scratch d;
  char ix[256], memo[256]; /* this tree's index and memo paths */
} scratch;

typedef struct run_out {
  char *dump;
  char warning[600];
} run_out;

static const char *const c_incs[] = {"inc", "inc/c++"};

/* A copy of fixture_lang3's C tree (it has extension-less headers, so the
 * memo is used) and the paths stat_index.c names its files by. */
static void make_scratch(scratch *s) {
  cg_scratch_make(&s->d, "cgupk", CG_FIXTURE_LANG3_DIR "/c");
  assert_int_equal(mkdir(s->d.cache, 0755), 0);
  char *real = realpath(s->d.tree, NULL);
  assert_non_null(real);
  unsigned long long h = (unsigned long long)XXH3_64bits(real, strlen(real));
  free(real);
  snprintf(s->ix, sizeof s->ix, "%s/stat-%016llx.idx", s->d.cache, h);
  snprintf(s->memo, sizeof s->memo, "%s/cxx-%016llx.memo", s->d.cache, h);
  cg_settle();
}

static void drop_scratch(const scratch *s) { cg_scratch_drop(&s->d); }

static void run(const scratch *s, bool with_store, run_out *out) {
  gsp_tier *tier = cg_scratch_store(s->d.cache, with_store);
  gsp_cg *cg = NULL;
  gsp_cg_config cfg = {.root = s->d.tree,
                       .jobs = 2,
                       .store = tier,
                       .include_dirs = c_incs,
                       .n_include_dirs = NELEM(c_incs)};
  assert_int_equal(gsp_cg_create(&cfg, &cg), GSP_OK);
  assert_int_equal(gsp_cg_run(cg), GSP_OK);
  out->dump = cg_dump(cg);
  assert_null(cg_check_invariants(cg));
  snprintf(out->warning, sizeof out->warning, "%s", gsp_cg_warning(cg));
  gsp_cg_destroy(cg);
  gsp_tier_destroy(tier);
}

static bool exists(const char *path) {
  struct stat st;
  return stat(path, &st) == 0;
}

/* ---- the memo cannot be written ---- */

static char logged[1024];

static void sink(void *user, gsp_log_level level, const char *module, const char *msg) {
  (void)user;
  if (level == GSP_LOG_WARN && strcmp(module, "codegraph") == 0 && strstr(msg, "memo"))
    snprintf(logged, sizeof logged, "%s", msg);
}

static void test_memo_write_fails(void **state) {
  (void)state;
  scratch s;
  make_scratch(&s);
  run_out ref = {0}, out = {0};
  run(&s, false, &ref);
  assert_int_equal(mkdir(s.memo, 0755), 0); /* the rename over it fails: EISDIR */
  logged[0] = '\0';
  gsp_log_set_sink(sink, NULL, GSP_LOG_WARN);
  run(&s, true, &out);
  gsp_log_set_sink(NULL, NULL, GSP_LOG_WARN);
  char want[600];
  snprintf(want, sizeof want, "%s: include memo cannot be written: %s", s.memo, strerror(EISDIR));
  assert_non_null(strstr(out.warning, want));
  assert_non_null(strstr(logged, want));
  assert_string_equal(ref.dump, out.dump);
  assert_true(exists(s.ix)); /* the stat index is written all the same */
  free(ref.dump), free(out.dump);
  drop_scratch(&s);
}

/* ---- temporary files of killed runs ---- */

/* A pid that no longer runs: a child that has exited and been reaped. */
static long dead_pid(void) {
  pid_t p = fork();
  assert_true(p >= 0);
  if (p == 0) _exit(0);
  int status;
  assert_int_equal(waitpid(p, &status, 0), p);
  return (long)p;
}

/* A pid that runs until killed: a child that waits. */
static pid_t live_child(void) {
  pid_t p = fork();
  assert_true(p >= 0);
  if (p == 0) {
    pause();
    _exit(0);
  }
  return p;
}

/* A partial file at path, last written age seconds ago. */
static void touch(const char *path, long age) {
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  fputs("partial", f);
  fclose(f);
  struct timespec t[2] = {{.tv_sec = time(NULL) - age}, {.tv_sec = time(NULL) - age}};
  assert_int_equal(utimensat(AT_FDCWD, path, t, 0), 0);
}

static void test_stale_tmp_removed(void **state) {
  (void)state;
  scratch s;
  make_scratch(&s);
  run_out cold = {0}, warm = {0};
  run(&s, true, &cold);
  assert_true(exists(s.ix));
  pid_t child = live_child();
  long dead = dead_pid(), dead2 = dead_pid(), live = (long)child;
  char gone[2][320], kept[5][320];
  snprintf(gone[0], sizeof gone[0], "%s.%ld.tmp", s.ix, dead);
  snprintf(gone[1], sizeof gone[1], "%s.%ld.tmp", s.memo, dead);
  snprintf(kept[0], sizeof kept[0], "%s.%ld.tmp", s.ix, live);              /* a live writer */
  snprintf(kept[1], sizeof kept[1], "%s.%ld.tmpx", s.ix, dead);             /* another name */
  snprintf(kept[2], sizeof kept[2], "%s/stat-0000000000000001.idx.%ld.tmp", /* another tree */
           s.d.cache, dead);
  snprintf(kept[3], sizeof kept[3], "%s.x%ld.tmp", s.ix, dead); /* no pid */
  snprintf(kept[4], sizeof kept[4], "%s.%ld.tmp", s.ix, dead2); /* recent, made below */
  for (size_t i = 0; i < NELEM(gone); i++) touch(gone[i], 3600);
  for (size_t i = 0; i + 1 < NELEM(kept); i++) touch(kept[i], 3600);
  run(&s, true, &warm);
  touch(kept[4], 0);
  run_out again = {0};
  run(&s, true, &again);
  kill(child, SIGKILL);
  waitpid(child, NULL, 0);
  free(again.dump);
  for (size_t i = 0; i < NELEM(gone); i++)
    if (exists(gone[i])) fail_msg("%s was not removed", gone[i]);
  for (size_t i = 0; i < NELEM(kept); i++)
    if (!exists(kept[i])) fail_msg("%s was removed", kept[i]);
  assert_string_equal(warm.warning, "");
  assert_string_equal(cold.dump, warm.dump);
  free(cold.dump), free(warm.dump);
  drop_scratch(&s);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_memo_write_fails),
      cmocka_unit_test(test_stale_tmp_removed),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
