/*
 * cached.c - the seed's @cached through the engine: a function's results
 * memoized in a named cache with a TTL and a key derived from part of the
 * argument (here: the symbol name, ignoring the request id after '#').
 *
 *   @cached(ttl=1800, key=lambda req: req.symbol)
 *   def resolve_type(req): ...
 */
#include <stdio.h>
#include <string.h>

#include "gsperf/optimize.h"

static int computed;

static int resolve_type(void *user, const void *arg, size_t n, void **out, size_t *outlen) {
  (void)user;
  computed++;
  const char *hash = memchr(arg, '#', n);
  size_t sym = hash ? (size_t)(hash - (const char *)arg) : n;
  char *r = gsp_malloc(sym + 8);
  if (r == NULL) return GSP_ENOMEM;
  int len = snprintf(r, sym + 8, "type<%.*s>", (int)sym, (const char *)arg);
  *out = r;
  *outlen = (size_t)len + 1;
  return GSP_OK;
}

/* The key: the symbol before '#'. */
static int symbol_key(void *user, const void *arg, size_t n, void *key, size_t cap, size_t *klen) {
  (void)user;
  const char *hash = memchr(arg, '#', n);
  *klen = hash ? (size_t)(hash - (const char *)arg) : n;
  if (*klen > cap) return GSP_ERANGE;
  memcpy(key, arg, *klen);
  return GSP_OK;
}

int main(void) {
  gsp_opt_engine *engine = NULL;
  gsp_opt_func *fn = NULL;
  if (gsp_opt_engine_create(NULL, &engine) != GSP_OK) return 1;
  gsp_opt_func_opts opts = {.cache = "type_resolution", .key = symbol_key, .ttl_ms = 1800000};
  if (gsp_opt_register(engine, "resolve_type", resolve_type, NULL, &opts, &fn) != GSP_OK) return 1;
  const char *requests[] = {"foo#1", "bar#2", "foo#3", "foo#4", "baz#5", "bar#6"};
  for (size_t i = 0; i < 6; i++) {
    gsp_opt_result r;
    int rv = gsp_opt_call(fn, requests[i], strlen(requests[i]), &r);
    if (rv != GSP_OK) {
      fprintf(stderr, "resolve_type(%s): %s\n", requests[i], gsp_strerror(rv));
      return 1;
    }
    printf("%s -> %s\n", requests[i], (const char *)r.data);
    gsp_opt_result_release(&r);
  }
  gsp_cache_stats st;
  gsp_cache_stats_get(gsp_cache_manager_find(gsp_opt_caches(engine), "type_resolution"), &st);
  printf("computed %d times for 6 calls; cache hit rate %.0f%%\n", computed, 100.0 * st.hit_rate);
  gsp_opt_engine_destroy(engine);
  return computed == 3 ? 0 : 1;
}
