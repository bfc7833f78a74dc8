/*
 * cache.c - the cache core: shards, hash tables, put/get/delete (entries
 * and value blocks themselves: cache_entry.c).
 *
 * Design. The key space is split by hash into a power-of-two number of
 * shards (by default sixteen per CPU, at most 256, fewer for small caches so
 * every shard keeps at least 256 entries). Each shard is a separate little
 * cache: a chained hash table, an eviction policy instance (policy_*.c) sized
 * to its share of the bound, statistics, read buffers and a lock. A hit
 * takes no lock at all (cache_lf.c): it walks the table inside an
 * epoch-based read section (cache_ebr.c), copies or pins the value and logs
 * the hit for the policy. Misses, expired entries and every writer take the
 * shard's lock (an adaptive mutex held for a few dozen nanoseconds: replay
 * of logged hits, chain walk, key compare, policy bookkeeping); an operation
 * touches exactly one shard, so there is no global lock anywhere. Hashing
 * (XXH3) and all allocation happen before the lock is taken (a recycled
 * block is taken and filled under it, for values up to SMALL_COPY bytes);
 * value copies larger than a cache line on the locked path happen after it
 * is released.
 *
 * Data layout. An entry (cache_int.h) holds the hash chain link, the key
 * inline when short, the current value pointer and its own value block in
 * its first 64 bytes, then charge, the policy's node and the chain back
 * link; a long key and the value bytes follow. Values are reference-counted
 * blocks (gsp__vblock): the entry holds one reference and every pinned
 * reader one more, so a replaced or evicted value stays intact until the
 * last reader releases it, and pinned readers never touch the entry.
 *
 * Writers publish with release stores (chain heads, chain links, the value
 * pointer, the table pointer) so lock-free readers see complete entries.
 * Unlinking leaves the entry's own chain link intact. What a reader may
 * still hold (unlinked entries, replaced values, old tables) is retired to
 * the shard's limbo and freed, or recycled into the shard's pool of entry
 * blocks, two epochs later (cache_lf.c); a put of a small value fills a
 * pooled block under the lock instead of allocating. WEAK caches have no
 * lock-free readers and free at once.
 *
 * Eviction is exact within a shard: after an insert, the policy names
 * victims until the shard is within its bound. Unlinked entries go to a
 * "graveyard" on the stack and the eviction callback runs after the lock
 * is dropped, so callbacks may re-enter the cache.
 *
 * Invariants (under the shard lock): an entry is in the table iff
 * e->linked; pol.used is the sum of linked entries' charges; bytes is the
 * sum of their byte sizes; count is their number; every hit logged before
 * the lock by the same thread has been applied once it holds the lock
 * (gsp__shard_lock).
 */
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <unistd.h>
#define XXH_INLINE_ALL /* XXH3 inlined: short keys hash in a few ns */
#include <xxhash.h>

#include "cache_core.h"

#define MIN_BUCKETS 16u
#define MAX_PRESIZE 4096u /* buckets a shard starts with at most; it grows later */
#define SMALL_COPY 256u

uint64_t gsp__cache_hash(const void *key, size_t klen) { return XXH3_64bits(key, klen); }

uint64_t gsp__cache_now(const gsp_cache *c) {
  if (c->cfg.clock.now != NULL) return c->cfg.clock.now(c->cfg.clock.user);
  return gsp_now_ns();
}

gsp__shard *gsp__cache_shard(gsp_cache *c, uint64_t hash) {
  return &c->shards[c->nshards > 1 ? hash >> c->shard_shift : 0];
}

static const gsp__policy_ops *policy_for(gsp_cache_strategy s) {
  switch (s) {
    case GSP_CACHE_LRU:
    case GSP_CACHE_WEAK:
      return &gsp__policy_lru;
    case GSP_CACHE_LFU:
      return &gsp__policy_lfu;
    case GSP_CACHE_FIFO:
      return &gsp__policy_fifo;
    case GSP_CACHE_TTL:
      return &gsp__policy_ttl;
    case GSP_CACHE_ADAPTIVE:
      return &gsp__policy_adaptive;
  }
  return NULL;
}

/* ---- hash table --------------------------------------------------------- */

static gsp__table *shard_table(const gsp__shard *sh) {
  return atomic_load_explicit(&sh->tab, memory_order_relaxed);
}

