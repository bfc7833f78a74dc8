/*
 * expose_json.c - the JSON snapshot of a registry.
 *
 * Shape (one object, families and series in creation order):
 *
 *   {"families":[
 *     {"name":"req_total","type":"counter","help":"...","series":[
 *        {"labels":{"method":"GET"},"value":12}]},
 *     {"name":"temp","type":"gauge","help":"","series":[{"labels":{},"value":21.5}]},
 *     {"name":"lat_seconds","type":"histogram","help":"","scale":1e-09,"series":[
 *        {"labels":{},"count":3,"sum":4200,"min":1000,"max":2200,"mean":1400,
 *         "p50":1000,"p90":2200,"p99":2200,"p999":2200,
 *         "buckets":[[1e-06,1],[2e-06,2],...,["+Inf",3]]}]}]}
 *
 * Histogram sum, min, max, mean and quantiles are in recorded units (for
 * example ns); multiply by "scale" for the exposed unit. Bucket bounds are
 * exposed units, counts cumulative. Strings escape " \ and control bytes.
 * Quantiles need the full fine buckets, so one snapshot (19 KiB) is
 * allocated per write: the only way JSON output can fail with GSP_ENOMEM.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "expose_int.h"

static void json_str(gsp__out *o, const char *s) {
  gsp__out_put(o, "\"", 1);
  const char *run = s;
  for (; *s; s++) {
    unsigned char c = (unsigned char)*s;
    if (c != '"' && c != '\\' && c >= 0x20) continue;
    gsp__out_put(o, run, (size_t)(s - run));
    char esc[8];
    if (c == '"' || c == '\\')
      snprintf(esc, sizeof esc, "\\%c", c);
    else if (c == '\n')
      snprintf(esc, sizeof esc, "\\n");
    else
      snprintf(esc, sizeof esc, "\\u%04x", c);
    gsp__out_str(o, esc);
    run = s + 1;
  }
  gsp__out_put(o, run, (size_t)(s - run));
  gsp__out_put(o, "\"", 1);
}

static void json_key_u64(gsp__out *o, const char *key, uint64_t v) {
  gsp__out_str(o, key);
  gsp__out_u64(o, v);
}

static void json_labels(gsp__out *o, const gsp_metric_family *f, const gsp__child *ch) {
  gsp__out_str(o, "{\"labels\":{");
  for (size_t i = 0; i < f->nlabels; i++) {
    if (i) gsp__out_put(o, ",", 1);
    json_str(o, f->label_names[i]);
    gsp__out_put(o, ":", 1);
    json_str(o, ch->values[i]);
  }
  gsp__out_str(o, "}");
}

static void json_hist(gsp__out *o, const gsp_metric_family *f, const gsp__child *ch,
                      gsp_hist_snap *s) {
  gsp_hist_summary sum;
  gsp__hist_snap_of_locked(ch, s);
  gsp_hist_snap_summary(s, &sum);
  json_key_u64(o, ",\"count\":", sum.count);
  json_key_u64(o, ",\"sum\":", sum.sum);
  json_key_u64(o, ",\"min\":", sum.min);
  json_key_u64(o, ",\"max\":", sum.max);
  gsp__out_str(o, ",\"mean\":");
  gsp__out_double(o, sum.mean);
  json_key_u64(o, ",\"p50\":", sum.p50);
  json_key_u64(o, ",\"p90\":", sum.p90);
  json_key_u64(o, ",\"p99\":", sum.p99);
  json_key_u64(o, ",\"p999\":", sum.p999);
  gsp__out_str(o, ",\"buckets\":[");
  for (unsigned i = 0; i < GSP_HIST_LE_COUNT; i++) {
    gsp__out_str(o, i ? ",[" : "[");
    gsp__out_str(o, f->le_text[i]);
    json_key_u64(o, ",", gsp_hist_snap_le_count(s, i));
    gsp__out_str(o, "]");
  }
  json_key_u64(o, ",[\"+Inf\",", sum.count);
  gsp__out_str(o, "]]");
}

static const char *const g_type_text[] = {"counter", "gauge", "histogram"};

static void json_family(gsp__out *o, const gsp_metric_family *f, gsp_hist_snap *s) {
  gsp__out_str(o, "{\"name\":");
  json_str(o, f->name);
  gsp__out_str(o, ",\"type\":\"");
  gsp__out_str(o, g_type_text[f->type]);
  gsp__out_str(o, "\",\"help\":");
  json_str(o, f->help);
  if (f->type == GSP_METRIC_HISTOGRAM) {
    gsp__out_str(o, ",\"scale\":");
    gsp__out_double(o, f->scale);
  }
  gsp__out_str(o, ",\"series\":[");
  bool first = true;
  for (size_t i = 0; i < f->nchildren && o->err == 0; i++) {
    const gsp__child *ch = f->children[i];
    if (f->type == GSP_METRIC_GAUGE && !gsp_gauge_is_set((gsp_gauge *)ch)) continue;
    if (!first) gsp__out_put(o, ",", 1);
    first = false;
    json_labels(o, f, ch);
    if (f->type == GSP_METRIC_COUNTER) {
      json_key_u64(o, ",\"value\":", gsp__sum_cell_locked(ch, 0));
    } else if (f->type == GSP_METRIC_GAUGE) {
      double v = gsp_gauge_value((gsp_gauge *)ch);
      gsp__out_str(o, ",\"value\":"); /* JSON has no NaN or Inf: null */
      if (isfinite(v))
        gsp__out_double(o, v);
      else
        gsp__out_str(o, "null");
    } else {
      json_hist(o, f, ch, s);
    }
    gsp__out_str(o, "}");
  }
  gsp__out_str(o, "]}");
}

int gsp__write_json_locked(gsp_metrics *m, gsp__out *o) {
  gsp_hist_snap *s = NULL;
  for (size_t i = 0; i < m->nfams && s == NULL; i++)
    if (m->fams[i]->type == GSP_METRIC_HISTOGRAM && m->fams[i]->nchildren > 0 &&
        gsp_hist_snap_create(&s) != GSP_OK)
      return GSP_ENOMEM;
  gsp__out_str(o, "{\"families\":[");
  for (size_t i = 0; i < m->nfams && o->err == 0; i++) {
    if (i) gsp__out_put(o, ",", 1);
    json_family(o, m->fams[i], s);
  }
  gsp__out_str(o, "]}\n");
  gsp_hist_snap_destroy(s);
  return GSP_OK;
}
