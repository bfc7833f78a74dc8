/*
 * test_tier_crash.c - nothing acknowledged is lost, nothing damaged is read,
 * when the writer dies by SIGKILL.
 *
 * Each round forks a child that opens the L3 directory with SYNC durability
 * and puts entries (sizes 100 B .. 6 KB, each value carrying its key) as
 * fast as it can, writing the number of each entry to a pipe once its put
 * has returned success. The parent kills it with SIGKILL a random 0-30 ms
 * after its first acknowledgement (so kills land in every phase of a put:
 * encoding, inside the LMDB transaction, in the fsync, between puts), and
 * one round in eight that long after the fork (while the child may still
 * be opening the directory). It then collects
 * every acknowledgement that reached the pipe, then opens the directory
 * itself (no rebuild: the database must be sound) and checks that every
 * entry acknowledged in any round so far is present and intact, and that
 * gsp_tier_verify() finds no bad record. Rounds go on until at least
 * MIN_ACKS entries were acknowledged and MIN_ROUNDS kills were made, or
 * the time budget (40 s) runs out; fewer than 50 kills or 500
 * acknowledged entries (a machine too loaded to test on) fails the test.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <sys/wait.h>
#include <time.h>

#include "tier_scratch.h"

#define MIN_ROUNDS 100
#define MIN_ACKS 2000
#define MAX_ROUNDS 2000
#define BUDGET_NS (40ull * 1000000000ull)

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static size_t size_of(unsigned key) { return 100 + (key * 2654435761u) % 6000; }

static void child(unsigned first, int wfd) {
  gsp_tier *t = NULL;
  gsp_tier_config c = {.l1_max_entries = 64, .l3 = g_uri, .durability = GSP_TIER_SYNC};
  if (gsp_tier_create(&c, &t, NULL, 0) != GSP_OK) _exit(2);
  static char v[8192];
  char k[32];
  for (unsigned key = first;; key++) {
    size_t n = make_value(v, size_of(key), key, 1, key % 3 != 0);
    if (gsp_tier_put(t, k, key_of(k, sizeof k, key), v, n, NULL) != GSP_OK) _exit(3);
    if (write(wfd, &key, sizeof key) != sizeof key) _exit(4);
  }
}

/* Wait (at most 20 s) until the child has acknowledged its first entry. */
static bool first_ack(int fd, unsigned *key) {
  struct pollfd pfd = {.fd = fd, .events = POLLIN};
  return poll(&pfd, 1, 20000) == 1 && read(fd, key, sizeof *key) == sizeof *key;
}

/* Kill the child `delay_us` after its first acknowledgement (or, when
 * `early`, after `delay_us` from its start), then read every
 * acknowledgement. */
static unsigned run_round(unsigned first, unsigned delay_us, bool early, unsigned *acked,
                          size_t *nacked) {
  int p[2];
  assert_int_equal(pipe(p), 0);
  fcntl(p[0], F_SETPIPE_SZ, 1 << 20);
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    close(p[0]);
    child(first, p[1]);
  }
  close(p[1]);
  unsigned key, last = first;
  if (!early) {
    if (!first_ack(p[0], &key)) fail_msg("the child wrote nothing in 20 s");
    acked[(*nacked)++] = key;
    last = key + 1;
  }
  usleep(delay_us);
  kill(pid, SIGKILL);
  int status;
  assert_int_equal(waitpid(pid, &status, 0), pid);
  if (WIFEXITED(status)) fail_msg("child exited %d instead of being killed", WEXITSTATUS(status));
  while (read(p[0], &key, sizeof key) == sizeof key) {
    acked[(*nacked)++] = key;
    last = key + 1;
  }
  close(p[0]);
  return last;
}

static void check_all(const unsigned *acked, size_t nacked) {
  gsp_tier *t = NULL;
  char err[512];
  gsp_tier_config c = {.l3 = g_uri};
  int rv = gsp_tier_create(&c, &t, err, sizeof err);
  if (rv != GSP_OK) fail_msg("reopen after kill: %s: %s", gsp_err_name(rv), err);
  for (size_t i = 0; i < nacked; i++) {
    char k[32];
    void *v;
    size_t n;
    unsigned key = acked[i];
    rv = gsp_tier_get(t, k, key_of(k, sizeof k, key), &v, &n);
    if (rv != GSP_OK) fail_msg("acknowledged entry %u lost: %s", key, gsp_err_name(rv));
    if (n != size_of(key) || !value_ok(v, n, key, key % 3 != 0))
      fail_msg("acknowledged entry %u damaged", key);
    gsp_free(v);
  }
  uint64_t good, bad;
  assert_int_equal(gsp_tier_verify(t, false, &good, &bad), GSP_OK);
  assert_int_equal(bad, 0);
  assert_true(good >= nacked);
  gsp_tier_destroy(t);
}

static void test_sigkill(void **st) {
  (void)st;
  unsigned *acked = malloc(sizeof *acked * 4000000);
  size_t nacked = 0;
  unsigned next = 0, rounds = 0;
  uint64_t start = now_ns(), seed = 0x2545F4914F6CDD1Dull ^ (uint64_t)getpid();
  while (rounds < MAX_ROUNDS && now_ns() - start < BUDGET_NS &&
         (rounds < MIN_ROUNDS || nacked < MIN_ACKS)) {
    seed ^= seed << 13, seed ^= seed >> 7, seed ^= seed << 17;
    unsigned delay = (unsigned)(seed % 30000);
    bool early = seed % 8 == 0; /* now and then, kill while it opens */
    next = run_round(next, delay, early, acked, &nacked) + 1000; /* unacked keys unused */
    rounds++;
    check_all(acked, nacked);
  }
  print_message("crash test: %u kills, %zu acknowledged entries checked after each\n", rounds,
                nacked);
  assert_true(rounds >= 50);
  assert_true(nacked >= 500);
  free(acked);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_sigkill),
  };
  return cmocka_run_group_tests(tests, tier_setup, tier_teardown);
}