static gsp__table *table_new(size_t n) {
  gsp__table *t = gsp_calloc(1, sizeof *t + n * sizeof(t->b[0]));
  if (t != NULL) t->mask = n - 1;
  return t;
}

/* Link e at the head of a chain; readers see it complete (release). Both
 * stores release: during a rehash e is reachable, and a reader loading its
 * new link must also see the entry that link points at. */
static void chain_push(_Atomic(gsp__entry *) *slot, gsp__entry *e) {
  gsp__entry *first = atomic_load_explicit(slot, memory_order_relaxed);
  atomic_store_explicit(&e->hnext, first, memory_order_release);
  if (first != NULL) first->hpprev = &e->hnext;
  e->hpprev = slot;
  atomic_store_explicit(slot, e, memory_order_release);
}

/* Rehash into a table twice the size. Readers still walking the old one
 * may follow a moved entry into the new chains and miss (they then retry
 * under the lock), never loop: moved entries only point at moved ones. */
static void table_grow_locked(gsp_cache *c, gsp__shard *sh) {
  gsp__table *old = shard_table(sh);
  gsp__table *t = table_new((old->mask + 1) * 2);
  if (t == NULL) return; /* keep the longer chains; correctness is unaffected */
  uint64_t seq = atomic_load_explicit(&sh->tab_seq, memory_order_relaxed);
  /* Odd: readers trust no miss. No fence is needed to order this store
   * before the moves: every store a reader can see below (chain_push's
   * links, the new table) is a release store, and readers load links with
   * acquire, so a reader that sees a moved link sees the odd tab_seq when
   * it loads it again (a release fence here would add nothing to that). */
  atomic_store_explicit(&sh->tab_seq, seq + 1, memory_order_relaxed);
  for (size_t i = 0; i <= old->mask; i++) {
    gsp__entry *e = atomic_load_explicit(&old->b[i], memory_order_relaxed);
    while (e != NULL) {
      gsp__entry *next = atomic_load_explicit(&e->hnext, memory_order_relaxed);
      chain_push(&t->b[e->hash & t->mask], e);
      e = next;
    }
  }
  atomic_store_explicit(&sh->tab, t, memory_order_release);
  atomic_store_explicit(&sh->tab_seq, seq + 2, memory_order_release);
  if (c->lockfree)
    gsp__lf_retire_table_locked(sh, old);
  else
    gsp_free(old);
}

static bool expired(const gsp_cache *c, const gsp__entry *e) {
  uint64_t x = gsp__entry_expire(e);
  return x != 0 && gsp__cache_now(c) >= x;
}

bool gsp__key_equal(const unsigned char *a, const void *b, size_t n) {
  if (n == sizeof(uint64_t)) { /* the common integer/pointer key, compared inline */
    uint64_t x, y;
    memcpy(&x, a, sizeof x);
    memcpy(&y, b, sizeof y);
    return x == y;
  }
  return n == 0 || memcmp(a, b, n) == 0;
}

gsp__entry *gsp__lookup_locked(gsp_cache *c, gsp__shard *sh, uint64_t hash, const void *key,
                               size_t klen, gsp__graveyard *g) {
  gsp__table *t = shard_table(sh);
  gsp__entry *e = atomic_load_explicit(&t->b[hash & t->mask], memory_order_relaxed);
  while (e != NULL) {
    if (e->hash == hash && e->klen == klen && gsp__key_equal(gsp__entry_key(e), key, klen)) break;
    e = atomic_load_explicit(&e->hnext, memory_order_relaxed);
  }
  if (e != NULL && expired(c, e)) {
    gsp__unlink_locked(sh, e, GSP_CACHE_EXPIRED, g);
    return NULL;
  }
  return e;
}

static void count_leaving(gsp__shard *sh, gsp_cache_reason why) {
  switch (why) {
    case GSP_CACHE_EVICTED:
      sh->st.evictions++;
      break;
    case GSP_CACHE_EXPIRED:
      sh->st.expirations++;
      break;
    case GSP_CACHE_DELETED:
      sh->st.deletions++;
      break;
    case GSP_CACHE_COLLECTED:
      sh->st.collections++;
      break;
    case GSP_CACHE_REPLACED:
      break;
  }
}

