/*
 * prof_work.c - the fixed workload of bench_prof's CPU-overhead runs: two
 * threads each run the same number of rounds of a call tree a few frames
 * deep (so an unwinder has work to do), then the process prints nothing
 * and exits. Fixed work, not fixed time: a profiler's cost shows as extra
 * CPU time of the process (measured by the parent with wait4).
 * usage: prof_work ROUNDS
 */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>

static volatile uint64_t g_sink;
static long g_rounds;

__attribute__((noinline)) static uint64_t leaf(uint64_t x, int n) {
  for (int i = 0; i < n; i++) x = x * 6364136223846793005ull + 1442695040888963407ull;
  return x;
}
__attribute__((noinline)) static uint64_t mid(uint64_t x, int n) { return leaf(x, n) ^ 1; }
__attribute__((noinline)) static uint64_t top(uint64_t x, int n) { return mid(x, n) + 1; }

static void *worker(void *arg) {
  uint64_t x = (uint64_t)(uintptr_t)arg;
  for (long r = 0; r < g_rounds; r++) x = top(x, 6000) + mid(x, 3000) + leaf(x, 1000);
  g_sink = x;
  return NULL;
}

int main(int argc, char **argv) {
  g_rounds = argc > 1 ? atol(argv[1]) : 10000;
  pthread_t t;
  if (pthread_create(&t, NULL, worker, (void *)1) != 0) return 1;
  worker((void *)2);
  pthread_join(t, NULL);
  return 0;
}
