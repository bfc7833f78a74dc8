/*
 * collect.c - the collector thread and one collection.
 *
 * The thread takes a sample at once, then sleeps on a condition variable
 * (CLOCK_MONOTONIC deadline, one interval after the previous sample began)
 * until the deadline or gsp_monitor_stop(), which sets `stop` and signals:
 * so stop returns within one sample's time, and the thread never spins. A
 * spurious wake-up just waits again for the same deadline.
 *
 * A collection (gsp_monitor_collect_now, also run by the thread) holds
 * eval_lock throughout: it reads the files (procfs.c) with no other lock
 * held, then takes mon->lock to append the series, store the sample and
 * the error text, then sets the gauges (the registry has its own
 * synchronization; a field absent from this sample leaves its gauge unset,
 * so it is not exposed rather than exposed as 0), runs the sources
 * (sources.c) with eval_lock still held and mon->lock free, and evaluates
 * the rules (alert.c), which delivers
 * callbacks with mon->lock released.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "monitor_int.h"

static const char *const k_field_names[GSP_MON_NFIELDS] = {
    "gsp_process_cpu_percent",
    "gsp_process_resident_bytes",
    "gsp_process_heap_bytes",
    "gsp_process_threads",
    "gsp_process_open_fds",
    "gsp_process_io_read_bytes",
    "gsp_process_io_write_bytes",
    "gsp_process_voluntary_context_switches",
    "gsp_process_involuntary_context_switches",
    "gsp_machine_cpu_percent",
    "gsp_machine_memory_total_bytes",
    "gsp_machine_memory_available_bytes",
    "gsp_machine_load1",
    "gsp_machine_load5",
    "gsp_machine_load15",
    "gsp_cgroup_memory_limit_bytes",
    "gsp_cgroup_memory_usage_bytes",
    "gsp_cgroup_cpu_quota_cores",
};

const char *gsp_monitor_field_name(gsp_monitor_field f) {
  return (unsigned)f < GSP_MON_NFIELDS ? k_field_names[f] : NULL;
}

static int store_sample_locked(gsp_monitor *mon, const gsp_monitor_sample *s, bool ok,
                               const char *err) {
  int rv = GSP_OK;
  for (int f = 0; f < GSP_MON_NFIELDS; f++) {
    if (!(s->present & (1u << f))) continue;
    int r = gsp__record_locked(mon, k_field_names[f], NULL, s->v[f], s->t_ns);
    if (r != GSP_OK && rv == GSP_OK) rv = r;
  }
  mon->last = *s;
  snprintf(mon->collect_err, sizeof mon->collect_err, "%s", ok ? "" : err);
  if (!ok) mon->collect_errors++;
  return rv;
}

static int collect_locked_eval(gsp_monitor *mon, gsp_monitor_sample *out) {
  char err[GSP__MON_ERR_LEN];
  gsp_monitor_sample s = {.t_ns = gsp__mon_now(mon)};
  bool ok = gsp__procfs_sample(mon->proc_root, mon->cgroup_root, &mon->prev, &s, err, sizeof err);
  pthread_mutex_lock(&mon->lock);
  int rv = store_sample_locked(mon, &s, ok, err);
  pthread_mutex_unlock(&mon->lock);
  for (int f = 0; f < GSP_MON_NFIELDS; f++) {
    if (!mon->gauges[f]) continue;
    if (s.present & (1u << f))
      gsp_gauge_set(mon->gauges[f], s.v[f]);
    else
      gsp_gauge_unset(mon->gauges[f]); /* absent (no limit, unreadable): no sample */
  }
  int src = gsp__run_sources_eval_locked(mon, s.t_ns);
  if (rv == GSP_OK) rv = src;
  int ev = gsp__evaluate(mon, s.t_ns);
  if (out) *out = s;
  if (rv == GSP_OK) rv = ev;
  return rv != GSP_OK ? rv : ok ? GSP_OK : GSP_EFORMAT;
}

int gsp_monitor_collect_now(gsp_monitor *mon, gsp_monitor_sample *out) {
  if (mon == NULL) return GSP_EINVAL;
  pthread_mutex_lock(&mon->eval_lock);
  int rv = collect_locked_eval(mon, out);
  pthread_mutex_unlock(&mon->eval_lock);
  return rv;
}

void gsp_monitor_last_sample(gsp_monitor *mon, gsp_monitor_sample *out) {
  if (mon == NULL || out == NULL) return;
  pthread_mutex_lock(&mon->lock);
  *out = mon->last;
  pthread_mutex_unlock(&mon->lock);
}

uint64_t gsp_monitor_collect_error(gsp_monitor *mon, char *buf, size_t len) {
  if (mon == NULL) return 0;
  pthread_mutex_lock(&mon->lock);
  if (buf && len) snprintf(buf, len, "%s", mon->collect_err);
  uint64_t n = mon->collect_errors;
  pthread_mutex_unlock(&mon->lock);
  return n;
}

/* ---- the thread ----------------------------------------------------------- */

static struct timespec deadline_after(const struct timespec *start, uint32_t ms) {
  struct timespec d = *start;
  d.tv_sec += ms / 1000;
  d.tv_nsec += (long)(ms % 1000) * 1000000L;
  if (d.tv_nsec >= 1000000000L) {
    d.tv_sec++;
    d.tv_nsec -= 1000000000L;
  }
  return d;
}

static void *collector_main(void *arg) {
  gsp_monitor *mon = arg;
  pthread_mutex_lock(&mon->thread_lock);
  while (!mon->stop) {
    struct timespec start;
    clock_gettime(CLOCK_MONOTONIC, &start);
    pthread_mutex_unlock(&mon->thread_lock);
    (void)gsp_monitor_collect_now(mon, NULL); /* errors are kept for collect_error */
    pthread_mutex_lock(&mon->thread_lock);
    struct timespec d = deadline_after(&start, mon->interval_ms);
    while (!mon->stop && pthread_cond_timedwait(&mon->wake, &mon->thread_lock, &d) != ETIMEDOUT) {
    }
  }
  pthread_mutex_unlock(&mon->thread_lock);
  return NULL;
}

int gsp_monitor_start(gsp_monitor *mon) {
  if (mon == NULL) return GSP_EINVAL;
  pthread_mutex_lock(&mon->ctl_lock);
  pthread_mutex_lock(&mon->thread_lock);
  int rv = GSP_OK;
  if (mon->running) {
    rv = GSP_ESTATE;
  } else {
    mon->stop = false;
    if (pthread_create(&mon->thread, NULL, collector_main, mon) != 0)
      rv = GSP_ESYS;
    else
      mon->running = true;
  }
  pthread_mutex_unlock(&mon->thread_lock);
  pthread_mutex_unlock(&mon->ctl_lock);
  return rv;
}

void gsp_monitor_stop(gsp_monitor *mon) {
  if (mon == NULL) return;
  pthread_mutex_lock(&mon->ctl_lock);
  pthread_mutex_lock(&mon->thread_lock);
  bool was = mon->running;
  mon->stop = true;
  mon->running = false;
  pthread_cond_broadcast(&mon->wake);
  pthread_mutex_unlock(&mon->thread_lock);
  if (was) pthread_join(mon->thread, NULL);
  pthread_mutex_unlock(&mon->ctl_lock);
}

bool gsp_monitor_running(gsp_monitor *mon) {
  if (mon == NULL) return false;
  pthread_mutex_lock(&mon->thread_lock);
  bool r = mon->running;
  pthread_mutex_unlock(&mon->thread_lock);
  return r;
}