/* Unlink keeps e->hnext, so a reader standing on e walks on. */
void gsp__unlink_locked(gsp__shard *sh, gsp__entry *e, gsp_cache_reason why, gsp__graveyard *g) {
  gsp__entry *next = atomic_load_explicit(&e->hnext, memory_order_relaxed);
  atomic_store_explicit(e->hpprev, next, memory_order_release);
  if (next != NULL) next->hpprev = e->hpprev;
  sh->pol.ops->on_remove(&sh->pol, e);
  sh->pol.used -= e->charge;
  sh->bytes -= gsp__entry_bytes(e);
  sh->count--;
  e->linked = 0;
  e->reason = (uint8_t)why;
  count_leaving(sh, why);
  e->rn.next = g->entries;
  g->entries = &e->rn;
}

static void evict_while_locked(gsp_cache *c, gsp__shard *sh, uint64_t charge, uint64_t bytes,
                               gsp__graveyard *g) {
  while (sh->count > 0 && (sh->pol.used + charge > sh->pol.capacity ||
                           (c->shard_bytes != 0 && sh->bytes + bytes > c->shard_bytes))) {
    gsp__entry *v = sh->pol.ops->victim(&sh->pol);
    if (v == NULL) break;
    gsp__unlink_locked(sh, v, GSP_CACHE_EVICTED, g);
  }
}

static bool too_big(const gsp_cache *c, const gsp__shard *sh, const gsp__entry *e) {
  return e->charge > sh->pol.capacity ||
         (c->shard_bytes != 0 && gsp__entry_bytes(e) > c->shard_bytes);
}

/* An entry larger than the shard is declined without flushing the shard. */
static void decline_locked(gsp__shard *sh, gsp__entry *e, gsp__graveyard *g) {
  sh->st.insertions++;
  sh->st.evictions++;
  e->reason = GSP_CACHE_EVICTED;
  e->rn.next = g->entries;
  g->entries = &e->rn;
}

/* The TTL policy's victim is the entry closest to expiry: while it has
 * expired, it goes, so a TTL cache frees expired entries on every insert. */
static void reap_expired_locked(gsp_cache *c, gsp__shard *sh, gsp__graveyard *g) {
  uint64_t now = gsp__cache_now(c);
  for (;;) {
    gsp__entry *v = sh->pol.ops->victim(&sh->pol);
    if (v == NULL || gsp__entry_expire(v) == 0 || gsp__entry_expire(v) > now) break;
    gsp__unlink_locked(sh, v, GSP_CACHE_EXPIRED, g);
  }
}

int gsp__insert_locked(gsp_cache *c, gsp__shard *sh, gsp__entry *e, gsp__graveyard *g) {
  bool bounded = c->cfg.strategy != GSP_CACHE_WEAK;
  uint64_t bytes = gsp__entry_bytes(e);
  if (bounded && too_big(c, sh, e)) {
    decline_locked(sh, e, g);
    return GSP_OK;
  }
  if (bounded && sh->pol.ops->evict_first) evict_while_locked(c, sh, e->charge, bytes, g);
  sh->pol.used += e->charge;
  int rv = sh->pol.ops->on_insert(&sh->pol, e);
  if (rv != GSP_OK) {
    sh->pol.used -= e->charge;
    return rv;
  }
  gsp__table *t = shard_table(sh);
  chain_push(&t->b[e->hash & t->mask], e);
  sh->bytes += bytes;
  sh->count++;
  e->linked = 1;
  sh->st.insertions++;
  if (c->cfg.strategy == GSP_CACHE_TTL) reap_expired_locked(c, sh, g);
  if (bounded) evict_while_locked(c, sh, 0, 0, g);
  if (sh->count * 4 > (shard_table(sh)->mask + 1) * 3) table_grow_locked(c, sh);
  return GSP_OK;
}

/* Tell the eviction callback about everything in g (no lock held). */
static void graveyard_tell(gsp_cache *c, const gsp__graveyard *g) {
  gsp_cache_evict_fn cb = c->cfg.on_evict;
  if (cb == NULL) return;
  if (g->old_vb != NULL) {
    const gsp__vblock *vb = g->old_vb;
    const gsp__entry *home = gsp__vblock_home(vb);
    cb(c->cfg.evict_user, gsp__entry_key(home), home->klen, gsp__vblock_data(vb), vb->vlen,
       GSP_CACHE_REPLACED);
  }
  for (gsp__retired *r = g->entries; r != NULL; r = r->next) {
    const gsp__entry *e = gsp__entry_of_rn(r);
    const gsp__vblock *vb = atomic_load_explicit(&e->vb, memory_order_relaxed);
    cb(c->cfg.evict_user, gsp__entry_key(e), e->klen, vb ? gsp__vblock_data(vb) : NULL,
       vb ? vb->vlen : 0, (gsp_cache_reason)e->reason);
  }
}

