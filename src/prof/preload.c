/*
 * preload.c - libgsperf-preload.so: profiles the program it is preloaded
 * into (LD_PRELOAD, set by `gsperf profile`).
 *
 * A constructor reads the environment and starts what was asked for:
 * a CPU profile whose samples are appended, as the collector drains them,
 * to $GSP_PROF_DIR/cpu.<pid>.raw (memory map in cpu.<pid>.raw.maps), and
 * heap tracking (heap_hook.c; its malloc and friends are this library's
 * exported symbols, so they interpose the program's). The destructor
 * stops the CPU profile and, with heap tracking, runs the leak check and
 * writes heap.<pid>.raw. Because CPU samples reach the file every few
 * milliseconds, a program that crashes, calls _exit or is killed leaves
 * what was gathered up to then; the heap file is written every
 * GSP_PROF_HEAP_SAVE_MS (default 1000; 0: only at exit and on a fatal
 * signal) and on fatal signals (heap_save.c), and at exit with the leaks.
 * Nothing is printed; the tool reads the files after the program ended.
 *
 * The library's own allocations (gsp_malloc) go straight to the C
 * library's allocator, so they are never counted as the program's.
 *
 * With GSP_PROF_IO=1 the I/O hooks (io_hook.c) record the program's
 * read/write/open/... calls and io.<pid>.txt is written at exit.
 *
 * Environment: GSP_PROF_DIR (required; nothing is done without it),
 * GSP_PROF_CPU (default 1), GSP_PROF_HZ (default 99), GSP_PROF_IO
 * (default 0), GSP_PROF_HEAP
 * (unset: no heap tracking; 0: every allocation, with the leak check;
 * N > 0: one allocation per N bytes). A fork child (without exec)
 * forgets the parent's CPU profile and starts its own, written to
 * cpu.<child pid>.raw; a program it execs is profiled under its own pid
 * by the preload it inherits.
 *
 * Exit statuses: the wait family (wait, wait3, wait4, waitpid, waitid)
 * is interposed; when a call reaps a child (it exited or a signal ended
 * it), the status is written to $GSP_PROF_DIR/exit.<child pid>: one line,
 * "exit N" or "signal N" (plus " core" when it dumped core). The file is
 * written with raw system calls (no allocation, no lock, errno kept), so
 * a wait in a signal handler or a fork child is fine, and the I/O hooks
 * do not count it. The waits inside the C library's own system() and
 * pclose() do not pass through these symbols: the preload replaces
 * system, popen and pclose themselves (preload_child.c), reaping through
 * gsp__preload_reap.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "gsperf/prof.h"
#include "preload_int.h"
#include "prof_int.h"

extern void *__libc_malloc(size_t);
extern void *__libc_realloc(void *, size_t);
extern void __libc_free(void *);

static gsp_prof *g_prof;
static const char *g_dir;
static bool g_heap, g_io;

void gsp__prof_thread_hook(void) {
  gsp__heap_guard(true);
  gsp__io_guard(true);
}

/* The profiler's own setup and teardown are not the program's work. */
static void guard(bool on) {
  gsp__heap_guard(on);
  gsp__io_guard(on);
}

static void start_cpu(void);

/* A fork child (without exec) samples itself under its own pid. */
static void restart_in_child(void) {
  g_prof = NULL; /* the parent's collector thread does not exist here */
  gsp__sampler_forget_after_fork();
  guard(true);
  start_cpu();
  guard(false);
}

static unsigned long env_num(const char *name, unsigned long lo, unsigned long hi,
                             unsigned long dflt, bool *set) {
  const char *s = getenv(name);
  if (set) *set = s != NULL && s[0] != '\0';
  if (!s || !s[0]) return dflt;
  char *end;
  unsigned long v = strtoul(s, &end, 10);
  return (*end == '\0' && v >= lo && v <= hi) ? v : dflt;
}

static void *raw_malloc(void *u, size_t n) {
  (void)u;
  return __libc_malloc(n);
}
static void *raw_realloc(void *u, void *p, size_t n) {
  (void)u;
  return __libc_realloc(p, n);
}
static void raw_free(void *u, void *p) {
  (void)u;
  __libc_free(p);
}

static void start_cpu(void) {
  char path[PATH_MAX];
  int n = snprintf(path, sizeof path, "%s/cpu.%ld.raw", g_dir, (long)getpid());
  if (n < 0 || (size_t)n >= sizeof path) return;
  unsigned hz = (unsigned)env_num("GSP_PROF_HZ", 1, 10000, 99, NULL);
  gsp_prof_config cfg = {.types = GSP_PROF_CPU, .hz = hz, .raw_path = path};
  gsp_prof *p;
  if (gsp_prof_create(&cfg, &p) != GSP_OK) return;
  if (gsp_prof_start(p) != GSP_OK) {
    gsp_prof_destroy(p);
    return;
  }
  g_prof = p;
}

/* ---- exit statuses of reaped children ------------------------------------ */

typedef pid_t (*wait4_fn)(pid_t, int *, int, struct rusage *);
typedef int (*waitid_fn)(idtype_t, id_t, siginfo_t *, int);
static wait4_fn g_wait4;
static waitid_fn g_waitid;

