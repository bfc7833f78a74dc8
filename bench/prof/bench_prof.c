/*
 * bench_prof.c - what the profiler costs, next to its peers, in one run.
 *
 * zones: CPU ns per gsp_prof_zone_begin/end pair (a tight loop of 10^7
 *   pairs of one zone, nested in an outer zone), next to a bare pair of
 *   clock_gettime(CLOCK_MONOTONIC) calls (what a hand-written timer
 *   costs) and an empty loop. Target: <= 25 ns per zone.
 *
 * cpu: the CPU-time overhead of sampling a fixed workload (prof_work, two
 *   threads, about 2 CPU-seconds) run as a child process: plain; under
 *   libgsperf-preload.so (what `gsperf profile` runs) at 99 and 997 Hz on
 *   its perf-ring source (the default) and on its signal source
 *   (GSP_PROF_SAMPLER=signal, the fallback); under gperftools'
 *   libprofiler (CPUPROFILE, CPUPROFILE_FREQUENCY 100 and 1000; Debian
 *   libgoogle-perftools-dev), both by LD_PRELOAD. The
 *   child's user+sys time comes from wait4 (all its threads, the
 *   profiler's own included). For gsperf the samples it gathered are read
 *   back (gsp_prof_report_load), giving the delivered rate per
 *   CPU-second. Overhead = CPU(profiled) / CPU(plain) - 1, from medians of
 *   interleaved rounds (each round runs every subject once, in rotated
 *   order). Targets: <= 2% at 99 Hz, <= 3% at 997 Hz.
 *
 * kernel path: the same perf task-clock event at 997 Hz on this thread,
 *   counting only, signalling an empty handler, and writing the ring
 *   source's samples (chain, registers, 2 KiB of stack) into a ring, next
 *   to no event, over a fixed loop: what the kernel (and, in a VM, the
 *   hypervisor) charges per sample before the profiler does anything. The
 *   gsperf 997 Hz overhead above minus this is what the profiler's own
 *   code (handler or collector) costs.
 *
 * heap: CPU ns per malloc+free pair of a fixed workload (heap_work, 16..256
 *   byte blocks, a window of 64 live) as reported by the child itself
 *   (its loop only): plain glibc; under libgsperf-preload.so tracking every
 *   allocation (GSP_PROF_HEAP=0, what --leaks does, the leak check at exit
 *   not timed) and sampling (512 KiB); the same program built by clang
 *   with -fsanitize=leak (LeakSanitizer, when clang is installed); and under
 *   valgrind --leak-check=full (fewer pairs; when installed). Target: <= 100
 *   ns per pair tracking every allocation.
 *
 * io: an I/O-heavy program (io_work: 4 KiB pwrite + pread pairs on a
 *   page-cached file) run plain, under libgsperf-preload.so with I/O
 *   tracking only (GSP_PROF_IO=1, GSP_PROF_CPU=0), and under `strace -c -f`
 *   (when installed, 3 rounds; its own CPU included, as wait4 reports the
 *   tracer and its reaped tracee together). Child CPU time; each profiled
 *   run between two plain runs, overhead = median of the per-round ratios
 *   (the method of bench_prof_io, bench_prof_io_run.h). Target: <= 5% CPU.
 *
 * The machine is shared and noisy (MACHINE.md): the load average is
 * printed; read overheads of a percent or two as within the noise unless
 * they repeat.
 *
 * Run: bench_prof [--quick] [--rounds N] [--cpu]   (--cpu: the cpu and
 * kernel path sections only; from the build tree: it finds
 * prof_work and libgsperf-preload.so next to itself and in the build root)
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <limits.h>
#include <linux/perf_event.h>
#include <signal.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "gsperf/prof.h"
#include "../support/bench_util.h"
#include "bench_prof_io_run.h"

extern char **environ;

/* ---- zones --------------------------------------------------------------- */

