/*
 * prof.c - the profile handle: configuration, start/stop, the collector
 * thread, snapshots for reports.
 *
 * The collector thread (SIGPROF blocked in it, and no timer of its own,
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
 * stop() tells it to finish, joins it, drains the last samples and closes
 * the sampler. Reports (report.c) copy the stack table through
 * gsp__prof_snapshot, so this file does not reach the symbolizer: the
 * preload library, which never symbolizes, does not load libdw.
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
#include <link.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "prof_int.h"

#define COLLECT_MS 50
#define RAW_BUF ((size_t)256 * 1024)

struct gsp_prof {
  gsp_prof_config cfg;
  char *raw_path, *maps_path;
  int raw_fd;
  pthread_mutex_t mu;
  gsp__stacks stacks;
  pthread_t thread;
  _Atomic int stop;
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
  p->raw_fd = -1;
  pthread_mutex_init(&p->mu, NULL);
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

static void *collector(void *arg) {
  gsp_prof *p = arg;
  if (gsp__prof_thread_hook) gsp__prof_thread_hook();
  gsp__inproc_thread_init();
  pid_t self = (pid_t)syscall(SYS_gettid);
  while (!atomic_load(&p->stop)) {
    gsp__sampler_scan_threads(self);
    drain(p);
    if (p->raw_fd >= 0) maps_refresh(p, false);
    gsp__sampler_wait(COLLECT_MS);
  }
  return NULL;
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

static int start_collector(gsp_prof *p) {
  sigset_t all, old;
  sigemptyset(&all);
  sigaddset(&all, SIGPROF);
  pthread_sigmask(SIG_BLOCK, &all, &old);
  atomic_store(&p->stop, 0);
  int rc = pthread_create(&p->thread, NULL, collector, p);
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  if (rc != 0) {
    set_err(p, "cannot start the collector thread", strerror(rc));
    return GSP_ESYS;
  }
  return GSP_OK;
}

static int start_cpu(gsp_prof *p) {
  if (!(p->cfg.types & GSP_PROF_CPU)) {
    p->running = true;
    return GSP_OK;
  }
  if (p->raw_path && open_raw(p) != GSP_OK) return GSP_EIO;
  int rv = gsp__sampler_open(p->cfg.hz, p->cfg.max_depth, p->cfg.force_timers);
  if (rv == GSP_EBUSY) set_err(p, "another CPU profile runs in this process", NULL);
  if (rv == GSP_ESYS) set_err(p, "cannot install the SIGPROF handler", strerror(errno));
  if (rv == GSP_OK) {
    gsp__sampler_scan_threads(-1); /* every thread now, the caller included */
    rv = start_collector(p);
    if (rv != GSP_OK) gsp__sampler_close();
  }
  if (rv != GSP_OK && p->raw_fd >= 0) {
    close(p->raw_fd);
    p->raw_fd = -1;
  }
  if (rv == GSP_OK) p->running = true;
  if (rv == GSP_OK) active_set(p);
  return rv;
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
  atomic_store(&p->stop, 1);
  pthread_join(p->thread, NULL);
  gsp__sampler_close();
  drain(p);
  if (p->raw_fd >= 0) {
    maps_refresh(p, false);
    close(p->raw_fd);
    p->raw_fd = -1;
  }
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
