/*
 * expose_int.h - the buffered writer shared by the exposition formats
 * (expose.c: Prometheus and OpenMetrics text; expose_json.c: JSON).
 */
#ifndef GSPERF_EXPOSE_INT_H
#define GSPERF_EXPOSE_INT_H

#include "metrics_int.h"

typedef struct gsp__out {
  gsp_metrics_write_fn fn;
  void *user;
  int err; /* first sink error; once set, nothing more is written */
  size_t n;
  char buf[8192];
} gsp__out;

void gsp__out_flush(gsp__out *o);
void gsp__out_put(gsp__out *o, const char *s, size_t len);
void gsp__out_str(gsp__out *o, const char *s);
void gsp__out_u64(gsp__out *o, uint64_t v);
void gsp__out_double(gsp__out *o, double v);

/* expose_json.c; returns GSP_OK or GSP_ENOMEM (sink errors stay in o->err). */
int gsp__write_json_locked(gsp_metrics *m, gsp__out *o);

#endif /* GSPERF_EXPOSE_INT_H */
