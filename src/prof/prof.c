/*
 * prof.c - the profile handle: configuration, start/stop, the collector
 * thread, snapshots for reports.
 *
 * The collector thread (the sampling signal blocked in it, and no timer of its own,
 * so its work is not sampled) loops at least every COLLECT_MS (sooner
 * when gsp__sampler_wait is woken by a perf ring filling up or a thread
 * starting): it arms sources for new threads
 * (gsp__sampler_scan_threads), drains the sampler's samples into
 * the profile's stack table under p->mu, and with raw_path appends the
 * drained samples to the raw file (one write() per batch) and saves the
 * memory map again when objects were loaded or unloaded (the loader's
 * dlpi_adds/dlpi_subs counters changed: no /proc read when nothing did).
 * A thread is sampled from the first scan after it starts (<= COLLECT_MS,
 * at once on the perf-ring source).
 *
 * The collector has a file table of its own (unshare(CLONE_FILES), then
 * every inherited descriptor but stderr closed in it): the raw file, the
 * perf events and everything the scans open live there. So the profiler
 * never takes one of the program's descriptor numbers, not even for the
 * moment between a program's close(1) and its dup2(f, 1) (which would
 * then fail with EBUSY or replace our file, and our later close would
 * close the program's); it holds no copy of the program's pipes but
 * stderr (a reader still sees end-of-file when the program closes its
 * end); and a fork child inherits none of our descriptors. start() waits
 * until the collector has opened the raw file and the sampler and armed
 * every thread (the caller included), and returns its status. Where
 * unshare is refused (a seccomp filter), or under ThreadSanitizer (which
 * keeps one descriptor table per process), the collector shares the
 * program's table as before; it then opens nothing after start but the
 * events of threads the program creates and the memory map after a
 * dlopen. stop() tells it to finish and joins it; the collector closes
 * the sampler, drains the last samples and closes the raw file itself.
 * Reports (report.c) copy the stack table through gsp__prof_snapshot, so
 * this file does not reach the symbolizer: the preload library, which
 * never symbolizes, does not load libdw.
 *
 * MEMORY and IO profiles are started before the CPU profile and stopped
 * after it through inproc.c (GOT-patched hooks, process-wide); the
 * collector thread's own allocations and I/O are not tracked.
 *
 * p->mu guards the stack table (collector writes, report_create copies);
 * everything else is owned by the thread calling start/stop/destroy.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <link.h>
#include <stdlib.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "sampler_int.h"

#define COLLECT_MS 50
#define RAW_BUF ((size_t)256 * 1024)

struct gsp_prof {
  gsp_prof_config cfg;
  char *raw_path, *maps_path;
  int raw_fd;
  int times_fd, stat_fd, tstat_fd; /* raw_path.times, /proc/self/stat, the collector's */
  pthread_mutex_t mu;
  gsp__stacks stacks;
  pthread_t thread;
  pid_t owner; /* the process whose collector thread this is */
  _Atomic int stop;
  pthread_mutex_t start_mu; /* start_rv: the collector's start-up result */
  pthread_cond_t start_cv;
  int start_rv; /* 1 while the collector starts */
  bool running;
  uint64_t bad_unwind;
  unsigned long long maps_loads; /* dlpi_adds + dlpi_subs at the last save */
  char *rawbuf;
  size_t rawlen;
  gsp__sample scratch;
  char errmsg[256];
};

static void set_err(gsp_prof *p, const char *what, const char *detail) {
  snprintf(p->errmsg, sizeof p->errmsg, "%s%s%s", what, detail ? ": " : "", detail ? detail : "");
}

/* ---- the running CPU profile, for readers in this process ------------------
 * g_active is the CPU profile started first among those running (one at
 * a time can sample). It is set at the end of a successful start and
 * cleared at the start of stop, both under g_active_mu, which
 * gsp_prof_with_active holds while its callback runs: so a profile is
 * never stopped or destroyed under a reader. */
static pthread_mutex_t g_active_mu = PTHREAD_MUTEX_INITIALIZER;
static gsp_prof *g_active;

static void active_set(gsp_prof *p) {
  if (!(p->cfg.types & GSP_PROF_CPU)) return;
  pthread_mutex_lock(&g_active_mu);
  if (g_active == NULL) g_active = p;
  pthread_mutex_unlock(&g_active_mu);
}

static void active_clear(gsp_prof *p) {
  pthread_mutex_lock(&g_active_mu);
  if (g_active == p) g_active = NULL;
  pthread_mutex_unlock(&g_active_mu);
}

