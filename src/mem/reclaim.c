/*
 * reclaim.c - the reclaimer registry of a memory-pressure monitor, the
 * reclaim pass, and the ready reclaimers for the library's own caches and
 * pools.
 *
 * Layout. Reclaimers sit in a growable array (gsp_realloc, doubling) in
 * registration order, under the monitor's rmu. A reclaim pass holds rmu
 * for its whole length: passes are serialized and registration waits for
 * a pass to end, which is why a reclaimer must not register another
 * (documented in mem.h). The pass calls each reclaimer with the level and
 * what is still wanted (bytes_wanted minus the estimates so far); below
 * CRITICAL it stops once the estimates cover the want, at CRITICAL every
 * reclaimer runs. Estimates are the reclaimers' own and only summed into
 * the monitor's statistics; the next sample's RSS is the real measure.
 *
 * Removal (gsp_mempressure_remove_reclaimer) takes rmu too, so once it
 * returns no pass is running the removed reclaimer and none will: the
 * host may free the reclaimer's object right after. Entries after the
 * removed one shift down, keeping registration order.
 *
 * Ready reclaimers use public APIs only. The cache reclaimer expires
 * (cheap, frees only expired entries), then sheds the rest of what is
 * wanted with gsp_cache_shrink (everything at CRITICAL). gsp_pool_trim
 * releases every slab none of whose objects is live or held in a thread
 * cache, so the pool reclaimer returns the pool's idle slabs.
 */
#include <string.h>

#include "gsperf/cache.h"
#include "pressure_int.h"

static int grow_locked(gsp_mempressure *mp) {
  if (mp->nrec < mp->caprec) return 0;
  size_t cap = mp->caprec ? mp->caprec * 2 : 4;
  gsp__reclaimer *r = gsp_realloc(mp->rec, cap * sizeof *r);
  if (!r) return GSP_ENOMEM;
  mp->rec = r;
  mp->caprec = cap;
  return 0;
}

int gsp_mempressure_add_reclaimer(gsp_mempressure *mp, const char *name, gsp_mem_reclaim_fn fn,
                                  void *user) {
  if (!mp || !name || !fn) return GSP_EINVAL;
  char *copy = gsp_strdup(name);
  if (!copy) return GSP_ENOMEM;
  pthread_mutex_lock(&mp->rmu);
  int rc = grow_locked(mp);
  if (rc == 0) mp->rec[mp->nrec++] = (gsp__reclaimer){copy, fn, user};
  pthread_mutex_unlock(&mp->rmu);
  if (rc != 0) gsp_free(copy);
  return rc;
}

int gsp_mempressure_remove_reclaimer(gsp_mempressure *mp, const char *name) {
  if (!mp || !name) return GSP_EINVAL;
  int rc = GSP_ENOENT;
  pthread_mutex_lock(&mp->rmu);
  for (size_t i = 0; i < mp->nrec; i++) {
    if (strcmp(mp->rec[i].name, name) != 0) continue;
    gsp_free(mp->rec[i].name);
    memmove(&mp->rec[i], &mp->rec[i + 1], (mp->nrec - i - 1) * sizeof mp->rec[0]);
    mp->nrec--;
    rc = 0;
    break;
  }
  pthread_mutex_unlock(&mp->rmu);
  return rc;
}

void gsp__mp_reclaimers_free(gsp_mempressure *mp) {
  for (size_t i = 0; i < mp->nrec; i++) gsp_free(mp->rec[i].name);
  gsp_free(mp->rec);
  mp->rec = NULL;
  mp->nrec = mp->caprec = 0;
}

size_t gsp__mp_reclaim(gsp_mempressure *mp, gsp_mem_level level, size_t wanted) {
  size_t freed = 0;
  pthread_mutex_lock(&mp->rmu);
  for (size_t i = 0; i < mp->nrec; i++) {
    if (level < GSP_MEM_CRITICAL && wanted > 0 && freed >= wanted) break;
    size_t left = freed < wanted ? wanted - freed : 0;
    freed += mp->rec[i].fn(mp->rec[i].user, level, left);
  }
  pthread_mutex_unlock(&mp->rmu);
  return freed;
}

const char *gsp_mem_level_name(gsp_mem_level level) {
  switch (level) {
    case GSP_MEM_NORMAL:
      return "normal";
    case GSP_MEM_WARNING:
      return "warning";
    case GSP_MEM_CRITICAL:
      return "critical";
  }
  return "unknown";
}

double gsp_mem_strategy_target(gsp_mem_strategy s) {
  switch (s) {
    case GSP_MEM_CONSERVATIVE:
      return 0.75;
    case GSP_MEM_AGGRESSIVE:
      return 0.5;
    case GSP_MEM_BALANCED:
      break;
  }
  return 0.65;
}

size_t gsp_mem_reclaim_cache(void *cache, gsp_mem_level level, size_t bytes_wanted) {
  gsp_cache *c = cache;
  gsp_cache_stats before, after;
  gsp_cache_stats_get(c, &before);
  (void)gsp_cache_expire(c);
  gsp_cache_stats_get(c, &after);
  uint64_t freed = before.bytes > after.bytes ? before.bytes - after.bytes : 0;
  if (level >= GSP_MEM_CRITICAL)
    freed += gsp_cache_shrink(c, after.bytes); /* all of it */
  else if (freed < bytes_wanted)
    freed += gsp_cache_shrink(c, bytes_wanted - freed);
  return (size_t)freed;
}

size_t gsp_mem_reclaim_pool(void *pool, gsp_mem_level level, size_t bytes_wanted) {
  (void)level;
  (void)bytes_wanted;
  gsp_pool *p = pool;
  gsp_pool_stats before, after;
  gsp_pool_stats_get(p, &before);
  (void)gsp_pool_trim(p);
  gsp_pool_stats_get(p, &after);
  return before.slab_bytes > after.slab_bytes ? (size_t)(before.slab_bytes - after.slab_bytes) : 0;
}
