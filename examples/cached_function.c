/*
 * cached_function.c - the seed's `@cached` decorator in C: a function whose
 * results are memoized by key, computed once even when many callers miss at
 * the same moment (get-or-compute with single-flight).
 *
 *   @cached(strategy=ADAPTIVE, max_size=1000)
 *   def resolve_type(symbol): ...
 */
#include <stdio.h>
#include <string.h>

#include "gsperf/cache.h"

static int calls;

/* The expensive function: "resolves" a symbol to a type name. */
static int resolve_type(void *user, const void *key, size_t klen, void **val, size_t *vlen) {
  (void)user;
  calls++;
  char *out = gsp_malloc(klen + 8);
  if (out == NULL) return GSP_ENOMEM;
  int n = snprintf(out, klen + 8, "type<%.*s>", (int)klen, (const char *)key);
  *val = out;
  *vlen = (size_t)n + 1;
  return GSP_OK;
}

int main(void) {
  gsp_cache *cache = NULL;
  if (gsp_cache_create(&(gsp_cache_config){.strategy = GSP_CACHE_ADAPTIVE, .max_entries = 1000},
                       &cache) != GSP_OK)
    return 1;
  const char *symbols[] = {"foo", "bar", "foo", "foo", "baz", "bar"};
  for (size_t i = 0; i < sizeof symbols / sizeof *symbols; i++) {
    gsp_cache_ref *r = NULL;
    int rv = gsp_cache_get_or_compute(cache, symbols[i], strlen(symbols[i]), resolve_type, NULL,
                                      NULL, &r);
    if (rv != GSP_OK) {
      fprintf(stderr, "resolve_type(%s): %s\n", symbols[i], gsp_strerror(rv));
      gsp_cache_destroy(cache);
      return 1;
    }
    printf("%s -> %s\n", symbols[i], (const char *)gsp_cache_ref_value(r, NULL));
    gsp_cache_ref_release(r);
  }
  gsp_cache_stats s;
  gsp_cache_stats_get(cache, &s);
  printf("computed %d times for %zu calls; hit rate %.0f%%\n", calls,
         sizeof symbols / sizeof *symbols, 100.0 * s.hit_rate);
  gsp_cache_destroy(cache);
  return calls == 3 ? 0 : 1;
}
