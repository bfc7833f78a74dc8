/*
 * test_codegraph_store.c - the result store of a cold run written behind
 * (gsperf/tier.h: write-behind, write-around), as `gsperf analyze` uses it:
 *
 *  - a warm run after a write-behind cold run finds every file and the
 *    resolution in the store (100% hits, nothing parsed), graph identical;
 *  - a cold run killed (SIGKILL) right after gsp_cg_run, its writer thread
 *    possibly mid-batch and its queue unwritten, leaves a store the next
 *    run opens without rebuild: every file is a hit or parsed again, the
 *    graph identical, and the run after that is fully warm;
 *  - a cold run whose store cannot be written (files limited to 64 KiB by
 *    RLIMIT_FSIZE: a full disk) completes with the same graph as a run
 *    without a store; flushing the store then fails with a message naming
 *    the cache directory.
 */
#define _GNU_SOURCE
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "cg_dump.h"
#include "cg_run.h"
#include "cg_scratch.h"

typedef struct run_out {
  char *dump;
  gsp_cg_stats st;
  const char *invariants; /* NULL when they hold */
  int flush;              /* gsp_tier_flush() after the run */
  char errmsg[512];
} run_out;

/* One run through the engine; cache NULL = no store. `kill_after`: the
 * process dies by SIGKILL right after gsp_cg_run (no flush, no destroy). */
static int run_once(const char *root, const char *cache, bool kill_after, run_out *out) {
  gsp_tier *tier = NULL;
  if (cache && (tier = cg_open_store(cache)) == NULL) return GSP_EIO;
  gsp_integration *ig = NULL;
  gsp_cg *cg = NULL;
  int rv = cg_create_integrated(root, tier, NULL, NULL, &ig, &cg);
  if (rv == GSP_OK) rv = gsp_cg_run(cg);
  if (kill_after) kill(getpid(), SIGKILL);
  if (rv == GSP_OK) {
    out->dump = cg_dump(cg);
    out->invariants = cg_check_invariants(cg);
    gsp_cg_stats_get(cg, &out->st);
  }
  if (tier) {
    out->flush = gsp_tier_flush(tier);
    snprintf(out->errmsg, sizeof out->errmsg, "%s", gsp_tier_errmsg(tier));
  }
  gsp_cg_destroy(cg);
  gsp_integration_destroy(ig);
  gsp_tier_destroy(tier);
  return rv;
}

static void test_warm_after_behind(void **state) {
  (void)state;
  cg_scratch sc;
  cg_scratch_make(&sc, "cgstore", NULL);
  const char *cache = sc.cache;
  run_out ref = {0}, cold = {0}, warm = {0};
  assert_int_equal(run_once(CG_FIXTURE_DIR, NULL, false, &ref), GSP_OK);
  assert_int_equal(run_once(CG_FIXTURE_DIR, cache, false, &cold), GSP_OK);
  assert_int_equal(cold.flush, GSP_OK);
  assert_int_equal(cold.st.parsed, ref.st.parsed);
  assert_int_equal(run_once(CG_FIXTURE_DIR, cache, false, &warm), GSP_OK);
  assert_int_equal(warm.st.parsed, 0);
  assert_int_equal(warm.st.cache_misses, 0);
  assert_int_equal(warm.st.cache_hits, cold.st.parsed + cold.st.cache_hits);
  assert_true(warm.st.resolve_cached);
  assert_null(warm.invariants);
  assert_string_equal(ref.dump, cold.dump);
  assert_string_equal(ref.dump, warm.dump);
  free(ref.dump), free(cold.dump), free(warm.dump);
  cg_scratch_drop(&sc);
}

static void test_killed_cold_run(void **state) {
  (void)state;
  cg_scratch sc;
  cg_scratch_make(&sc, "cgstore", NULL);
  const char *cache = sc.cache;
  run_out ref = {0}, next = {0}, warm = {0};
  assert_int_equal(run_once(CG_PROJECT_DIR "/src", NULL, false, &ref), GSP_OK);
  pid_t pid = fork();
  if (pid == 0) {
    run_out o = {0};
    run_once(CG_PROJECT_DIR "/src", cache, true, &o);
    _exit(1); /* not reached */
  }
  int status;
  waitpid(pid, &status, 0);
  assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
  assert_int_equal(run_once(CG_PROJECT_DIR "/src", cache, false, &next), GSP_OK);
  assert_int_equal(next.flush, GSP_OK);
  assert_int_equal(next.st.cache_hits + next.st.parsed, next.st.files);
  assert_string_equal(ref.dump, next.dump);
  assert_int_equal(run_once(CG_PROJECT_DIR "/src", cache, false, &warm), GSP_OK);
  assert_int_equal(warm.st.parsed, 0);
  assert_string_equal(ref.dump, warm.dump);
  free(ref.dump), free(next.dump), free(warm.dump);
  cg_scratch_drop(&sc);
}

static void test_full_disk(void **state) {
  (void)state;
  cg_scratch sc;
  cg_scratch_make(&sc, "cgstore", NULL);
  const char *cache = sc.cache;
  run_out ref = {0};
  assert_int_equal(run_once(CG_PROJECT_DIR "/src", NULL, false, &ref), GSP_OK);
  pid_t pid = fork();
  if (pid == 0) { /* the child's exit code says which check failed */
    signal(SIGXFSZ, SIG_IGN);
    struct rlimit rl = {64 * 1024, 64 * 1024};
    if (setrlimit(RLIMIT_FSIZE, &rl) != 0) _exit(2);
    run_out o = {0};
    int rv = run_once(CG_PROJECT_DIR "/src", cache, false, &o);
    if (rv != GSP_OK) _exit(3);
    if (strcmp(o.dump, ref.dump) != 0) _exit(4);
    if (o.flush != GSP_ENOSPC && o.flush != GSP_EIO) _exit(5);
    if (strstr(o.errmsg, cache) == NULL) _exit(6);
    _exit(0);
  }
  int status;
  waitpid(pid, &status, 0);
  assert_true(WIFEXITED(status));
  assert_int_equal(WEXITSTATUS(status), 0);
  /* the store holds what was committed before the disk filled, soundly */
  run_out next = {0};
  assert_int_equal(run_once(CG_PROJECT_DIR "/src", cache, false, &next), GSP_OK);
  assert_string_equal(ref.dump, next.dump);
  free(ref.dump), free(next.dump);
  cg_scratch_drop(&sc);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_warm_after_behind),
      cmocka_unit_test(test_killed_cold_run),
      cmocka_unit_test(test_full_disk),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