void gsp__graveyard_flush(gsp_cache *c, gsp__graveyard *g) {
  graveyard_tell(c, g);
  if (c->lockfree && (g->entries != NULL || g->donor != NULL)) {
    gsp__shard *sh =
        gsp__cache_shard(c, g->donor != NULL ? g->donor->hash : gsp__entry_of_rn(g->entries)->hash);
    pthread_mutex_lock(&sh->lock);
    gsp__lf_retire_locked(sh, g);
    pthread_mutex_unlock(&sh->lock);
    gsp__lf_reclaim(g);
    return;
  }
  gsp__vblock_unref(g->old_vb);
  gsp__entry_free(g->donor);
  g->old_vb = NULL;
  g->donor = NULL;
  while (g->entries != NULL) {
    gsp__entry *e = gsp__entry_of_rn(g->entries);
    g->entries = g->entries->next;
    gsp__entry_free(e);
  }
}

void gsp__shard_lock(gsp_cache *c, gsp__shard *sh) {
  pthread_mutex_lock(&sh->lock);
  gsp__lf_drain_locked(c, sh, false);
}

void gsp__shard_unlock(gsp_cache *c, gsp__shard *sh, gsp__graveyard *g) {
  if (c->lockfree && c->cfg.on_evict == NULL) {
    gsp__lf_retire_locked(sh, g);
    pthread_mutex_unlock(&sh->lock);
    gsp__lf_reclaim(g);
    return;
  }
  pthread_mutex_unlock(&sh->lock);
  gsp__graveyard_flush(c, g);
}

/* ---- create / destroy ---------------------------------------------------- */

static unsigned default_shards(const gsp_cache_config *cfg) {
  long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
  unsigned n = 1;
  while (n < 256 && (long)n < 16 * (ncpu > 0 ? ncpu : 1)) n <<= 1;
  while (n > 1 && cfg->max_entries != 0 && cfg->max_entries / n < 256) n >>= 1;
  while (n > 1 && cfg->max_entries == 0 && cfg->max_bytes != 0 && cfg->max_bytes / n < (1u << 20))
    n >>= 1;
  return n;
}

static int check_config(const gsp_cache_config *cfg) {
  if (cfg == NULL || policy_for(cfg->strategy) == NULL) return GSP_EINVAL;
  if (cfg->strategy != GSP_CACHE_WEAK && cfg->max_entries == 0 && cfg->max_bytes == 0)
    return GSP_EINVAL;
  if (cfg->shards & (cfg->shards - 1)) return GSP_EINVAL;
  return GSP_OK;
}

static uint64_t shard_share(uint64_t total, unsigned n) { return (total + n - 1) / n; }

static int shard_init(gsp_cache *c, gsp__shard *sh) {
  uint64_t cap = UINT64_MAX;
  if (c->cfg.strategy != GSP_CACHE_WEAK)
    cap = shard_share(c->count_units ? c->cfg.max_entries : c->cfg.max_bytes, c->nshards);
  size_t nb = MIN_BUCKETS;
  while (c->count_units && nb < MAX_PRESIZE && nb * 3 < cap * 4) nb *= 2;
  gsp__table *t = table_new(nb);
  if (t == NULL) return GSP_ENOMEM;
  atomic_init(&sh->tab, t);
  sh->pol.ops = policy_for(c->cfg.strategy);
  sh->pol.capacity = cap;
  int rv = sh->pol.ops->init(&sh->pol, cap);
  if (rv != GSP_OK) goto out_free_buckets;
  pthread_mutexattr_t attr;
  pthread_mutexattr_init(&attr);
  pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_ADAPTIVE_NP);
  rv = pthread_mutex_init(&sh->lock, &attr) ? GSP_ENOMEM : GSP_OK;
  pthread_mutexattr_destroy(&attr);
  if (rv != GSP_OK) goto out_fini_policy;
  return GSP_OK;
out_fini_policy:
  sh->pol.ops->fini(&sh->pol);