int gsp_prof_with_active(int (*fn)(gsp_prof *p, void *user), void *user) {
  if (!fn) return GSP_EINVAL;
  pthread_mutex_lock(&g_active_mu);
  int rv = g_active ? fn(g_active, user) : GSP_ENOENT;
  pthread_mutex_unlock(&g_active_mu);
  return rv;
}

int gsp_prof_create(const gsp_prof_config *cfg, gsp_prof **out) {
  if (!out) return GSP_EINVAL;
  gsp_prof_config c = cfg ? *cfg : (gsp_prof_config){0};
  if (c.types == 0) c.types = GSP_PROF_CPU | GSP_PROF_FUNCTION;
  if (c.hz == 0) c.hz = 99;
  if (c.max_depth == 0) c.max_depth = 64;
  if (c.bottleneck_pct <= 0) c.bottleneck_pct = 5.0;
  if (c.hz > 10000 || c.max_depth > GSP__PROF_MAX_DEPTH) return GSP_EINVAL;
  if (c.io_sample > GSP_PROF_IO_SAMPLE_MAX) return GSP_EINVAL;
  gsp_prof *p = gsp_calloc(1, sizeof *p);
  if (!p) return GSP_ENOMEM;
  p->cfg = c;
  p->raw_fd = p->times_fd = p->stat_fd = p->tstat_fd = -1;
  pthread_mutex_init(&p->mu, NULL);
  pthread_mutex_init(&p->start_mu, NULL);
  pthread_cond_init(&p->start_cv, NULL);
  gsp__stacks_init(&p->stacks);
  if (c.raw_path) {
    size_t n = strlen(c.raw_path);
    p->raw_path = gsp_strdup(c.raw_path);
    p->maps_path = gsp_malloc(n + 6);
    p->rawbuf = gsp_malloc(RAW_BUF);
    if (!p->raw_path || !p->maps_path || !p->rawbuf) {
      gsp_prof_destroy(p);
      return GSP_ENOMEM;
    }
    snprintf(p->maps_path, n + 6, "%s.maps", c.raw_path);
    p->cfg.raw_path = p->raw_path;
  }
  *out = p;
  return GSP_OK;
}

void gsp_prof_destroy(gsp_prof *p) {
  if (!p) return;
  if (p->running) gsp_prof_stop(p);
  gsp__inproc_forget(p);
  gsp__stacks_free(&p->stacks);
  pthread_mutex_destroy(&p->mu);
  pthread_mutex_destroy(&p->start_mu);
  pthread_cond_destroy(&p->start_cv);
  gsp_free(p->raw_path);
  gsp_free(p->maps_path);
  gsp_free(p->rawbuf);
  gsp_free(p);
}

const char *gsp_prof_errmsg(const gsp_prof *p) { return p ? p->errmsg : ""; }

static void raw_flush(gsp_prof *p) {
  size_t off = 0;
  while (off < p->rawlen) {
    ssize_t w = write(p->raw_fd, p->rawbuf + off, p->rawlen - off);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) break; /* disk full: later samples still aggregate in memory */
    off += (size_t)w;
  }
  p->rawlen = 0;
}

static int count_loads(struct dl_phdr_info *info, size_t size, void *arg) {
  (void)size;
  *(unsigned long long *)arg = info->dlpi_adds + info->dlpi_subs;
  return 1; /* the counters are the same in every entry: one is enough */
}

/* Saves the memory map again when objects were loaded or unloaded since. */
static void maps_refresh(gsp_prof *p, bool force) {
  unsigned long long loads = 0;
  dl_iterate_phdr(count_loads, &loads);
  if (!force && loads == p->maps_loads) return;
  if (gsp__maps_save(p->maps_path) == GSP_OK) p->maps_loads = loads;
}

static void drain(gsp_prof *p) {
  gsp__sample *s = &p->scratch;
  pthread_mutex_lock(&p->mu);
  while (gsp__sampler_pop(s)) {
    if (s->flags & GSP__SAMPLE_BAD_UNWIND) p->bad_unwind++;
    gsp__stacks_add(&p->stacks, s->pcs, s->depth, s->weight);
    if (p->raw_fd < 0) continue;
    if (!gsp__raw_encode(p->rawbuf, RAW_BUF, &p->rawlen, s)) {
      raw_flush(p);
      gsp__raw_encode(p->rawbuf, RAW_BUF, &p->rawlen, s);
    }
  }
  pthread_mutex_unlock(&p->mu);
  if (p->raw_fd >= 0) raw_flush(p);
}

