/*
 * store.c - the result store: per-file results by content key, behind the
 * cg_store seam (cg_int.h) that analyze.c calls.
 *
 * This implementation keeps results in a gsp_cache owned by the caller
 * (gsp_cg_config.results), so a process that analyzes a tree again finds
 * every unchanged file's result and parses only what changed. A persistent
 * store (the multi-level cache with its on-disk level) plugs in here: an
 * implementation of the same three functions, chosen in gsp__cg_store_open.
 *
 * Values are the result's serialized bytes; get re-validates them through
 * gsp_cg_result_load (magic, version, checksum, bounds), so a damaged entry
 * is a miss, never a crash.
 */
#include "cg_int.h"

static int cache_get(void *user, const uint8_t key[16], gsp_cg_result **out) {
  gsp_cache_ref *ref = NULL;
  int rv = gsp_cache_get(user, key, 16, &ref);
  if (rv != GSP_OK) return rv;
  size_t len = 0;
  const void *v = gsp_cache_ref_value(ref, &len);
  rv = gsp_cg_result_load(v, len, out);
  gsp_cache_ref_release(ref);
  return rv == GSP_ECORRUPT ? GSP_ENOENT : rv;
}

static int cache_put(void *user, const uint8_t key[16], const gsp_cg_result *r) {
  size_t len = 0;
  const void *b = gsp_cg_result_bytes(r, &len);
  return gsp_cache_put(user, key, 16, b, len, NULL);
}

int gsp__cg_store_open(gsp_cache *shared, cg_store *out) {
  *out = (cg_store){0};
  if (shared == NULL) return GSP_EINVAL;
  *out = (cg_store){.get = cache_get, .put = cache_put, .destroy = NULL, .user = shared};
  return GSP_OK;
}
