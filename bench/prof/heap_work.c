/*
 * heap_work.c - the workload of bench_prof's heap-tracking runs: N
 * malloc+free pairs of mixed small sizes (16..256 bytes, a window of 64
 * live blocks), timed with the process CPU clock around the loop only
 * (start-up and exit, where a tracker sets up and checks leaks, left
 * out). Prints the CPU ns per pair on stdout.
 * usage: heap_work N
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double cpu_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

int main(int argc, char **argv) {
  long n = argc > 1 ? atol(argv[1]) : 1000000;
  void *win[64] = {0};
  double t0 = cpu_ns();
  for (long i = 0; i < n; i++) {
    unsigned k = (unsigned)i & 63;
    free(win[k]);
    win[k] = malloc(16 + ((size_t)i * 7919 % 241));
    if (!win[k]) return 1;
    *(volatile char *)win[k] = 1;
  }
  double t1 = cpu_ns();
  for (int k = 0; k < 64; k++) free(win[k]);
  printf("%.2f\n", (t1 - t0) / (double)n);
  return 0;
}
