/*
 * nofp_leaf.c - a leaf function built without a frame pointer (this file
 * is compiled with -fomit-frame-pointer), as gcc leaves and most library
 * code are: a frame-pointer walk from inside it skips its caller, which
 * the profiler must still report (test_prof_sampler).
 */
#include <stdint.h>

uint64_t nofp_leaf(uint64_t x, unsigned n);

uint64_t nofp_leaf(uint64_t x, unsigned n) {
  volatile uint64_t scratch[4]; /* some stack of its own */
  for (unsigned i = 0; i < n; i++) {
    x = x * 6364136223846793005ull + 1442695040888963407ull;
    scratch[i & 3] = x;
  }
  return x + scratch[0];
}
