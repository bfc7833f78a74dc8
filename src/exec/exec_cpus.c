/*
 * exec_cpus.c - how many CPUs this process may really use.
 *
 * The affinity mask (sched_getaffinity) bounds which CPUs the threads may
 * run on; a cgroup CPU quota bounds how much time they get, whatever the
 * mask says: a container limited to 1.5 CPUs on a 64-CPU host should run
 * 2 workers, not 64. cgroup v2 states it in /sys/fs/cgroup/cpu.max as
 * "<quota> <period>" or "max <period>"; v1 in cpu.cfs_quota_us (-1 = none)
 * and cpu.cfs_period_us. The result is min(mask, ceil(quota / period)),
 * at least 1. Read once per pool creation (about 20 us per file here).
 */
#define _GNU_SOURCE
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "exec_int.h"

/* Read up to two integers from a small file; "max" reads as -1. */
static int read_pair(const char *path, long long *a, long long *b) {
  FILE *f = fopen(path, "r");
  if (f == NULL) return 0;
  char buf[64] = {0};
  size_t len = fread(buf, 1, sizeof(buf) - 1, f);
  fclose(f);
  buf[len] = '\0';
  char *end = NULL;
  if (strncmp(buf, "max", 3) == 0) {
    *a = -1;
    end = buf + 3;
  } else {
    *a = strtoll(buf, &end, 10);
    if (end == buf) return 0;
  }
  char *end2 = NULL;
  *b = strtoll(end, &end2, 10);
  return end2 == end ? 1 : 2;
}

static long long quota_cpus(void) {
  long long q = -1, p = 0, unused = 0;
  if (read_pair("/sys/fs/cgroup/cpu.max", &q, &p) == 2 && q > 0 && p > 0) return (q + p - 1) / p;
  if (read_pair("/sys/fs/cgroup/cpu/cpu.cfs_quota_us", &q, &unused) >= 1 && q > 0 &&
      read_pair("/sys/fs/cgroup/cpu/cpu.cfs_period_us", &p, &unused) >= 1 && p > 0)
    return (q + p - 1) / p;
  return -1;
}

unsigned gsp_exec_default_workers(void) {
  cpu_set_t set;
  long long n = 1;
  if (sched_getaffinity(0, sizeof(set), &set) == 0) n = CPU_COUNT(&set);
  long long q = quota_cpus();
  if (q > 0 && q < n) n = q;
  if (n < 1) n = 1;
  if (n > 1024) n = 1024;
  return (unsigned)n;
}