static double zone_pair_ns(long n) {
  static gsp_prof_zone_site outer = {"bench.outer", 0}, inner = {"bench.inner", 0};
  gsp_prof_zone_begin(&outer);
  double t0 = gsp_bench_clock_s(CLOCK_PROCESS_CPUTIME_ID);
  for (long i = 0; i < n; i++) {
    gsp_prof_zone_begin(&inner);
    __asm__ volatile("" ::: "memory");
    gsp_prof_zone_end(&inner);
  }
  double t1 = gsp_bench_clock_s(CLOCK_PROCESS_CPUTIME_ID);
  gsp_prof_zone_end(&outer);
  return (t1 - t0) * 1e9 / (double)n;
}

static double clock_pair_ns(long n) {
  struct timespec a, b;
  uint64_t sum = 0;
  double t0 = gsp_bench_clock_s(CLOCK_PROCESS_CPUTIME_ID);
  for (long i = 0; i < n; i++) {
    clock_gettime(CLOCK_MONOTONIC, &a);
    __asm__ volatile("" ::: "memory");
    clock_gettime(CLOCK_MONOTONIC, &b);
    sum += (uint64_t)(b.tv_nsec - a.tv_nsec);
  }
  double t1 = gsp_bench_clock_s(CLOCK_PROCESS_CPUTIME_ID);
  __asm__ volatile("" ::"r"(sum));
  return (t1 - t0) * 1e9 / (double)n;
}

static double empty_ns(long n) {
  double t0 = gsp_bench_clock_s(CLOCK_PROCESS_CPUTIME_ID);
  for (long i = 0; i < n; i++) __asm__ volatile("" ::: "memory");
  return (gsp_bench_clock_s(CLOCK_PROCESS_CPUTIME_ID) - t0) * 1e9 / (double)n;
}

static void bench_zones(int rounds, long n) {
  double z[32], c[32], e[32];
  for (int r = 0; r < rounds; r++) {
    z[r] = zone_pair_ns(n);
    c[r] = clock_pair_ns(n);
    e[r] = empty_ns(n);
  }
  double zm = gsp_bench_median(z, (size_t)(rounds)), cm = gsp_bench_median(c, (size_t)(rounds));
  printf("\nzones: CPU ns per pair, median of %d x %ld\n", rounds, n);
  printf("  %-34s %8.2f ns\n", "gsp_prof_zone_begin+end", zm);
  printf("  %-34s %8.2f ns  (ratio to zone %.2f)\n", "2x clock_gettime(MONOTONIC)", cm, cm / zm);
  printf("  %-34s %8.2f ns\n", "empty loop", gsp_bench_median(e, (size_t)(rounds)));
}

/* ---- the kernel's sampling path ------------------------------------------
 * What a sample costs before any profiler code runs: this thread burns a
 * fixed amount of CPU (LCG steps) with no sampling source, with a perf
 * task-clock event at 997 Hz that only counts (its hrtimer fires, nothing
 * is delivered), and with the same event signalling this thread on every
 * period (one-page buffer, wakeup_events 1, F_SETOWN_EX + O_ASYNC: the path
 * the profiler uses) into a handler that only hands the buffer back. */

static volatile long g_floor_signals;
static struct perf_event_mmap_page *g_floor_page;

static void floor_handler(int sig, siginfo_t *si, void *uc) {
  (void)sig;
  (void)si;
  (void)uc;
  g_floor_signals++;
  if (g_floor_page)
    __atomic_store_n(&g_floor_page->data_tail,
                     __atomic_load_n(&g_floor_page->data_head, __ATOMIC_ACQUIRE), __ATOMIC_RELEASE);
}

/* The ring source's event (what sampler_ring.c opens): frame-pointer
 * chain, ip/sp/bp and 2 KiB of stack per sample into a ring big enough
 * for the whole run (nothing reads it during the loop). */
#define FLOOR_RING_PAGES 2048
static void *g_floor_ring;