/* Defined by the preload library's heap hooks, absent elsewhere. */
extern void gsp__prof_thread_hook(void) __attribute__((weak));

/* Gives the calling thread a file table of its own: stdin and stdout on
 * /dev/null (a stray write lands nowhere, not in our files), stderr kept
 * (a sanitizer's report from this thread still reaches the user), none
 * of the program's other descriptors. */
/* ThreadSanitizer keeps one table of descriptors per process: it would
 * take the same number in the two tables for one file used by two threads
 * without synchronization. Under it the collector shares the program's
 * table, as where unshare is refused. */
#if defined(__SANITIZE_THREAD__)
static const bool k_own_files = false;
#else
static const bool k_own_files = true;
#endif

static void own_file_table(void) {
  if (!k_own_files || unshare(CLONE_FILES) != 0) return; /* share the program's, as threads do */
  if (close_range(3, ~0u, 0) != 0) {
    long max = sysconf(_SC_OPEN_MAX);
    for (long fd = 3; fd < (max > 0 && max < 65536 ? max : 65536); fd++) close((int)fd);
  }
  for (int fd = 0; fd < 2; fd++) {
    int null = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (null >= 0 && null != fd) {
      dup3(null, fd, O_CLOEXEC);
      close(null);
    }
  }
}

static int open_raw(gsp_prof *p) {
  p->raw_fd = open(p->raw_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (p->raw_fd < 0 || gsp__raw_write_header(p->raw_fd, p->cfg.hz) != GSP_OK) {
    set_err(p, "cannot write raw file", p->raw_path);
    if (p->raw_fd >= 0) close(p->raw_fd);
    p->raw_fd = -1;
    return GSP_EIO;
  }
  maps_refresh(p, true);
  return GSP_OK;
}

static void close_raw(gsp_prof *p) {
  if (p->raw_fd < 0) return;
  close(p->raw_fd);
  p->raw_fd = -1;
}

/* ---- user and kernel CPU time, next to the raw file ---------------------------
 * The perf sources sample user time only. So that a report can say how
 * much of a process's CPU time went to the kernel, the collector writes
 * raw_path".times" every TIMES_EVERY loops (200 ms) and at the end: one line
 * "gsperf-times 1 TICKS UTIME STIME PUTIME PSTIME", the process's user
 * and system time (all its threads, those ended included; in clock
 * ticks, TICKS per second, as /proc/self/stat counts them) and the
 * collector's own share of them (PUTIME PSTIME: the profiler's work,
 * which a report leaves out). */
#define TIMES_EVERY 4

static bool stat_times(int fd, unsigned long long *ut, unsigned long long *st) {
  char buf[1024];
  ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
  if (n <= 0) return false;
  buf[n] = '\0';
  const char *at = strrchr(buf, ')');
  if (!at) return false;
  /* after the command: state (field 3) ... utime (14), stime (15) */
  const char *q = at + 1;
  for (int field = 3; field < 14 && q; field++) q = strchr(q + 1, ' ');
  if (!q) return false;
  char *end;
  *ut = strtoull(q, &end, 10);
  if (end == q) return false;
  q = end;
  *st = strtoull(q, &end, 10);
  return end != q;
}

static void times_open(gsp_prof *p) {
  char path[PATH_MAX];
  if (snprintf(path, sizeof path, "%s.times", p->raw_path) >= (int)sizeof path) return;
  p->times_fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  p->stat_fd = open("/proc/self/stat", O_RDONLY | O_CLOEXEC);
  p->tstat_fd = open("/proc/thread-self/stat", O_RDONLY | O_CLOEXEC);
}

static void times_save(gsp_prof *p) {
  unsigned long long ut, st, put = 0, pst = 0;
  if (p->times_fd < 0 || p->stat_fd < 0 || !stat_times(p->stat_fd, &ut, &st)) return;
  if (p->tstat_fd >= 0) stat_times(p->tstat_fd, &put, &pst);
  char line[160];
  int n = snprintf(line, sizeof line, "gsperf-times 1 %ld %llu %llu %llu %llu\n",
                   sysconf(_SC_CLK_TCK), ut, st, put, pst);
  if (n > 0 && pwrite(p->times_fd, line, (size_t)n, 0) == n) ftruncate(p->times_fd, n);
}

static void times_close(gsp_prof *p) {
  int *fds[] = {&p->times_fd, &p->stat_fd, &p->tstat_fd};
  for (size_t i = 0; i < 3; i++) {
    if (*fds[i] >= 0) close(*fds[i]);
    *fds[i] = -1;
  }
}

/* The collector's start-up: raw file, sampler, every thread but its own. */
static int collector_begin(gsp_prof *p, pid_t self) {
  own_file_table();
  if (p->raw_path && open_raw(p) != GSP_OK) return GSP_EIO;
  int rv = gsp__sampler_open(p->cfg.hz, p->cfg.max_depth, p->cfg.force_timers);
  if (rv == GSP_EBUSY) set_err(p, "another CPU profile runs in this process", NULL);
  if (rv == GSP_ESYS) set_err(p, "cannot start CPU sampling", strerror(errno));
  if (rv != GSP_OK) {
    close_raw(p);
    return rv;
  }
  gsp__sampler_scan_threads(self);
  return GSP_OK;
}

static void collector_started(gsp_prof *p, int rv) {
  pthread_mutex_lock(&p->start_mu);
  p->start_rv = rv;
  pthread_cond_signal(&p->start_cv);
  pthread_mutex_unlock(&p->start_mu);
}

static void *collector(void *arg) {
  gsp_prof *p = arg;
  if (gsp__prof_thread_hook) gsp__prof_thread_hook();
  gsp__inproc_thread_init();
  pid_t self = (pid_t)syscall(SYS_gettid);
  int rv = collector_begin(p, self);
  collector_started(p, rv);
  if (rv != GSP_OK) return NULL;
  if (p->raw_fd >= 0) times_open(p);
  for (unsigned loop = 0; !atomic_load(&p->stop); loop++) {
    gsp__sampler_scan_threads(self);
    drain(p);
    if (p->raw_fd >= 0) maps_refresh(p, false);
    if (loop % TIMES_EVERY == 0) times_save(p);
    gsp__sampler_wait(COLLECT_MS);
  }
  gsp__sampler_close();
  drain(p);
  if (p->raw_fd >= 0) maps_refresh(p, false);
  close_raw(p);
  times_save(p);
  times_close(p);
  return NULL;
}

/* Starts the collector and waits for its start-up (the sampling signal and
 * SIGPROF are blocked in it: its work is not sampled). */
static int start_collector(gsp_prof *p) {
  sigset_t all, old;
  sigemptyset(&all);
  sigaddset(&all, SIGPROF);
  sigaddset(&all, gsp_prof_sample_signal());
  pthread_sigmask(SIG_BLOCK, &all, &old);
  atomic_store(&p->stop, 0);
  p->start_rv = 1;
  int rc = pthread_create(&p->thread, NULL, collector, p);
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  if (rc != 0) {
    set_err(p, "cannot start the collector thread", strerror(rc));
    return GSP_ESYS;
  }
  pthread_mutex_lock(&p->start_mu);
  while (p->start_rv == 1) pthread_cond_wait(&p->start_cv, &p->start_mu);
  int rv = p->start_rv;
  pthread_mutex_unlock(&p->start_mu);
  if (rv != GSP_OK) pthread_join(p->thread, NULL);
  return rv;
}

/* ---- fork children of an in-process profile ---------------------------------
 * A child that does not exec has no collector (threads are not copied)
 * and cannot hand samples to the parent's in-memory profile. If the
 * parent's CPU profile has a place on disk, the child starts a profile of
 * its own writing DIR/cpu.<child pid>.raw, DIR being $GSP_PROF_FORK_DIR
 * or else the directory of the parent's raw_path (gsp_prof_multi_load
 * reads the lot); with neither, the child is not sampled. The child's
 * profile is stopped at exit() (atexit); a child that ends otherwise
 * keeps what was drained (every COLLECT_MS). In the child, the parent's
 * handle stays usable: it reports the samples copied at the fork, and
 * stop does not wait for the parent's collector. The preload library
 * (which defines gsp__prof_thread_hook) restarts its own profile in its
 * children instead. */
static pthread_once_t g_fork_once = PTHREAD_ONCE_INIT;
static gsp_prof *g_child_prof; /* the profile a fork child started */

static void child_prof_stop(void) {
  gsp_prof *p = g_child_prof;
  g_child_prof = NULL;
  gsp_prof_destroy(p);
}

static bool child_raw_path(const gsp_prof *parent, char *out, size_t cap) {
  const char *env = getenv("GSP_PROF_FORK_DIR");
  char dir[PATH_MAX];
  if (env && env[0]) {
    snprintf(dir, sizeof dir, "%s", env);
  } else if (parent->raw_path) {
    snprintf(dir, sizeof dir, "%s", parent->raw_path);
    char *slash = strrchr(dir, '/');
    if (slash) *slash = '\0';
    if (!slash) snprintf(dir, sizeof dir, ".");
  } else {
    return false;
  }
  int n = snprintf(out, cap, "%s/cpu.%ld.raw", dir, (long)getpid());
  return n > 0 && (size_t)n < cap;
}

static void fork_child(void) {
  gsp_prof *parent = g_active;
  pthread_mutex_init(&g_active_mu, NULL); /* its holder may have been another thread */
  g_active = NULL;
  g_child_prof = NULL; /* the parent's (when it is a fork child itself): left alone */
  if (!parent) return;
  pthread_mutex_init(&parent->mu, NULL);
  gsp__sampler_forget_after_fork();
  char path[PATH_MAX];
  if (!child_raw_path(parent, path, sizeof path)) return;
  gsp_prof_config c = parent->cfg;
  c.types = GSP_PROF_CPU;
  c.raw_path = path;
  gsp_prof *p;
  if (gsp_prof_create(&c, &p) != GSP_OK) return;
  if (gsp_prof_start(p) != GSP_OK) {
    gsp_prof_destroy(p);
    return;
  }
  static bool atexit_set;
  if (!atexit_set) atexit_set = atexit(child_prof_stop) == 0;
  g_child_prof = p;
}

static void fork_register(void) {
  if (!gsp__prof_thread_hook) pthread_atfork(NULL, NULL, fork_child);
}

static int start_cpu(gsp_prof *p) {
  if (!(p->cfg.types & GSP_PROF_CPU)) {
    p->running = true;
    return GSP_OK;
  }
  int rv = gsp__sampler_prepare();
  if (rv != GSP_OK) set_err(p, "cannot install the sampling signal handler", strerror(errno));
  if (rv == GSP_OK) rv = start_collector(p);
  if (rv != GSP_OK) return rv;
  p->owner = getpid();
  p->running = true;
  active_set(p);
  pthread_once(&g_fork_once, fork_register);
  return GSP_OK;
}

/* MEMORY and IO (inproc.c) around the CPU profile. */
int gsp_prof_start(gsp_prof *p) {
  if (!p) return GSP_EINVAL;
  if (p->running) return GSP_ESTATE;
  p->errmsg[0] = '\0';
  int rv = gsp__inproc_start(p, p->cfg.types, p->cfg.heap_sample_bytes, p->cfg.io_sample);
  if (rv == GSP_EBUSY) set_err(p, "another MEMORY or IO profile runs in this process", NULL);
  if (rv != GSP_OK) return rv;
  rv = start_cpu(p);
  if (rv != GSP_OK) gsp__inproc_stop(p, p->cfg.types);
  return rv;
}

static int stop_cpu(gsp_prof *p) {
  if (!(p->cfg.types & GSP_PROF_CPU)) return GSP_OK;
  if (p->owner != getpid()) return GSP_OK; /* a fork child: the collector is the parent's */
  atomic_store(&p->stop, 1);
  pthread_join(p->thread, NULL);
  return GSP_OK;
}

int gsp_prof_stop(gsp_prof *p) {
  if (!p) return GSP_EINVAL;
  if (!p->running) return GSP_ESTATE;
  active_clear(p);
  p->running = false;
  int rv = stop_cpu(p);
  gsp__inproc_stop(p, p->cfg.types);
  return rv;
}

void gsp_prof_stats_get(const gsp_prof *p, gsp_prof_stats *out) {
  memset(out, 0, sizeof *out);
  if (!p) return;
  pthread_mutex_lock((pthread_mutex_t *)&p->mu);
  out->samples = p->stacks.total;
  out->bad_unwind = p->bad_unwind;
  pthread_mutex_unlock((pthread_mutex_t *)&p->mu);
  out->threads_unscanned = gsp__inproc_unscanned(p);
  out->dropped = gsp__sampler_dropped();
  out->threads = gsp__sampler_threads();
}

int gsp__prof_snapshot(gsp_prof *p, gsp_prof_report *r) {
  r->hz = p->cfg.hz;
  r->bottleneck_pct = p->cfg.bottleneck_pct;
  pthread_mutex_lock(&p->mu);
  int rv = gsp__stacks_copy(&r->stacks, &p->stacks);
  pthread_mutex_unlock(&p->mu);
  return rv;
}
