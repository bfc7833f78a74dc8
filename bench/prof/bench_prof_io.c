/*
 * bench_prof_io.c - what the in-process MEMORY and IO profiles cost (the
 * GOT-patched hooks), next to their peers, in one run.
 *
 * io: N rounds of a 4 KiB pwrite and a 4 KiB pread at rotating offsets
 *   of a page-cached 16 MiB file (the same work as io_work), timed in this
 *   process with CLOCK_PROCESS_CPUTIME_ID: plain, and under an in-process
 *   IO profile (gsp_prof_start with GSP_PROF_IO). The peer, strace -c -f
 *   (when installed), cannot run in-process: io_work is run as a child
 *   plain and under it, CPU from wait4 (tracer and tracee). Overhead =
 *   CPU / CPU(plain) - 1, medians of interleaved rounds. Target: <= 5%.
 *
 * heap: CPU ns per malloc+free pair (16..256 bytes, a window of 64 live
 *   blocks) in this process: plain glibc, and under an in-process MEMORY
 *   profile tracking every allocation (its leak check at stop not timed).
 *   Target: <= 100 ns per pair, as for the preload.
 *
 * The machine is shared and noisy: the load average is printed; read
 * differences of a percent or two as noise unless they repeat.
 *
 * Run: bench_prof_io [--quick] [--rounds N]   (io_work next to itself)
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <limits.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "gsperf/prof.h"

#define MAXR 32
enum { S_PLAIN, S_GSP, S_CHILD, S_STRACE, NS };
static const char *const k_names[NS] = {"plain (in-process)", "gsperf IO profile",
                                        "io_work (child)", "strace -c -f"};
extern char **environ;

static double cpu_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int cmp_d(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static double median(double *v, int n) {
  double t[MAXR];
  memcpy(t, v, (size_t)n * sizeof *v);
  qsort(t, (size_t)n, sizeof *t, cmp_d);
  return n % 2 ? t[n / 2] : (t[n / 2 - 1] + t[n / 2]) / 2;
}

static double io_loop(const char *file, long n) {
  static char buf[4096];
  memset(buf, 'y', sizeof buf);
  int fd = open(file, O_CREAT | O_TRUNC | O_RDWR, 0644);
  if (fd < 0) return -1;
  double t0 = cpu_s();
  for (long i = 0; i < n; i++) {
    off_t off = (off_t)(i % 4096) * 4096;
    if (pwrite(fd, buf, sizeof buf, off) != (ssize_t)sizeof buf) return -1;
    if (pread(fd, buf, sizeof buf, off) != (ssize_t)sizeof buf) return -1;
  }
  double t = cpu_s() - t0;
  close(fd);
  unlink(file);
  return t;
}

static double with_profile(unsigned types, double (*run)(const char *, long), const char *a,
                           long n) {
  gsp_prof *p;
  if (gsp_prof_create(&(gsp_prof_config){.types = types}, &p) != GSP_OK) return -1;
  if (gsp_prof_start(p) != GSP_OK) {
    gsp_prof_destroy(p);
    return -1;
  }
  double t = run(a, n);
  gsp_prof_stop(p);
  gsp_prof_destroy(p);
  return t;
}

static double spawn_cpu(char *const argv[]) {
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
  pid_t pid;
  int rc = posix_spawn(&pid, argv[0], &fa, NULL, argv, environ);
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0) return -1;
  int st;
  struct rusage ru;
  if (wait4(pid, &st, 0, &ru) < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) return -1;
  return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec * 1e-6 +
         (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec * 1e-6;
}

static void bench_io(const char *work, int rounds, long n) {
  char file[64], ns[32];
  snprintf(file, sizeof file, "/tmp/bench_prof_io.%ld.dat", (long)getpid());
  snprintf(ns, sizeof ns, "%ld", n);
  const char *strace = access("/usr/bin/strace", X_OK) == 0 ? "/usr/bin/strace" : NULL;
  char *child[] = {(char *)work, file, ns, NULL};
  char *st[] = {(char *)strace, "-c", "-f", "-o", "/dev/null", (char *)work, file, ns, NULL};
  double cpu[NS][MAXR], over[NS][MAXR];
  for (int r = 0; r < rounds; r++) {
    for (int k = 0; k < NS; k++) {
      int s = (k + r) % NS;
      cpu[s][r] = s == S_PLAIN   ? io_loop(file, n)
                  : s == S_GSP   ? with_profile(GSP_PROF_IO, io_loop, file, n)
                  : s == S_CHILD ? spawn_cpu(child)
                  : strace       ? spawn_cpu(st)
                                 : -1;
    }
    over[S_PLAIN][r] = over[S_CHILD][r] = 0;
    over[S_GSP][r] = cpu[S_GSP][r] / cpu[S_PLAIN][r] - 1;
    over[S_STRACE][r] = cpu[S_STRACE][r] / cpu[S_CHILD][r] - 1;
  }
  printf("\nio: %ld pwrite+pread pairs of 4 KiB, median of %d rounds\n", n, rounds);
  printf("  %-20s %10s %14s\n", "subject", "CPU s", "CPU overhead");
  for (int s = 0; s < NS; s++) {
    if (s == S_STRACE && !strace) {
      printf("  %-20s (not installed: skipped)\n", k_names[s]);
      continue;
    }
    printf("  %-20s %10.3f %13.1f%%\n", k_names[s], median(cpu[s], rounds),
           100.0 * median(over[s], rounds));
  }
}

static double heap_loop(const char *unused, long n) {
  (void)unused;
  void *win[64] = {0};
  uint32_t x = 12345;
  double t0 = cpu_s();
  for (long i = 0; i < n; i++) {
    x = x * 1103515245u + 12345u;
    size_t k = (size_t)i & 63;
    free(win[k]);
    win[k] = malloc(16 + (x >> 8) % 241);
    if (!win[k]) return -1;
  }
  double t = cpu_s() - t0;
  for (int k = 0; k < 64; k++) free(win[k]);
  return t;
}

static void bench_heap(int rounds, long n) {
  double cpu[2][MAXR];
  for (int r = 0; r < rounds; r++) {
    for (int k = 0; k < 2; k++) {
      int s = (k + r) % 2;
      cpu[s][r] = s == 0 ? heap_loop(NULL, n) : with_profile(GSP_PROF_MEMORY, heap_loop, NULL, n);
    }
  }
  double p = median(cpu[0], rounds), g = median(cpu[1], rounds);
  printf("\nheap: %ld malloc+free pairs (16..256 B, 64 live), median of %d rounds\n", n, rounds);
  printf("  %-28s %8.1f ns/pair\n", "plain glibc", p * 1e9 / (double)n);
  printf("  %-28s %8.1f ns/pair  (+%.1f ns)\n", "gsperf MEMORY (in-process)", g * 1e9 / (double)n,
         (g - p) * 1e9 / (double)n);
}

int main(int argc, char **argv) {
  int rounds = 7;
  bool quick = false;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--quick") == 0) quick = true;
    if (strcmp(argv[i], "--rounds") == 0 && i + 1 < argc) rounds = atoi(argv[++i]);
  }
  if (quick) rounds = 3;
  if (rounds < 1 || rounds > MAXR) rounds = 7;
  char self[PATH_MAX], work[PATH_MAX + 16];
  ssize_t len = readlink("/proc/self/exe", self, sizeof self - 1);
  if (len <= 0) return 1;
  self[len] = '\0';
  char *slash = strrchr(self, '/');
  snprintf(work, sizeof work, "%.*s/io_work", (int)(slash - self), self);
  double load[3] = {0};
  getloadavg(load, 3);
  printf("bench_prof_io: load average %.2f %.2f %.2f, %ld CPUs\n", load[0], load[1], load[2],
         sysconf(_SC_NPROCESSORS_ONLN));
  bench_io(work, rounds, quick ? 50000 : 200000);
  bench_heap(rounds, quick ? 2000000 : 10000000);
  return 0;
}