out_free_buckets:
  gsp_free(t);
  return rv;
}

/*
 * Take every entry out under the lock, then free them unlocked: a WEAK
 * entry's free waits for a death callback that may be running on another
 * thread, and that callback needs the shard lock and the shard intact.
 */
static void shard_fini(gsp__shard *sh) {
  gsp__retired *all = NULL;
  pthread_mutex_lock(&sh->lock);
  gsp__table *t = shard_table(sh);
  for (size_t i = 0; i <= t->mask; i++) {
    gsp__entry *e = atomic_load_explicit(&t->b[i], memory_order_relaxed);
    while (e != NULL) {
      gsp__entry *next = atomic_load_explicit(&e->hnext, memory_order_relaxed);
      sh->pol.ops->on_remove(&sh->pol, e);
      e->linked = 0;
      e->rn.next = all;
      all = &e->rn;
      e = next;
    }
    atomic_store_explicit(&t->b[i], NULL, memory_order_relaxed);
  }
  pthread_mutex_unlock(&sh->lock);
  while (all != NULL) {
    gsp__retired *next = all->next;
    gsp__entry_free(gsp__entry_of_rn(all));
    all = next;
  }
  gsp__lf_limbo_free_all(sh);
  sh->pol.ops->fini(&sh->pol);
  gsp_free(t);
  pthread_mutex_destroy(&sh->lock);
}

int gsp_cache_create(const gsp_cache_config *cfg, gsp_cache **out) {
  int rv = check_config(cfg);
  if (rv != GSP_OK || out == NULL) return GSP_EINVAL;
  gsp_cache *c = gsp_calloc(1, sizeof *c);
  if (c == NULL) return GSP_ENOMEM;
  c->cfg = *cfg;
  c->nshards = cfg->shards ? cfg->shards : default_shards(cfg);
  unsigned bits = 0;
  while ((1u << bits) < c->nshards) bits++;
  c->shard_shift = 64 - bits;
  c->count_units = cfg->max_entries != 0 || cfg->strategy == GSP_CACHE_WEAK;
  c->lockfree = cfg->strategy != GSP_CACHE_WEAK;
  c->log_hits = cfg->strategy != GSP_CACHE_FIFO && cfg->strategy != GSP_CACHE_TTL;
  if (cfg->max_entries != 0 && cfg->max_bytes != 0)
    c->shard_bytes = shard_share(cfg->max_bytes, c->nshards);
  /* shards are cache-line aligned so two never share a line */
  c->shards_mem = gsp_calloc(1, sizeof(gsp__shard) * c->nshards + 63);
  if (c->shards_mem == NULL) goto out_free_cache;
  c->shards = (gsp__shard *)((char *)c->shards_mem + (64 - (uintptr_t)c->shards_mem % 64) % 64);
  unsigned i;
  for (i = 0; i < c->nshards; i++) {
    rv = shard_init(c, &c->shards[i]);
    if (rv != GSP_OK) goto out_fini_shards;
  }
  *out = c;
  return GSP_OK;
out_fini_shards:
  while (i-- > 0) shard_fini(&c->shards[i]);
  gsp_free(c->shards_mem);
out_free_cache:
  gsp_free(c);
  return rv != GSP_OK ? rv : GSP_ENOMEM;
}

void gsp_cache_destroy(gsp_cache *c) {
  if (c == NULL) return;
  for (unsigned i = 0; i < c->nshards; i++) shard_fini(&c->shards[i]);
  while (atomic_load_explicit(&c->weak_callbacks, memory_order_acquire) != 0) sched_yield();
  gsp_free(c->shards_mem);
  gsp_free(c);
}

void gsp_cache_config_get(const gsp_cache *c, gsp_cache_config *out) {
  *out = c->cfg;
  out->shards = c->nshards;
}

/* ---- operations ----------------------------------------------------------- */

static bool bad_key(const void *key, size_t klen) {
  return (key == NULL && klen != 0) || klen > UINT32_MAX;
}

/* Give the linked entry e the value of the unlinked entry fresh, whose
 * "current value" reference moves to e; fresh becomes g's donor, which
 * later carries the old value's reference to its deferred release. */