static int floor_ring(void) {
  struct perf_event_attr a;
  memset(&a, 0, sizeof a);
  a.size = sizeof a;
  a.type = PERF_TYPE_SOFTWARE;
  a.config = PERF_COUNT_SW_TASK_CLOCK;
  a.sample_period = 1000000000ull / 997;
  a.sample_type = PERF_SAMPLE_IP | PERF_SAMPLE_TID | PERF_SAMPLE_TIME | PERF_SAMPLE_CALLCHAIN |
                  PERF_SAMPLE_REGS_USER | PERF_SAMPLE_STACK_USER;
  a.sample_regs_user = (1ull << 6) | (1ull << 7) | (1ull << 8); /* bp, sp, ip */
  a.sample_stack_user = 2048;
  a.disabled = 1;
  a.exclude_kernel = 1;
  a.exclude_callchain_kernel = 1;
  int fd = (int)syscall(SYS_perf_event_open, &a, 0, -1, -1, PERF_FLAG_FD_CLOEXEC);
  if (fd < 0) return -1;
  size_t len = (FLOOR_RING_PAGES + 1) * (size_t)sysconf(_SC_PAGESIZE);
  g_floor_ring = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (g_floor_ring == MAP_FAILED) {
    g_floor_ring = NULL;
    close(fd);
    return -1;
  }
  return fd;
}

static int floor_event(int s) {
  if (s == 3) return floor_ring();
  bool signal = s == 2;
  struct perf_event_attr a;
  memset(&a, 0, sizeof a);
  a.size = sizeof a;
  a.type = PERF_TYPE_SOFTWARE;
  a.config = PERF_COUNT_SW_TASK_CLOCK;
  a.sample_period = 1000000000ull / 997;
  a.sample_type = PERF_SAMPLE_TID;
  a.wakeup_events = signal ? 1 : 0;
  a.disabled = 1;
  a.exclude_kernel = 1;
  int fd = (int)syscall(SYS_perf_event_open, &a, 0, -1, -1, PERF_FLAG_FD_CLOEXEC);
  if (fd < 0 || !signal) return fd;
  void *m =
      mmap(NULL, 2 * (size_t)sysconf(_SC_PAGESIZE), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  struct f_owner_ex own = {F_OWNER_TID, (pid_t)syscall(SYS_gettid)};
  if (m == MAP_FAILED || fcntl(fd, F_SETOWN_EX, &own) != 0 || fcntl(fd, F_SETSIG, SIGPROF) != 0 ||
      fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_ASYNC | O_NONBLOCK) != 0) {
    close(fd);
    return -1;
  }
  g_floor_page = m;
  return fd;
}

/* CPU seconds of `steps` LCG steps under source s (0 none, 1 count,
 * 2 signal, 3 ring). */
static double floor_run(int s, long steps, long *signals) {
  int fd = s ? floor_event(s) : -1;
  if (s && fd < 0) return -1;
  g_floor_signals = 0;
  if (fd >= 0) ioctl(fd, PERF_EVENT_IOC_ENABLE, 0);
  uint64_t x = 1;
  double t0 = gsp_bench_clock_s(CLOCK_PROCESS_CPUTIME_ID);
  for (long i = 0; i < steps; i++) {
    x = x * 6364136223846793005ull + 1442695040888963407ull;
    __asm__ volatile("" : "+r"(x));
  }
  double t = gsp_bench_clock_s(CLOCK_PROCESS_CPUTIME_ID) - t0;
  if (fd >= 0) {
    ioctl(fd, PERF_EVENT_IOC_DISABLE, 0);
    if (g_floor_page) munmap(g_floor_page, 2 * (size_t)sysconf(_SC_PAGESIZE));
    g_floor_page = NULL;
    if (g_floor_ring) munmap(g_floor_ring, (FLOOR_RING_PAGES + 1) * (size_t)sysconf(_SC_PAGESIZE));
    g_floor_ring = NULL;
    close(fd);
  }
  *signals = g_floor_signals;
  return t;
}

