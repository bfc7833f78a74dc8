/*
 * prof_hot3.c - a test program with three hot functions at a known
 * 60/30/10 split of CPU time: each round calls hot_sixty, hot_thirty and
 * hot_ten with 6, 3 and 1 units of the same arithmetic loop. Two threads
 * run rounds for the CPU-seconds given each (default 3), so every
 * function's share of CPU time is its share of the units. The second
 * argument is the exit status (default 0), or "kill" to end by SIGKILL
 * (for the test that a killed program leaves its samples).
 *
 * The blocks are long (a unit is some milliseconds of CPU, a round tens of
 * milliseconds), so a sampler with a fixed period counts each block to
 * within one sample per round: the error of a share falls with the number
 * of rounds much faster than the binomial error of independent samples
 * would (at 99 Hz and 6 CPU-seconds a thread, under a point instead of
 * about 1.2 points of standard error). That holds while the rounds do not
 * keep step with the sampling period: a round of a fixed length close to
 * a whole number of periods (29-30 ms here, three periods at 99 Hz) is
 * sampled at the same few points of it round after round, as any
 * fixed-rate sampler samples a loop that keeps step with it (docs/prof.md,
 * aliasing). So each round draws its unit between 0.75 and 1.25 times
 * UNIT, the same for its three calls: the split stays 6:3:1 in every
 * round, and the round's length no longer repeats. The empty asm in the loop keeps a
 * compiler from folding iterations together (clang unrolls the loop and
 * merges eight multiply-adds into one otherwise), so every compiler's
 * code spends the same time per unit in all three functions.
 * usage: prof_hot3 [SECONDS [STATUS|kill]]
 */
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "prof_test_util.h"

#define UNIT 3000000

static volatile uint64_t g_sink;

static uint64_t spin(uint64_t x, unsigned units, unsigned unit) {
  for (unsigned i = 0; i < units * unit; i++) {
    x = x * 6364136223846793005ull + 1442695040888963407ull;
    __asm__ volatile("" : "+r"(x));
  }
  return x;
}

__attribute__((noinline)) static uint64_t hot_sixty(uint64_t x, unsigned u) {
  return spin(x, 6, u);
}
__attribute__((noinline)) static uint64_t hot_thirty(uint64_t x, unsigned u) {
  return spin(x, 3, u);
}
__attribute__((noinline)) static uint64_t hot_ten(uint64_t x, unsigned u) { return spin(x, 1, u); }

static double seconds;

static void *worker(void *arg) {
  (void)arg;
  uint64_t x = 1, r = (uint64_t)(uintptr_t)&x | 1;
  double end = cpu_now() + seconds;
  while (cpu_now() < end) {
    r = r * 6364136223846793005ull + 1442695040888963407ull;
    unsigned u = UNIT / 4 * 3 + (unsigned)(r >> 33) % (UNIT / 2); /* 0.75..1.25 x UNIT */
    x = hot_ten(hot_thirty(hot_sixty(x, u), u), u);
  }
  g_sink = x;
  return NULL;
}

int main(int argc, char **argv) {
  seconds = argc > 1 ? atof(argv[1]) : 3.0;
  pthread_t t;
  if (pthread_create(&t, NULL, worker, NULL) != 0) return 1;
  worker(NULL);
  pthread_join(t, NULL);
  if (argc > 2 && strcmp(argv[2], "kill") == 0) raise(SIGKILL);
  return argc > 2 ? atoi(argv[2]) : 0;
}
