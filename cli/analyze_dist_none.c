/*
 * analyze_dist_none.c - `gsperf analyze --distributed` in a build without
 * Open MPI: there are no other ranks, so the run is local (one rank).
 * Data: the handle holds the rank count (1).
 */
#include <stdlib.h>

#include "analyze_dist.h"

struct analyze_dist {
  int size;
};

int analyze_dist_open(analyze_dist **out) {
  *out = gsp_calloc(1, sizeof **out);
  if (*out == NULL) return 1;
  (*out)->size = 1;
  return 0;
}
bool analyze_dist_is_worker(const analyze_dist *d) {
  (void)d;
  return false;
}
int analyze_dist_serve(analyze_dist *d) {
  (void)d;
  return 0;
}
void analyze_dist_apply(analyze_dist *d, gsp_cg_config *cfg) { (void)d, (void)cfg; }
int analyze_dist_size(const analyze_dist *d) { return d->size; }
void analyze_dist_close(analyze_dist *d) { gsp_free(d); }
