/*
 * cpu_optimized.c - the seed's @cpu_optimized: a CPU-bound function whose
 * batches run on all the CPU pool's workers.
 *
 *   @cpu_optimized()
 *   def count_primes(range): ...
 *   results = [count_primes(r) for r in ranges]   # as one batch
 *
 * Each item counts the primes in a range of 20000 numbers by trial
 * division; the batch of 16 ranges is split across the workers, and the
 * example checks the total against the known count below 320000.
 */
#include <stdio.h>

#include "gsperf/optimize.h"

static int count_primes(void *user, const void *arg, size_t n, void **out, size_t *outlen) {
  (void)user;
  if (n != sizeof(uint32_t)) return GSP_EINVAL;
  uint32_t lo = *(const uint32_t *)arg, count = 0;
  for (uint32_t v = lo; v < lo + 20000; v++) {
    bool prime = v >= 2;
    for (uint32_t d = 2; prime && d * d <= v; d++) prime = v % d != 0;
    count += prime;
  }
  uint32_t *r = gsp_malloc(sizeof *r);
  if (r == NULL) return GSP_ENOMEM;
  *r = count;
  *out = r;
  *outlen = sizeof *r;
  return GSP_OK;
}

int main(void) {
  gsp_opt_engine *engine = NULL;
  gsp_opt_func *fn = NULL;
  if (gsp_opt_engine_create(NULL, &engine) != GSP_OK) return 1;
  if (gsp_opt_register(engine, "count_primes", count_primes, NULL,
                       &(gsp_opt_func_opts){.strategy = GSP_OPT_CPU}, &fn) != GSP_OK)
    return 1;
  enum { N = 16 };
  uint32_t starts[N];
  gsp_opt_arg args[N];
  gsp_opt_result out[N];
  for (uint32_t i = 0; i < N; i++) {
    starts[i] = i * 20000;
    args[i] = (gsp_opt_arg){&starts[i], sizeof starts[i]};
  }
  uint64_t t0 = gsp_now_ns();
  int rv = gsp_opt_call_batch(fn, args, N, out);
  uint64_t t1 = gsp_now_ns();
  uint32_t total = 0;
  for (int i = 0; i < N; i++) {
    if (out[i].status == GSP_OK) total += *(const uint32_t *)out[i].data;
    gsp_opt_result_release(&out[i]);
  }
  printf("primes below 320000: %u (%u workers, %.1f ms)\n", total,
         gsp_exec_workers(gsp_opt_cpu_pool(engine)), (double)(t1 - t0) / 1e6);
  gsp_opt_engine_destroy(engine);
  return rv == GSP_OK && total == 27608 ? 0 : 1;
}
