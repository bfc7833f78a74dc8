/* clock.c - the monotonic nanosecond clock (vDSO clock_gettime, ~20 ns). */
#include <time.h>

#include "gsperf/common.h"

uint64_t gsp_now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}