/* Appends the decimal v to buf at *n (cap bytes). */
static void put_num(char *buf, size_t *n, size_t cap, long v) {
  char d[24];
  size_t k = 0;
  if (v < 0) {
    if (*n < cap) buf[(*n)++] = '-';
    v = -v;
  }
  do {
    d[k++] = (char)('0' + v % 10);
    v /= 10;
  } while (v && k < sizeof d);
  while (k && *n < cap) buf[(*n)++] = d[--k];
}

static void put_str(char *buf, size_t *n, size_t cap, const char *s) {
  while (*s && *n < cap) buf[(*n)++] = *s++;
}

/* Writes exit.<pid>; what is "exit" or "signal". Async-signal-safe. */
static void save_exit(long pid, const char *what, int num, bool core) {
  if (!g_dir || pid <= 0) return;
  char path[PATH_MAX], line[48];
  size_t n = 0, k = 0;
  put_str(path, &n, sizeof path - 1, g_dir);
  put_str(path, &n, sizeof path - 1, "/exit.");
  put_num(path, &n, sizeof path - 1, pid);
  path[n] = '\0';
  put_str(line, &k, sizeof line, what);
  put_str(line, &k, sizeof line, " ");
  put_num(line, &k, sizeof line, num);
  put_str(line, &k, sizeof line, core ? " core\n" : "\n");
  int saved = errno;
  long fd = syscall(SYS_openat, AT_FDCWD, path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd >= 0) {
    syscall(SYS_write, (int)fd, line, k);
    syscall(SYS_close, (int)fd);
  }
  errno = saved;
}

static void save_status(pid_t pid, int st) {
  if (WIFEXITED(st)) save_exit(pid, "exit", WEXITSTATUS(st), false);
  if (WIFSIGNALED(st)) save_exit(pid, "signal", WTERMSIG(st), WCOREDUMP(st));
}

static pid_t real_wait4(pid_t pid, int *st, int opt, struct rusage *ru) {
  if (g_wait4) return g_wait4(pid, st, opt, ru);
  return (pid_t)syscall(SYS_wait4, pid, st, opt, ru); /* before the constructor */
}

#define EXPORT __attribute__((visibility("default")))

static pid_t wait4_saving(pid_t pid, int *st, int opt, struct rusage *ru) {
  int s = 0;
  pid_t r = real_wait4(pid, &s, opt, ru);
  if (r > 0) save_status(r, s);
  if (st) *st = s;
  return r;
}

EXPORT pid_t wait4(pid_t pid, int *st, int opt, struct rusage *ru) {
  return wait4_saving(pid, st, opt, ru);
}

pid_t gsp__preload_reap(pid_t pid, int *status) {
  pid_t r;
  do r = wait4_saving(pid, status, 0, NULL);
  while (r < 0 && errno == EINTR);
  return r;
}

EXPORT pid_t wait3(int *st, int opt, struct rusage *ru) { return wait4(-1, st, opt, ru); }
EXPORT pid_t waitpid(pid_t pid, int *st, int opt) { return wait4(pid, st, opt, NULL); }
EXPORT pid_t wait(int *st) { return wait4(-1, st, 0, NULL); }

EXPORT int waitid(idtype_t type, id_t id, siginfo_t *info, int opt) {
  int r = g_waitid ? g_waitid(type, id, info, opt)
                   : (int)syscall(SYS_waitid, type, id, info, opt, NULL);
  if (r != 0 || !info || (opt & WNOWAIT) || info->si_pid <= 0) return r;
  if (info->si_code == CLD_EXITED) save_exit(info->si_pid, "exit", info->si_status, false);
  if (info->si_code == CLD_KILLED || info->si_code == CLD_DUMPED)
    save_exit(info->si_pid, "signal", info->si_status, info->si_code == CLD_DUMPED);
  return r;
}

__attribute__((constructor)) static void gsp_preload_start(void) {
  *(void **)&g_wait4 = dlsym(RTLD_NEXT, "wait4");
  *(void **)&g_waitid = dlsym(RTLD_NEXT, "waitid");
  g_dir = getenv("GSP_PROF_DIR");
  if (!g_dir || !g_dir[0]) return;
  gsp_set_allocator(&(gsp_allocator){raw_malloc, raw_realloc, raw_free, NULL});
  uint64_t sample = env_num("GSP_PROF_HEAP", 0, 1ul << 40, 0, &g_heap);
  g_io = env_num("GSP_PROF_IO", 0, 1, 0, NULL) == 1;
  if (g_heap) {
    gsp__heap_start(sample);
    unsigned period = (unsigned)env_num("GSP_PROF_HEAP_SAVE_MS", 0, 3600000, 1000, NULL);
    guard(true);
    gsp__heap_autosave_start(g_dir, period);
    guard(false);
  }
  if (g_io) gsp__io_start();
  guard(true);
  if (env_num("GSP_PROF_CPU", 0, 1, 1, NULL)) start_cpu();
  if (g_prof) pthread_atfork(NULL, NULL, restart_in_child);
  guard(false);
}

__attribute__((destructor)) static void gsp_preload_stop(void) {
  gsp_prof *p = g_prof;
  g_prof = NULL;
  guard(true);
  gsp_prof_destroy(p);
  if (g_io) gsp__io_finish(g_dir);
  if (g_heap) gsp__heap_autosave_stop();
  guard(false);
  if (g_heap) gsp__heap_finish(g_dir);
}
