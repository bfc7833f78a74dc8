/*
 * memory_optimized.c - the seed's memory decorator in C:
 *
 *   @memory_optimized(strategy=MemoryStrategy.AGGRESSIVE)
 *   def memory_intensive_function(large_data): ...
 *
 * An AGGRESSIVE engine (its memory monitor sheds to half the limit) with a
 * 256 MiB memory limit; the function runs with the MEMORY strategy:
 * small results are cached as they are; results above max_value_bytes
 * (here 64 KiB) are cached compressed (the function's multi-level cache:
 * the latest one in L1, the others LZ4-compressed in L2), and a batch runs
 * at most batch_size items at a time.
 */
#include <stdio.h>
#include <string.h>

#include "gsperf/optimize.h"

static int runs;

/* Builds a result of arg[0] KiB: a histogram table, say. */
static int memory_intensive_function(void *user, const void *arg, size_t n, void **out,
                                     size_t *outlen) {
  (void)user;
  if (n < 1) return GSP_EINVAL;
  __atomic_fetch_add(&runs, 1, __ATOMIC_RELAXED);
  size_t bytes = (size_t)((const unsigned char *)arg)[0] * 1024u;
  unsigned char *r = gsp_malloc(bytes ? bytes : 1);
  if (r == NULL) return GSP_ENOMEM;
  memset(r, 0x2a, bytes);
  *out = r;
  *outlen = bytes;
  return GSP_OK;
}

int main(void) {
  gsp_opt_engine *engine = NULL;
  gsp_opt_func *fn = NULL;
  gsp_opt_config cfg = {.level = GSP_OPT_LEVEL_AGGRESSIVE, .memory_limit_mb = 256, .batch_size = 8};
  if (gsp_opt_engine_create(&cfg, &engine) != GSP_OK) return 1;
  if (gsp_opt_register(engine, "memory_intensive_function", memory_intensive_function, NULL,
                       &(gsp_opt_func_opts){.strategy = GSP_OPT_MEMORY}, &fn) != GSP_OK)
    return 1;
  unsigned char small = 4, large = 200; /* 4 KiB and 200 KiB results */
  gsp_opt_result r;
  for (int i = 0; i < 3; i++) {
    if (gsp_opt_call(fn, &small, 1, &r) != GSP_OK) return 1;
    gsp_opt_result_release(&r);
    if (gsp_opt_call(fn, &large, 1, &r) != GSP_OK) return 1;
    gsp_opt_result_release(&r);
  }
  printf("6 calls ran the function %d times (the 200 KiB result is cached compressed)\n", runs);
  unsigned char sizes[40];
  gsp_opt_arg args[40];
  gsp_opt_result out[40];
  for (int i = 0; i < 40; i++) {
    sizes[i] = (unsigned char)(100 + i); /* all above 64 KiB */
    args[i] = (gsp_opt_arg){&sizes[i], 1};
  }
  int rv = gsp_opt_call_batch(fn, args, 40, out); /* 8 at a time */
  for (int i = 0; i < 40; i++) gsp_opt_result_release(&out[i]);
  gsp_mem_sample s;
  gsp_mempressure_last(gsp_opt_mempressure(engine), &s);
  printf("batch of 40 in windows of 8: %s; pressure level %s\n", gsp_strerror(rv),
         gsp_mem_level_name(gsp_mempressure_level(gsp_opt_mempressure(engine))));
  gsp_opt_engine_destroy(engine);
  return rv == GSP_OK && runs == 1 + 1 + 40 ? 0 : 1;
}
