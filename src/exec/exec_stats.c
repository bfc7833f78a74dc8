/*
 * exec_stats.c - the pool's statistics and their export into a metrics
 * registry.
 *
 * Always kept, at no shared cost: per worker, tasks run and tasks stolen
 * (plain per-thread counters in gsp__worker.st, read by summing the
 * slots), and pool-wide the workers live now, the peak, and how often the
 * scaler grew the pool and idle workers retired.
 *
 * When the caller passes a gsp_metrics registry, the pool also creates,
 * labelled pool="<name>":
 *   gsp_exec_tasks_total, gsp_exec_steals_total       counters
 *   gsp_exec_workers                                  gauge (workers over time)
 *   gsp_exec_workers_grown_total, _shrunk_total       counters
 *   gsp_exec_queue_wait_seconds                       histogram (queued -> started)
 *   gsp_exec_task_run_seconds                         histogram (started -> returned)
 * and stamps every task (`timing`), which costs two or three clock reads
 * per task (about 20 ns each here) and a histogram record (thread-sharded,
 * no lock-prefixed instruction).
 */
#include "exec_int.h"
#include "gsperf/metrics.h"

static int family(gsp_metrics *m, const char *name, const char *help, gsp_metric_type type,
                  gsp_metric_family **out) {
  static const char *const labels[] = {"pool"};
  gsp_metric_desc d = {
      .name = name, .help = help, .type = type, .label_names = labels, .nlabels = 1};
  return gsp_metrics_family(m, &d, out);
}

static int counter(gsp_metrics *m, const char *name, const char *help, const char *pool,
                   gsp_counter **out) {
  gsp_metric_family *f = NULL;
  int rv = family(m, name, help, GSP_METRIC_COUNTER, &f);
  return rv != GSP_OK ? rv : gsp_metrics_counter(f, &pool, out);
}

static int hist(gsp_metrics *m, const char *name, const char *help, const char *pool,
                gsp_hist **out) {
  gsp_metric_family *f = NULL;
  int rv = family(m, name, help, GSP_METRIC_HISTOGRAM, &f);
  return rv != GSP_OK ? rv : gsp_metrics_histogram(f, &pool, out);
}

int gsp__exec_metrics_init(gsp_exec *ex, const gsp_exec_config *cfg) {
  gsp_metrics *m = cfg->metrics;
  if (m == NULL) return GSP_OK;
  const char *pool = cfg->name != NULL ? cfg->name : "default";
  gsp__exec_metrics *x = &ex->m;
  gsp_metric_family *f = NULL;
  int rv = counter(m, "gsp_exec_tasks_total", "Tasks run by the pool's workers", pool, &x->tasks);
  if (rv == GSP_OK)
    rv = counter(m, "gsp_exec_steals_total", "Tasks taken from another worker's deque", pool,
                 &x->stolen);
  if (rv == GSP_OK)
    rv = counter(m, "gsp_exec_workers_grown_total", "Workers started by the scaler", pool,
                 &x->grown);
  if (rv == GSP_OK)
    rv = counter(m, "gsp_exec_workers_shrunk_total", "Idle workers retired", pool, &x->shrunk);
  if (rv == GSP_OK)
    rv = family(m, "gsp_exec_workers", "Worker threads running", GSP_METRIC_GAUGE, &f);
  if (rv == GSP_OK) rv = gsp_metrics_gauge(f, &pool, &x->workers);
  if (rv == GSP_OK)
    rv = hist(m, "gsp_exec_queue_wait_seconds", "Time from submission to start", pool, &x->wait);
  if (rv == GSP_OK) rv = hist(m, "gsp_exec_task_run_seconds", "Time a task ran", pool, &x->run);
  if (rv != GSP_OK) {
    *x = (gsp__exec_metrics){0};
    return rv;
  }
  ex->timing = true;
  return GSP_OK;
}

void gsp__exec_workers_changed(gsp_exec *ex) {
  if (ex->m.workers == NULL) return;
  gsp_gauge_set(ex->m.workers, (double)atomic_load(&ex->nlive));
}

void gsp__exec_record(gsp_exec *ex, uint64_t enq_ns, uint64_t start_ns, uint64_t end_ns) {
  gsp_hist_record(ex->m.wait, start_ns - enq_ns);
  gsp_hist_record(ex->m.run, end_ns - start_ns);
}

int gsp_exec_stats_get(gsp_exec *ex, gsp_exec_stats *out) {
  if (ex == NULL || out == NULL) return GSP_EINVAL;
  *out = (gsp_exec_stats){0};
  unsigned n = atomic_load(&ex->nslots);
  for (unsigned i = 0; i < n; i++) {
    out->tasks_run += atomic_load_explicit(&ex->w[i].st.run, memory_order_relaxed);
    out->tasks_stolen += atomic_load_explicit(&ex->w[i].st.stolen, memory_order_relaxed);
  }
  out->workers = atomic_load(&ex->nlive);
  out->peak_workers = atomic_load(&ex->peak);
  out->min_workers = ex->min_workers;
  out->max_workers = ex->max_workers;
  out->workers_grown = atomic_load(&ex->grown);
  out->workers_shrunk = atomic_load(&ex->shrunk);
  out->queued = atomic_load(&ex->inj.len) + atomic_load(&ex->latency.len);
  unsigned nout = atomic_load(&ex->nout); /* outside threads' slots: the shared queue's stand-in */
  for (unsigned i = 0; i < nout; i++) out->queued += gsp__deque_size(&ex->out[i].dq);
  return GSP_OK;
}