static void bench_floor(int rounds, bool quick) {
  struct sigaction sa, old;
  memset(&sa, 0, sizeof sa);
  sa.sa_sigaction = floor_handler;
  sa.sa_flags = SA_SIGINFO | SA_RESTART;
  sigaction(SIGPROF, &sa, &old);
  static const char *const names[4] = {"no sampling source", "perf task-clock, count only",
                                       "perf task-clock + signal (empty)",
                                       "perf task-clock -> ring (no signal)"};
  double t[4][32], over[4][32];
  long sig[4] = {0};
  long steps = quick ? 300000000 : 800000000;
  for (int r = 0; r < rounds; r++) {
    for (int i = 0; i < 4; i++)
      t[(i + r) % 4][r] = floor_run((i + r) % 4, steps, &sig[(i + r) % 4]);
    for (int s = 0; s < 4; s++) over[s][r] = t[s][r] / t[0][r] - 1.0;
  }
  sigaction(SIGPROF, &old, NULL);
  printf("\nkernel sampling path at 997 Hz (this thread, fixed work), median of %d rounds\n",
         rounds);
  for (int s = 0; s < 4; s++) {
    double m = gsp_bench_median(t[s], (size_t)(rounds));
    if (m < 0) {
      printf("  %-34s (perf events not allowed: skipped)\n", names[s]);
      continue;
    }
    printf("  %-34s %8.3f s %8.2f%%", names[s], m,
           s ? 100.0 * gsp_bench_median(over[s], (size_t)(rounds)) : 0.0);
    if (s == 2 && sig[2] > 0)
      printf("  (%ld signals, %.1f us each)", sig[2],
             gsp_bench_median(over[2], (size_t)(rounds)) * m /
                 (1 + gsp_bench_median(over[2], (size_t)(rounds))) / (double)sig[2] * 1e6);
    printf("\n");
  }
}

/* ---- heap ---------------------------------------------------------------- */

enum { H_PLAIN, H_GSP_ALL, H_GSP_SAMPLE, H_LSAN, H_VALGRIND, NHEAP };
static const char *const k_heap_names[NHEAP] = {"glibc (plain)", "gsperf every alloc",
                                                "gsperf 512 KiB sampled", "LeakSanitizer",
                                                "valgrind memcheck"};

/* Runs argv with envp, returns the number the child printed, or -1. */
static double spawn_read(char *const argv[], char *const envp[]) {
  int fds[2];
  if (pipe(fds) != 0) return -1;
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
  posix_spawn_file_actions_addclose(&fa, fds[0]);
  posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
  pid_t pid;
  int rc = posix_spawn(&pid, argv[0], &fa, NULL, argv, envp);
  posix_spawn_file_actions_destroy(&fa);
  close(fds[1]);
  char buf[64] = {0};
  ssize_t n = rc == 0 ? read(fds[0], buf, sizeof buf - 1) : -1;
  close(fds[0]);
  int st = 0;
  if (rc == 0) waitpid(pid, &st, 0);
  if (rc != 0 || n <= 0 || !WIFEXITED(st)) return -1;
  return atof(buf);
}

typedef struct heap_env {
  char work[PATH_MAX], lsan[PATH_MAX], preload[PATH_MAX + 16], dir[96];
  const char *valgrind;
} heap_env;

static double heap_run(const heap_env *h, int s, bool quick) {
  char n[32], vn[32];
  snprintf(n, sizeof n, "%d", quick ? 1000000 : 5000000);
  snprintf(vn, sizeof vn, "%d", quick ? 100000 : 300000);
  char *plain[] = {(char *)h->work, n, NULL}, *lsan[] = {(char *)h->lsan, n, NULL};
  char *vg[] = {(char *)h->valgrind, "-q", "--leak-check=full", (char *)h->work, vn, NULL};
  char *none[] = {NULL};
  char *all[] = {(char *)h->preload, (char *)h->dir, "GSP_PROF_CPU=0", "GSP_PROF_HEAP=0", NULL};
  char *smp[] = {(char *)h->preload, (char *)h->dir, "GSP_PROF_CPU=0", "GSP_PROF_HEAP=524288",
                 NULL};
  switch (s) {
    case H_PLAIN:
      return spawn_read(plain, none);
    case H_GSP_ALL:
      return spawn_read(plain, all);
    case H_GSP_SAMPLE:
      return spawn_read(plain, smp);
    case H_LSAN:
      return h->lsan[0] ? spawn_read(lsan, none) : -1;
    default:
      return h->valgrind ? spawn_read(vg, none) : -1;
  }
}

