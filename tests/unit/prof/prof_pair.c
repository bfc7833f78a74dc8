/*
 * prof_pair.c - a second CPU-bound test program, with hot functions of
 * its own (pair_major and pair_minor, 3 and 1 units of the same loop per
 * round, so a 75/25 split), for the tests that profile several
 * different programs in one `gsperf profile` run. One thread.
 * usage: prof_pair [SECONDS]   (CPU-seconds, default 1)
 */
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#include "prof_test_util.h"

#define UNIT 3000000

static volatile uint64_t g_sink;

static uint64_t spin(uint64_t x, unsigned units) {
  for (unsigned i = 0; i < units * UNIT; i++) {
    x = x * 6364136223846793005ull + 1442695040888963407ull;
    __asm__ volatile("" : "+r"(x));
  }
  return x;
}

__attribute__((noinline)) static uint64_t pair_major(uint64_t x) { return spin(x, 3); }
__attribute__((noinline)) static uint64_t pair_minor(uint64_t x) { return spin(x, 1); }

int main(int argc, char **argv) {
  double end = process_cpu_now() + (argc > 1 ? atof(argv[1]) : 1.0);
  uint64_t x = 1;
  while (process_cpu_now() < end) x = pair_minor(pair_major(x));
  g_sink = x;
  return 0;
}
