/*
 * metrics.c - export of per-backend statistics into a gsp_metrics registry.
 *
 * Data layout. Four families are got or created at balancer creation
 * (picks and failures counters, up and latency-EWMA gauges, labels
 * balancer and backend); each backend holds its four series, created when
 * it is added, and the counter values it has exported so far.
 *
 * The hot path never touches the registry: gsp_balance_metrics_update()
 * reads the statistics (the same sums over thread shards as
 * gsp_balance_stats_get) and adds the growth since the last update to the
 * counters, then sets the gauges.
 *
 * Invariants: m_picks_done and m_fail_done change only under metmu and
 * never exceed what the counters were given; a counter only grows (a
 * statistics read racing with a release may momentarily see a smaller
 * picks sum: nothing is added then).
 */
#include <string.h>

#include "gsperf/metrics.h"

#include "balance_int.h"

static const char *const k_labels[] = {"balancer", "backend"};

static int family(gsp_balancer *b, const char *name, const char *help, gsp_metric_type type,
                  gsp_metric_family **out) {
  gsp_metric_desc d = {
      .name = name, .help = help, .type = type, .label_names = k_labels, .nlabels = 2};
  int rv = gsp_metrics_family(b->cfg.metrics, &d, out);
  if (rv != GSP_OK)
    gsp__bal_err(b, "create: metrics family %s: %s", name, gsp_metrics_errmsg(b->cfg.metrics));
  return rv;
}

int gsp__bal_metrics_init(gsp_balancer *b) {
  if (b->cfg.metrics == NULL) return GSP_OK;
  b->mname = gsp_strdup(b->cfg.metrics_name != NULL ? b->cfg.metrics_name : "default");
  if (b->mname == NULL) return GSP_ENOMEM;
  b->cfg.metrics_name = b->mname;
  int rv = family(b, "gsperf_balance_picks_total", "Backends picked by the balancer.",
                  GSP_METRIC_COUNTER, &b->f_picks);
  if (rv == GSP_OK)
    rv = family(b, "gsperf_balance_failures_total", "Requests released as failed.",
                GSP_METRIC_COUNTER, &b->f_fail);
  if (rv == GSP_OK)
    rv = family(b, "gsperf_balance_up", "1 if the backend is up and enabled, else 0.",
                GSP_METRIC_GAUGE, &b->f_up);
  if (rv == GSP_OK)
    rv = family(b, "gsperf_balance_latency_ewma_seconds",
                "Exponentially weighted moving average of request latency.", GSP_METRIC_GAUGE,
                &b->f_ewma);
  return rv;
}

int gsp__bal_metrics_add_locked(gsp_balancer *b, gsp__bal_backend *k) {
  if (b->cfg.metrics == NULL) return GSP_OK;
  const char *vals[] = {b->mname, k->name};
  int rv = gsp_metrics_counter(b->f_picks, vals, &k->m_picks);
  if (rv == GSP_OK) rv = gsp_metrics_counter(b->f_fail, vals, &k->m_fail);
  if (rv == GSP_OK) rv = gsp_metrics_gauge(b->f_up, vals, &k->m_up);
  if (rv == GSP_OK) rv = gsp_metrics_gauge(b->f_ewma, vals, &k->m_ewma);
  if (rv != GSP_OK) {
    gsp__bal_err(b, "add: backend \"%s\": metrics series: %s", k->name,
                 gsp_metrics_errmsg(b->cfg.metrics));
    return rv;
  }
  /* a backend of the same name added again continues its series: what
   * this backend exported so far starts at 0 */
  k->m_picks_done = 0;
  k->m_fail_done = 0;
  gsp_gauge_set(k->m_up, 1);
  gsp_gauge_unset(k->m_ewma);
  return GSP_OK;
}

void gsp__bal_metrics_removed(gsp__bal_backend *k) {
  if (k->m_up != NULL) gsp_gauge_set(k->m_up, 0);
}

static void export_one(gsp__bal_backend *k) {
  gsp_balance_stats st;
  gsp__bal_stats_of(k, &st);
  if (st.picks > k->m_picks_done) {
    gsp_counter_add(k->m_picks, st.picks - k->m_picks_done);
    k->m_picks_done = st.picks;
  }
  if (st.failures > k->m_fail_done) {
    gsp_counter_add(k->m_fail, st.failures - k->m_fail_done);
    k->m_fail_done = st.failures;
  }
  gsp_gauge_set(k->m_up, st.state == GSP_BALANCE_UP && st.enabled && st.weight > 0 ? 1 : 0);
  if (st.ewma_latency_ns != 0) gsp_gauge_set(k->m_ewma, (double)st.ewma_latency_ns * 1e-9);
}

int gsp_balance_metrics_update(gsp_balancer *b) {
  if (b == NULL || b->cfg.metrics == NULL) return GSP_EINVAL;
  pthread_mutex_lock(&b->metmu);
  gsp__bal_rd_lock(b);
  for (uint32_t i = 0; i < b->nslots; i++) {
    if (b->slots[i] != NULL) export_one(b->slots[i]);
  }
  gsp__bal_rd_unlock(b);
  pthread_mutex_unlock(&b->metmu);
  return GSP_OK;
}