static void bench_heap(const heap_env *h, int rounds, bool quick) {
  double v[NHEAP][32];
  for (int r = 0; r < rounds; r++)
    for (int i = 0; i < NHEAP; i++) {
      int s = (i + r) % NHEAP;
      v[s][r] = heap_run(h, s, quick);
    }
  printf("\nheap: CPU ns per malloc+free pair (child's loop), median of %d rounds\n", rounds);
  double base = gsp_bench_median(v[H_PLAIN], (size_t)(rounds));
  for (int s = 0; s < NHEAP; s++) {
    double m = gsp_bench_median(v[s], (size_t)(rounds));
    if (m < 0) {
      printf("  %-26s (not available: skipped)\n", k_heap_names[s]);
      continue;
    }
    printf("  %-26s %9.1f ns  (+%.1f ns over plain)\n", k_heap_names[s], m, m - base);
  }
}

/* ---- io ------------------------------------------------------------------ */

/* The method and the work are bench_prof_io's (bench_prof_io_run.h): each
 * profiled run between two plain runs, the median of the per-round
 * ratios, quartiles shown. */
typedef struct io_args {
  char *plain[4], *strace[9], *none[1], *genv[5];
} io_args;

static double io_run(void *ctx, int s) {
  const io_args *a = ctx;
  return gsp_bio_child_cpu(a->plain, s == 0 ? a->none : a->genv);
}

static double io_run_strace(void *ctx, int s) {
  const io_args *a = ctx;
  if (s == 0) return gsp_bio_child_cpu(a->plain, a->none);
  return a->strace[0] ? gsp_bio_child_cpu(a->strace, a->none) : -1;
}

static void bench_io(const char *work, const char *preload, const char *dir, int rounds,
                     bool quick) {
  static char n[32], file[128], pre[PATH_MAX + 16], gdir[128];
  static gsp_bio_result res;
  static const char *const names[] = {"plain", "gsperf --io"};
  static const char *const st_names[] = {"plain", "strace -c -f"};
  long pairs = quick ? 50000 : 200000;
  snprintf(n, sizeof n, "%ld", pairs);
  snprintf(file, sizeof file, "%s/io_work.dat", dir);
  snprintf(pre, sizeof pre, "LD_PRELOAD=%s", preload);
  snprintf(gdir, sizeof gdir, "GSP_PROF_DIR=%s", dir);
  char *strace = access("/usr/bin/strace", X_OK) == 0 ? "/usr/bin/strace" : NULL;
  io_args a = {.plain = {(char *)work, file, n, NULL},
               .strace = {strace, "-c", "-f", "-o", "/dev/null", (char *)work, file, n, NULL},
               .none = {NULL},
               .genv = {pre, gdir, "GSP_PROF_CPU=0", "GSP_PROF_IO=1", NULL}};
  double load[3] = {0};
  getloadavg(load, 3);
  printf(
      "\nio: %s pwrite+pread pairs of 4 KiB, each run between two plain runs, overhead = "
      "median of %d rounds (load average %.2f %.2f %.2f)\n",
      n, rounds, load[0], load[1], load[2]);
  gsp_bio_sandwich(io_run, &a, 2, rounds, &res);
  gsp_bio_print(&res, names, pairs);
  gsp_bio_sandwich(io_run_strace, &a, 2, rounds < 3 ? rounds : 3, &res);
  gsp_bio_print(&res, st_names, pairs);
}

/* ---- cpu overhead -------------------------------------------------------- */

enum {
  S_PLAIN,
  S_GSP99,
  S_GSP997,
  S_SIG99,
  S_SIG997,
  S_TIM99,
  S_TIM997,
  S_GPT100,
  S_GPT1000,
  NSUB
};
static const char *const k_names[NSUB] = {"plain",
                                          "gsperf ring 99 Hz",
                                          "gsperf ring 997 Hz",
                                          "gsperf signal 99 Hz",
                                          "gsperf signal 997 Hz",
                                          "gsperf timer 99 Hz",
                                          "gsperf timer 997 Hz",
                                          "gperftools 100 Hz",
                                          "gperftools 1000 Hz"};