static void replace_value_locked(gsp_cache *c, gsp__shard *sh, gsp__entry *e, gsp__entry *fresh,
                                 gsp__graveyard *g) {
  uint64_t old_charge = e->charge;
  uint64_t old_bytes = gsp__entry_bytes(e);
  g->old_vb = atomic_load_explicit(&e->vb, memory_order_relaxed);
  atomic_store_explicit(&e->vb, atomic_load_explicit(&fresh->vb, memory_order_relaxed),
                        memory_order_release);
  atomic_store_explicit(&fresh->vb, NULL, memory_order_relaxed);
  g->donor = fresh;
  sh->bytes += gsp__entry_bytes(e) - old_bytes;
  sh->pol.used += fresh->charge - old_charge;
  e->charge = fresh->charge;
  sh->st.updates++;
  sh->pol.ops->on_update(&sh->pol, e, old_charge);
  evict_while_locked(c, sh, 0, 0, g);
}

/* Insert *freshp or move its value into the entry with its key; sets
 * *freshp to NULL when consumed. Under the shard lock. */
static int put_entry_locked(gsp_cache *c, gsp__shard *sh, gsp__entry **freshp, gsp__graveyard *g) {
  gsp__entry *fresh = *freshp;
  gsp__entry *e = gsp__lookup_locked(c, sh, fresh->hash, gsp__entry_key(fresh), fresh->klen, g);
  if (e != NULL) {
    replace_value_locked(c, sh, e, fresh, g);
    *freshp = NULL; /* now g's donor */
    return GSP_OK;
  }
  int rv = gsp__insert_locked(c, sh, fresh, g);
  if (rv == GSP_OK) *freshp = NULL;
  return rv;
}

int gsp__put_entry(gsp_cache *c, gsp__entry *fresh, const gsp_cache_put_opts *opts) {
  gsp__entry_account(c, fresh, opts);
  gsp__graveyard g = {0};
  gsp__shard *sh = gsp__cache_shard(c, fresh->hash);
  gsp__shard_lock(c, sh);
  int rv = put_entry_locked(c, sh, &fresh, &g);
  gsp__shard_unlock(c, sh, &g);
  gsp__entry_free(fresh); /* not inserted: never reachable */
  return rv;
}

/* A put into a block recycled from the shard's pool (cache_lf.c): no
 * allocation, and memory an eviction of this shard released a moment ago.
 * False when the pool has no block of the size (then nothing was done). */
static bool put_recycled(gsp_cache *c, const void *key, size_t klen, const void *val, size_t vlen,
                         const gsp_cache_put_opts *opts, int *rv) {
  uint64_t h = gsp__cache_hash(key, klen);
  gsp__shard *sh = gsp__cache_shard(c, h);
  size_t size = gsp__entry_size(klen, vlen);
  if (size == 0 || !gsp__pool_may_have(sh, size)) return false;
  gsp__graveyard g = {0};
  gsp__shard_lock(c, sh);
  gsp__entry *fresh = gsp__pool_take_locked(sh, size);
  bool took = fresh != NULL;
  if (took) {
    gsp__entry_init(fresh, h, key, klen, val, vlen, true);
    gsp__entry_account(c, fresh, opts);
    *rv = put_entry_locked(c, sh, &fresh, &g);
  }
  gsp__shard_unlock(c, sh, &g);
  gsp__entry_free(fresh); /* not inserted: never reachable (NULL-safe) */
  return took;
}

int gsp_cache_put(gsp_cache *c, const void *key, size_t klen, const void *val, size_t vlen,
                  const gsp_cache_put_opts *opts) {
  if (c == NULL || bad_key(key, klen) || (val == NULL && vlen != 0)) return GSP_EINVAL;
  if (c->cfg.strategy == GSP_CACHE_WEAK) return GSP_ENOTSUP;
  int rv = GSP_OK;
  if (c->lockfree && vlen <= SMALL_COPY && put_recycled(c, key, klen, val, vlen, opts, &rv))
    return rv;
  gsp__entry *fresh = gsp__entry_new(key, klen, val, vlen, true);
  if (fresh == NULL) return GSP_ENOMEM;
  return gsp__put_entry(c, fresh, opts);
}

