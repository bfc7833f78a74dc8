/*
 * optimize.c - the seed's general-purpose decorator in C:
 *
 *   @optimize(strategy=OptimizationStrategy.CPU_OPTIMIZED, cache_key="my_function")
 *   def my_function(data): ...
 *
 * my_function is registered with the engine under a name, with the CPU
 * strategy and a cache of its own ("my_function"); calls go through the
 * engine, which caches results by argument and spreads batches over the
 * CPU pool.
 */
#include <stdio.h>
#include <string.h>

#include "gsperf/optimize.h"

/* The work: a checksum of the data, iterated to cost some CPU. */
static int my_function(void *user, const void *data, size_t n, void **out, size_t *outlen) {
  (void)user;
  uint64_t h = 1469598103934665603u;
  for (int round = 0; round < 2000; round++)
    for (size_t i = 0; i < n; i++) h = (h ^ ((const unsigned char *)data)[i]) * 1099511628211u;
  uint64_t *r = gsp_malloc(sizeof *r);
  if (r == NULL) return GSP_ENOMEM;
  *r = h;
  *out = r;
  *outlen = sizeof *r;
  return GSP_OK;
}

int main(void) {
  gsp_opt_engine *engine = NULL;
  gsp_opt_func *fn = NULL;
  if (gsp_opt_engine_create(NULL, &engine) != GSP_OK) return 1;
  gsp_opt_func_opts opts = {.strategy = GSP_OPT_CPU, .cache = "my_function"};
  if (gsp_opt_register(engine, "my_function", my_function, NULL, &opts, &fn) != GSP_OK) {
    fprintf(stderr, "register: %s\n", gsp_opt_errmsg(engine));
    return 1;
  }
  gsp_opt_result r;
  for (int i = 0; i < 3; i++) { /* computed once, then served from the cache */
    if (gsp_opt_call(fn, "some data", 9, &r) != GSP_OK) return 1;
    printf("my_function(\"some data\") = %016llx\n", (unsigned long long)*(const uint64_t *)r.data);
    gsp_opt_result_release(&r);
  }
  /* a batch: split across the CPU pool's workers */
  char bufs[32][16];
  gsp_opt_arg args[32];
  gsp_opt_result outs[32];
  for (int i = 0; i < 32; i++)
    args[i] = (gsp_opt_arg){bufs[i], (size_t)snprintf(bufs[i], sizeof bufs[i], "chunk-%d", i)};
  int rv = gsp_opt_call_batch(fn, args, 32, outs);
  for (int i = 0; i < 32; i++) gsp_opt_result_release(&outs[i]);
  gsp_opt_func_stats st;
  gsp_opt_func_stats_get(fn, &st);
  printf("batch of 32: %s; calls %llu, cache hits %llu, hit rate %.0f%%\n", gsp_strerror(rv),
         (unsigned long long)st.calls, (unsigned long long)st.cache_hits, 100.0 * st.hit_rate);
  gsp_opt_engine_destroy(engine);
  return rv == GSP_OK && st.calls == 35 && st.cache_hits == 2 ? 0 : 1;
}
