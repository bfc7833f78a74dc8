/*
 * cache_stats.c - statistics snapshots, their JSON form, and strategy
 * names. Counters live per shard and change under the shard lock; a
 * snapshot takes each shard's lock in turn (applying the hits lock-free
 * readers logged), so it is consistent per shard and never torn, though not
 * a global instant.
 */
#include <stdio.h>
#include <strings.h>

#include "cache_core.h"

void gsp_cache_stats_get(gsp_cache *c, gsp_cache_stats *out) {
  *out = (gsp_cache_stats){0};
  for (unsigned i = 0; i < c->nshards; i++) {
    gsp__shard *sh = &c->shards[i];
    pthread_mutex_lock(&sh->lock);
    gsp__lf_drain_locked(c, sh, true); /* every logged hit is counted */
    out->hits += sh->st.hits;
    out->misses += sh->st.misses;
    out->insertions += sh->st.insertions;
    out->updates += sh->st.updates;
    out->evictions += sh->st.evictions;
    out->expirations += sh->st.expirations;
    out->deletions += sh->st.deletions;
    out->collections += sh->st.collections;
    out->entries += sh->count;
    out->bytes += sh->bytes;
    out->charge += sh->pol.used;
    pthread_mutex_unlock(&sh->lock);
  }
  uint64_t lookups = out->hits + out->misses;
  out->hit_rate = lookups ? (double)out->hits / (double)lookups : 0.0;
}

void gsp_cache_stats_reset(gsp_cache *c) {
  for (unsigned i = 0; i < c->nshards; i++) {
    gsp__shard *sh = &c->shards[i];
    pthread_mutex_lock(&sh->lock);
    gsp__lf_drain_locked(c, sh, true);
    sh->st = (gsp__shard_stats){0};
    pthread_mutex_unlock(&sh->lock);
  }
}

size_t gsp_cache_stats_json(const gsp_cache_stats *s, char *buf, size_t cap) {
  int n = snprintf(buf, cap,
                   "{\"hits\":%llu,\"misses\":%llu,\"hit_rate\":%.6f,\"insertions\":%llu,"
                   "\"updates\":%llu,\"evictions\":%llu,\"expirations\":%llu,"
                   "\"deletions\":%llu,\"collections\":%llu,\"entries\":%llu,"
                   "\"bytes\":%llu,\"charge\":%llu}",
                   (unsigned long long)s->hits, (unsigned long long)s->misses, s->hit_rate,
                   (unsigned long long)s->insertions, (unsigned long long)s->updates,
                   (unsigned long long)s->evictions, (unsigned long long)s->expirations,
                   (unsigned long long)s->deletions, (unsigned long long)s->collections,
                   (unsigned long long)s->entries, (unsigned long long)s->bytes,
                   (unsigned long long)s->charge);
  return n < 0 ? 0 : (size_t)n;
}

static const char *const strategy_names[] = {"lru", "lfu", "fifo", "ttl", "adaptive", "weak"};

const char *gsp_cache_strategy_name(gsp_cache_strategy s) {
  if ((unsigned)s >= sizeof strategy_names / sizeof *strategy_names) return "unknown";
  return strategy_names[s];
}

int gsp_cache_strategy_parse(const char *name, gsp_cache_strategy *out) {
  if (name == NULL || out == NULL) return GSP_EINVAL;
  for (unsigned i = 0; i < sizeof strategy_names / sizeof *strategy_names; i++) {
    if (strcasecmp(name, strategy_names[i]) == 0) {
      *out = (gsp_cache_strategy)i;
      return GSP_OK;
    }
  }
  return GSP_EINVAL;
}