/* Look the key up and pin its value block; NULL on a miss. Counts stats. */
static gsp__vblock *get_pinned(gsp_cache *c, const void *key, size_t klen) {
  uint64_t h = gsp__cache_hash(key, klen);
  gsp__vblock *vb = NULL;
  gsp__lf_get q = {.pin = &vb, .log_miss = true};
  if (gsp__lf_lookup(c, h, key, klen, &q) != GSP__LF_LOCKED) return vb;
  gsp__shard *sh = gsp__cache_shard(c, h);
  gsp__graveyard g = {0};
  gsp__shard_lock(c, sh);
  gsp__entry *e = gsp__lookup_locked(c, sh, h, key, klen, &g);
  if (e != NULL) {
    gsp__count_hit_locked(sh, e);
    vb = gsp__entry_vb(e);
    gsp__vblock_pin(vb);
  } else {
    gsp__count_miss_locked(sh, h);
  }
  gsp__shard_unlock(c, sh, &g);
  return vb;
}

int gsp_cache_get(gsp_cache *c, const void *key, size_t klen, gsp_cache_ref **out) {
  if (c == NULL || out == NULL || bad_key(key, klen)) return GSP_EINVAL;
  if (c->cfg.strategy == GSP_CACHE_WEAK) return GSP_ENOTSUP;
  gsp__vblock *vb = get_pinned(c, key, klen);
  *out = (gsp_cache_ref *)vb;
  return vb != NULL ? GSP_OK : GSP_ENOENT;
}

const void *gsp_cache_ref_value(const gsp_cache_ref *r, size_t *vlen) {
  const gsp__vblock *vb = (const gsp__vblock *)r;
  if (vlen != NULL) *vlen = vb->vlen;
  return gsp__vblock_data(vb);
}

const void *gsp_cache_ref_key(const gsp_cache_ref *r, size_t *klen) {
  const gsp__entry *home = gsp__vblock_home((const gsp__vblock *)r);
  if (klen != NULL) *klen = home->klen;
  return gsp__entry_key(home);
}

void gsp_cache_ref_release(gsp_cache_ref *r) { gsp__vblock_unref((gsp__vblock *)r); }

/* Copy a hit's value: small ones now, under the lock; a large one is
 * pinned into *big and copied by the caller after unlocking. */
static int copy_hit_locked(gsp__shard *sh, gsp__entry *e, void *buf, size_t cap, size_t *vlen,
                           gsp__vblock **big) {
  gsp__vblock *vb = gsp__entry_vb(e);
  gsp__count_hit_locked(sh, e);
  *vlen = vb->vlen;
  if (vb->vlen > cap) return GSP_ERANGE;
  if (vb->vlen > SMALL_COPY) {
    gsp__vblock_pin(vb);
    *big = vb;
  } else if (vb->vlen != 0) {
    memcpy(buf, gsp__vblock_data(vb), vb->vlen);
  }
  return GSP_OK;
}

int gsp_cache_get_copy(gsp_cache *c, const void *key, size_t klen, void *buf, size_t cap,
                       size_t *vlen) {
  if (c == NULL || vlen == NULL || bad_key(key, klen) || (buf == NULL && cap != 0))
    return GSP_EINVAL;
  if (c->cfg.strategy == GSP_CACHE_WEAK) return GSP_ENOTSUP;
  uint64_t h = gsp__cache_hash(key, klen);
  gsp__lf_get q = {.buf = buf, .cap = cap, .log_miss = true};
  int got = gsp__lf_lookup(c, h, key, klen, &q);
  if (got == GSP__LF_MISS) return GSP_ENOENT;
  if (got == GSP__LF_HIT) {
    *vlen = q.vlen;
    return q.rv;
  }
  gsp__shard *sh = gsp__cache_shard(c, h);
  gsp__graveyard g = {0};
  int rv = GSP_ENOENT;
  gsp__vblock *big = NULL;
  gsp__shard_lock(c, sh);
  gsp__entry *e = gsp__lookup_locked(c, sh, h, key, klen, &g);
  if (e != NULL) {
    rv = copy_hit_locked(sh, e, buf, cap, vlen, &big);
  } else {
    gsp__count_miss_locked(sh, h);
  }
  gsp__shard_unlock(c, sh, &g);
  if (big != NULL) {
    memcpy(buf, gsp__vblock_data(big), big->vlen);
    gsp__vblock_unref(big);
  }
  return rv;
}

