/*
 * distributed.c - the seed's @distributed and distributed_execution: a
 * wrapped function served to the distributed task farm (dist.h).
 *
 * gsp_opt_dist_call has the signature of a gsp_dist_fn, so a host
 * registers it with gsp_dist_register(d, name, gsp_opt_dist_call, f) on
 * every rank, each rank with its own engine and its own f of that name;
 * gsp_dist_map (distributed_execution) then spreads the inputs over the
 * ranks, and every task is an ordinary call of f through its rank's
 * engine: cache, strategy and monitoring. The core library knows nothing
 * of MPI: this file only matches the function type (the dist library,
 * libgsperf_dist, is linked by the host).
 *
 * Data: the call's result is copied into a gsp_malloc'd block that the
 * farm takes (a cached result stays pinned in the cache only for the
 * copy). No state of its own.
 */
#include <string.h>

#include "opt_int.h"

int gsp_opt_dist_call(void *user, const void *in, size_t in_len, void **out, size_t *out_len) {
  gsp_opt_func *f = user;
  if (f == NULL || out == NULL || out_len == NULL) return GSP_EINVAL;
  *out = NULL;
  *out_len = 0;
  gsp_opt_result r;
  int rv = gsp_opt_call(f, in, in_len, &r);
  if (rv == GSP_OK && r.len != 0) {
    void *copy = gsp_malloc(r.len);
    if (copy != NULL) {
      memcpy(copy, r.data, r.len);
      *out = copy;
      *out_len = r.len;
    } else {
      rv = GSP_ENOMEM;
    }
  }
  gsp_opt_result_release(&r);
  return rv;
}
