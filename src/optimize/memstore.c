/*
 * memstore.c - MEMORY_OPTIMIZED's compressed store: where a MEMORY
 * function's results above max_value_bytes are cached.
 *
 * Layout: each MEMORY function with caching on owns one gsp_tier (f->big)
 * with an L1 of a single entry (the latest large result, as it is) and an
 * LZ4-compressed L2 bounded by max(16 x max_value_bytes, 16 MiB) compressed
 * bytes; no L3. Every other large result lives only compressed in L2 (an
 * entry pushed out of L1 is demoted there; an L2 hit is promoted to L1).
 * Keys are the function's cache keys.
 *
 * Invariants: f->big is set at registration and never changes until the
 * engine is destroyed; the tier is thread-safe, so no engine lock is taken
 * here. Puts are best effort (a failed put leaves the result uncached).
 */
#include <string.h>

#include "opt_int.h"

#define MEMSTORE_MIN_L2 (16u << 20)

int gsp__opt_memstore_create(gsp_opt_func *f) {
  if (f->cache_name == NULL || f->o.strategy != GSP_OPT_MEMORY) return GSP_OK;
  size_t mv = f->e->cfg.max_value_bytes;
  size_t l2 = mv > MEMSTORE_MIN_L2 / 16 ? 16 * mv : MEMSTORE_MIN_L2;
  gsp_tier_config tc = {
      .l1_strategy = GSP_CACHE_LRU,
      .l1_max_entries = 1,
      .l2_strategy = GSP_CACHE_LRU,
      .l2_max_bytes = l2,
      .ttl_ms = f->o.ttl_ms,
  };
  char msg[160];
  int rv = gsp_tier_create(&tc, &f->big, msg, sizeof msg);
  if (rv != GSP_OK) gsp__opt_seterr(f->e, "function %s: compressed cache: %s", f->name, msg);
  return rv;
}

bool gsp__opt_memstore_get(gsp_opt_func *f, const gsp__opt_call *c, gsp_opt_result *out) {
  if (f->big == NULL) return false;
  void *val = NULL;
  size_t vlen = 0;
  if (gsp_tier_get(f->big, c->key, c->klen, &val, &vlen) != GSP_OK) return false;
  out->own_ = val;
  out->data = val;
  out->len = vlen;
  return true;
}

void gsp__opt_memstore_put(gsp_opt_func *f, const gsp__opt_call *c, const void *val, size_t vlen) {
  if (f->big == NULL) return;
  gsp_tier_put_opts po = {.ttl_ms = f->o.ttl_ms};
  (void)gsp_tier_put(f->big, c->key, c->klen, val, vlen, &po); /* best effort */
}