bool gsp_cache_contains(gsp_cache *c, const void *key, size_t klen) {
  if (c == NULL || bad_key(key, klen)) return false;
  uint64_t h = gsp__cache_hash(key, klen);
  if (gsp__lf_contains(c, h, key, klen)) return true;
  gsp__shard *sh = gsp__cache_shard(c, h);
  gsp__graveyard g = {0};
  gsp__shard_lock(c, sh);
  gsp__entry *e = gsp__lookup_locked(c, sh, h, key, klen, &g);
  bool found = e != NULL && (e->has_home || gsp_rc_alive(e->weak->rc));
  gsp__shard_unlock(c, sh, &g);
  return found;
}

int gsp_cache_delete(gsp_cache *c, const void *key, size_t klen) {
  if (c == NULL || bad_key(key, klen)) return GSP_EINVAL;
  uint64_t h = gsp__cache_hash(key, klen);
  gsp__shard *sh = gsp__cache_shard(c, h);
  gsp__graveyard g = {0};
  gsp__shard_lock(c, sh);
  gsp__entry *e = gsp__lookup_locked(c, sh, h, key, klen, &g);
  if (e != NULL) gsp__unlink_locked(sh, e, GSP_CACHE_DELETED, &g);
  gsp__shard_unlock(c, sh, &g);
  return e != NULL ? GSP_OK : GSP_ENOENT;
}

/* Unlink every entry of the shard (or every expired one); returns how many. */
static size_t sweep_shard(gsp_cache *c, gsp__shard *sh, bool only_expired) {
  gsp__graveyard g = {0};
  size_t n = 0;
  uint64_t now = only_expired ? gsp__cache_now(c) : 0;
  gsp__shard_lock(c, sh);
  gsp__table *t = shard_table(sh);
  for (size_t i = 0; i <= t->mask; i++) {
    gsp__entry *e = atomic_load_explicit(&t->b[i], memory_order_relaxed);
    while (e != NULL) {
      gsp__entry *next = atomic_load_explicit(&e->hnext, memory_order_relaxed);
      uint64_t x = gsp__entry_expire(e);
      bool dead = x != 0 && now >= x;
      if (!only_expired || dead) {
        gsp__unlink_locked(sh, e, only_expired ? GSP_CACHE_EXPIRED : GSP_CACHE_DELETED, &g);
        n++;
      }
      e = next;
    }
  }
  gsp__shard_unlock(c, sh, &g);
  return n;
}

void gsp_cache_clear(gsp_cache *c) {
  if (c == NULL) return;
  for (unsigned i = 0; i < c->nshards; i++) sweep_shard(c, &c->shards[i], false);
  gsp__lf_reclaim_all(c);
}

size_t gsp_cache_expire(gsp_cache *c) {
  size_t n = 0;
  if (c == NULL) return 0;
  for (unsigned i = 0; i < c->nshards; i++) n += sweep_shard(c, &c->shards[i], true);
  if (n != 0) gsp__lf_reclaim_all(c);
  return n;
}

/* Evict from one shard, in policy order, until `want` bytes went or it is
 * empty; returns the bytes freed. */
static uint64_t shrink_shard(gsp_cache *c, gsp__shard *sh, uint64_t want) {
  gsp__graveyard g = {0};
  uint64_t freed = 0;
  gsp__shard_lock(c, sh);
  while (freed < want && sh->count > 0) {
    gsp__entry *v = sh->pol.ops->victim(&sh->pol);
    if (v == NULL) break;
    freed += gsp__entry_bytes(v);
    gsp__unlink_locked(sh, v, GSP_CACHE_EVICTED, &g);
  }
  gsp__shard_unlock(c, sh, &g);
  return freed;
}

/* Memory-pressure reclaim wants the memory back now, not at the next
 * epoch: the evicted entries are freed before returning (bounded wait). */
uint64_t gsp_cache_shrink(gsp_cache *c, uint64_t bytes) {
  if (c == NULL || bytes == 0 || c->cfg.strategy == GSP_CACHE_WEAK) return 0;
  uint64_t freed = 0, share = bytes / c->nshards + (bytes % c->nshards != 0);
  bool progress = true;
  while (freed < bytes && progress) {
    progress = false;
    for (unsigned i = 0; i < c->nshards && freed < bytes; i++) {
      uint64_t got = shrink_shard(c, &c->shards[i], share);
      freed += got;
      progress = progress || got > 0;
    }
  }
  if (freed != 0) gsp__lf_reclaim_all(c);
  return freed;
}
