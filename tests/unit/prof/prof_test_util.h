/*
 * prof_test_util.h - what the profiler's tests and test programs share:
 * the clocks their busy loops and timings read, and whether this machine
 * lets a process open perf events.
 *
 * A loop that must burn s seconds of CPU reads a CPU-time clock, so it
 * burns that much whatever the load of the machine (a wall clock would
 * burn less under load and the sample counts would drift): cpu_now() is
 * the calling thread's CPU time (each thread of a multi-threaded program
 * burns its own share), process_cpu_now() all threads' (for a one-thread
 * program measured as a whole). mono_ns() is the wall clock, for a test
 * that times blocking calls, which burn no CPU.
 *
 * Everything is static inline; the header keeps no state, so any thread
 * may call any of it.
 */
#ifndef GSP_TEST_PROF_UTIL_H
#define GSP_TEST_PROF_UTIL_H

#include <linux/perf_event.h>
#include <stdbool.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

/* Clock id in seconds. */
static inline double prof_clock_s(clockid_t id) {
  struct timespec ts;
  clock_gettime(id, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* The calling thread's CPU time, in seconds. */
static inline double cpu_now(void) { return prof_clock_s(CLOCK_THREAD_CPUTIME_ID); }

/* The process's CPU time (every thread), in seconds. */
static inline double process_cpu_now(void) { return prof_clock_s(CLOCK_PROCESS_CPUTIME_ID); }

/* The monotonic wall clock, in nanoseconds. */
static inline double mono_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* Whether perf events may be opened here (perf_event_paranoid 3 or a
 * seccomp filter refuses them): a software task-clock counter on this
 * process, user time only, opened and closed. */
static inline bool perf_allowed(void) {
  struct perf_event_attr a;
  memset(&a, 0, sizeof a);
  a.size = sizeof a;
  a.type = PERF_TYPE_SOFTWARE;
  a.config = PERF_COUNT_SW_TASK_CLOCK;
  a.exclude_kernel = 1;
  int fd = (int)syscall(SYS_perf_event_open, &a, 0, -1, -1, 0);
  if (fd < 0) return false;
  close(fd);
  return true;
}

#endif