static bool is_gsp(int s) {
  return s == S_GSP99 || s == S_GSP997 || s == S_SIG99 || s == S_SIG997 || s == S_TIM99 ||
         s == S_TIM997;
}
static int gsp_hz(int s) { return s == S_GSP99 || s == S_SIG99 || s == S_TIM99 ? 99 : 997; }
static const char *gsp_src(int s) {
  return s == S_SIG99 || s == S_SIG997   ? "signal"
         : s == S_TIM99 || s == S_TIM997 ? "timer"
                                         : "ring";
}

typedef struct env {
  char work[PATH_MAX], preload[PATH_MAX], dir[64];
  const char *gpt;
  char rounds[32];
} env;

static double run_child(const env *e, int s, double *rate) {
  char pre[PATH_MAX + 16], dir[96], hz[32], prof[128];
  char src[40];
  char *envp[8];
  int k = 0;
  snprintf(dir, sizeof dir, "GSP_PROF_DIR=%s", e->dir);
  if (is_gsp(s)) {
    snprintf(pre, sizeof pre, "LD_PRELOAD=%s", e->preload);
    snprintf(hz, sizeof hz, "GSP_PROF_HZ=%d", gsp_hz(s));
    snprintf(src, sizeof src, "GSP_PROF_SAMPLER=%s", gsp_src(s));
    envp[k++] = pre;
    envp[k++] = dir;
    envp[k++] = hz;
    envp[k++] = src;
  } else if (s == S_GPT100 || s == S_GPT1000) {
    snprintf(pre, sizeof pre, "LD_PRELOAD=%s", e->gpt);
    snprintf(hz, sizeof hz, "CPUPROFILE_FREQUENCY=%d", s == S_GPT100 ? 100 : 1000);
    snprintf(prof, sizeof prof, "CPUPROFILE=%s/gperf.prof", e->dir);
    envp[k++] = pre;
    envp[k++] = hz;
    envp[k++] = prof;
  }
  envp[k] = NULL;
  char *argv[] = {(char *)e->work, (char *)e->rounds, NULL};
  pid_t pid;
  posix_spawn_file_actions_t fa; /* peers print to stderr: silence them */
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
  int rc = posix_spawn(&pid, e->work, &fa, NULL, argv, envp);
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0) return -1;
  int st;
  struct rusage ru;
  if (wait4(pid, &st, 0, &ru) < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) return -1;
  double cpu = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec * 1e-6 +
               (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec * 1e-6;
  *rate = 0;
  if (is_gsp(s)) {
    char raw[160];
    snprintf(raw, sizeof raw, "%s/cpu.%d.raw", e->dir, (int)pid);
    gsp_prof_report *r;
    if (gsp_prof_report_load(raw, 0, &r) == GSP_OK) {
      *rate = (double)gsp_prof_report_samples(r) / cpu;
      gsp_prof_report_destroy(r);
    }
    unlink(raw);
    snprintf(raw, sizeof raw, "%s/cpu.%d.raw.maps", e->dir, (int)pid);
    unlink(raw);
  }
  return cpu;
}

static void bench_cpu(const env *e, int rounds) {
  double cpu[NSUB][32], rate[NSUB][32], over[NSUB][32];
  for (int r = 0; r < rounds; r++) {
    for (int i = 0; i < NSUB; i++) {
      int s = (i + r) % NSUB;
      if (!e->gpt && (s == S_GPT100 || s == S_GPT1000)) continue;
      cpu[s][r] = run_child(e, s, &rate[s][r]);
    }
    for (int s = 0; s < NSUB; s++) over[s][r] = cpu[s][r] / cpu[S_PLAIN][r] - 1.0;
  }
  printf("\ncpu: fixed workload (2 threads), child CPU time, median of %d rounds\n", rounds);
  printf("  %-20s %10s %10s %14s\n", "subject", "CPU s", "overhead", "samples/CPU-s");
  for (int s = 0; s < NSUB; s++) {
    if (!e->gpt && (s == S_GPT100 || s == S_GPT1000)) {
      printf("  %-20s (libprofiler.so.0 not found: skipped)\n", k_names[s]);
      continue;
    }
    double rt = gsp_bench_median(rate[s], (size_t)(rounds));
    printf("  %-20s %10.3f %9.2f%%", k_names[s], gsp_bench_median(cpu[s], (size_t)(rounds)),
           s == S_PLAIN ? 0.0 : 100.0 * gsp_bench_median(over[s], (size_t)(rounds)));
    if (rt > 0) printf(" %14.1f", rt);
    printf("\n");
  }
}

