/*
 * store.c - the result store: per-file results by content key, behind the
 * cg_store seam (cg_int.h) that analyze.c calls. Two implementations:
 *
 *  - tier (gsp_cg_config.store): the multi-level cache (gsperf/tier.h), L1
 *    in memory, L2 LZ4-compressed memory, L3 LMDB in a cache directory. A
 *    second process that opens the same directory finds every unchanged
 *    file's result and parses only what changed. It also keeps blobs: the
 *    whole-tree resolution (resolve_cache.c). Keys are 17 bytes: a one-byte
 *    namespace ('R' per-file result, 'G' resolution) and the 16-byte key, so
 *    the two never collide and other users of the same directory do not
 *    either. A tier get hands over a gsp_malloc'd copy, which becomes the
 *    result itself (gsp__cg_result_adopt_intact): no second copy, and no
 *    second checksum: L2 and L3 records carry an XXH3-64 checksum of
 *    their payload that the tier checks before returning one, and L1
 *    holds what this process serialized; the structure is still checked
 *    (header, lengths, every record's bounds).
 *
 *  - cache (gsp_cg_config.results): a gsp_cache owned by the caller that
 *    lives as long as the process; results only, no blobs.
 *
 * Result puts into the tier are deferred (gsp_tier_put_opts.defer): with
 * a write-behind tier the writer thread is not woken per result (a
 * wake-up and a small LMDB transaction every few results cost a cold run
 * more than the rest of the store) but once a batch is queued. A blob put
 * (the resolution, saved once the parse and the resolution are done) is
 * not deferred: it wakes the writer, which then writes every result still
 * queued while the graph and database stages run, so the caller's final
 * gsp_tier_flush finds little left. A tier in another mode ignores the
 * flag.
 *
 * Values are the result's serialized bytes; get re-validates them (magic,
 * version, bounds; the checksum too from the cache), so a damaged entry
 * is a miss, never a crash.
 * A failed put is not an error: the entry is a miss next time.
 */
#include <string.h>

#include "cg_int.h"

#define NS_RESULT 'R'
#define NS_BLOB 'G'
#define TIER_KEY 17

static void tier_key(char ns, const uint8_t key[16], uint8_t out[TIER_KEY]) {
  out[0] = (uint8_t)ns;
  memcpy(out + 1, key, 16);
}

static int tier_get(void *user, const uint8_t key[16], gsp_cg_result **out) {
  uint8_t k[TIER_KEY];
  tier_key(NS_RESULT, key, k);
  void *v = NULL;
  size_t len = 0;
  int rv = gsp_tier_get(user, k, sizeof k, &v, &len);
  if (rv != GSP_OK) return rv;
  rv = gsp__cg_result_adopt_intact(v, len, out); /* the tier checked its record */
  if (rv != GSP_OK) gsp_free(v);
  return rv == GSP_ECORRUPT ? GSP_ENOENT : rv;
}

static int tier_put(void *user, const uint8_t key[16], const gsp_cg_result *r) {
  uint8_t k[TIER_KEY];
  tier_key(NS_RESULT, key, k);
  size_t len = 0;
  const void *b = gsp_cg_result_bytes(r, &len);
  return gsp_tier_put(user, k, sizeof k, b, len, &(gsp_tier_put_opts){.defer = true});
}

static int tier_get_blob(void *user, const uint8_t key[16], void **val, size_t *len) {
  uint8_t k[TIER_KEY];
  tier_key(NS_BLOB, key, k);
  return gsp_tier_get(user, k, sizeof k, val, len);
}

static int tier_put_blob(void *user, const uint8_t key[16], const void *val, size_t len) {
  uint8_t k[TIER_KEY];
  tier_key(NS_BLOB, key, k);
  return gsp_tier_put(user, k, sizeof k, val, len, NULL);
}

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

int gsp__cg_store_open(const gsp_cg_config *cfg, cg_store *out) {
  *out = (cg_store){0};
  if (cfg->store != NULL) {
    *out = (cg_store){.get = tier_get,
                      .put = tier_put,
                      .get_blob = tier_get_blob,
                      .put_blob = tier_put_blob,
                      .user = cfg->store};
    return GSP_OK;
  }
  if (cfg->results == NULL) return GSP_ENOENT;
  *out = (cg_store){.get = cache_get, .put = cache_put, .user = cfg->results};
  return GSP_OK;
}