static void find_env(env *e, const char *argv0, bool quick) {
  char self[PATH_MAX - 64];
  ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
  self[n > 0 ? n : 0] = '\0';
  char *slash = strrchr(self, '/');
  if (slash) *slash = '\0';
  snprintf(e->work, sizeof e->work, "%s/prof_work", self);
  snprintf(e->preload, sizeof e->preload, "%s/../../libgsperf-preload.so", self);
  e->gpt = access("/usr/lib/x86_64-linux-gnu/libprofiler.so.0", R_OK) == 0
               ? "/usr/lib/x86_64-linux-gnu/libprofiler.so.0"
               : NULL;
  snprintf(e->rounds, sizeof e->rounds, "%d", quick ? 40000 : 150000);
  snprintf(e->dir, sizeof e->dir, "/tmp/bench_prof.XXXXXX");
  if (!mkdtemp(e->dir)) snprintf(e->dir, sizeof e->dir, "/tmp");
  (void)argv0;
}

int main(int argc, char **argv) {
  bool quick = false, cpu_only = false;
  int rounds = 7;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--cpu") == 0) {
      cpu_only = true;
    } else if (strcmp(argv[i], "--quick") == 0) {
      quick = true;
      rounds = 3;
    } else if (strcmp(argv[i], "--rounds") == 0 && i + 1 < argc) {
      rounds = atoi(argv[++i]);
      if (rounds < 1 || rounds > 32) rounds = 7;
    }
  }
  double load[3] = {0};
  getloadavg(load, 3);
  long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
  printf("bench_prof: %ld CPUs, load average %.2f %.2f %.2f\n", ncpu, load[0], load[1], load[2]);
  if (!cpu_only) bench_zones(rounds, quick ? 2000000 : 10000000);
  env e;
  find_env(&e, argv[0], quick);
  if (access(e.work, X_OK) != 0 || access(e.preload, R_OK) != 0) {
    printf("\ncpu: prof_work or libgsperf-preload.so not found next to %s: skipped\n", argv[0]);
    return 0;
  }
  bench_cpu(&e, rounds);
  bench_floor(rounds, quick);
  if (cpu_only) return 0;
  heap_env h;
  memset(&h, 0, sizeof h);
  char *slash = strrchr(e.work, '/');
  snprintf(h.work, sizeof h.work, "%.*s/heap_work", (int)(slash - e.work), e.work);
  snprintf(h.lsan, sizeof h.lsan, "%.*s/heap_work_lsan", (int)(slash - e.work), e.work);
  if (access(h.lsan, X_OK) != 0) h.lsan[0] = '\0';
  snprintf(h.preload, sizeof h.preload, "LD_PRELOAD=%s", e.preload);
  snprintf(h.dir, sizeof h.dir, "GSP_PROF_DIR=%s", e.dir);
  h.valgrind = access("/usr/bin/valgrind", X_OK) == 0 ? "/usr/bin/valgrind" : NULL;
  bench_heap(&h, rounds, quick);
  char iow[PATH_MAX];
  snprintf(iow, sizeof iow, "%.*s/io_work", (int)(slash - e.work), e.work);
  bench_io(iow, e.preload, e.dir, rounds, quick);
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf %s", e.dir);
  if (system(cmd) != 0) printf("(could not remove %s)\n", e.dir);
  return 0;
}
