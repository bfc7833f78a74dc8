/*
 * cache_lf.c - the lock-free read path: lookups without the shard lock,
 * hits logged in read buffers, and deferred freeing of what readers may
 * still see.
 *
 * Design (after Caffeine's read buffers, with epoch-based reclamation).
 *   Lookup. A get enters an EBR read section (cache_ebr.c: two stores to
 *   the thread's own cache line), walks the shard's current hash table and
 *   chain with acquire loads, compares the key, loads the entry's value
 *   block and checks the expiry stored in that block (value and expiry are
 *   one immutable pair, so a concurrent put can never pair an old value with
 *   a new expiry). The value is copied out, or pinned, inside the section.
 *   A walk that finds nothing is a certain miss when no rehash overlapped
 *   it (tab_seq, below): get and get_copy then answer GSP_ENOENT without the
 *   lock and log the miss like a hit (counted, and replayed to policies
 *   that keep history, ADAPTIVE's sketch and ghost, in order with the hits,
 *   so the next put of that key sees exactly what it would have). Anything
 *   else (an expired entry, a rehash in between, no EBR slot, the hit of
 *   get_or_compute's miss) goes to the locked path, which unlinks expired
 *   entries and runs single-flight.
 *   Hit log. The reader appends {entry, hash} to one of the shard's stripes
 *   (a bounded ring, one CAS on a line its thread mostly owns alone) and
 *   leaves. A drain replays a ring in order: it counts the hit and, if the
 *   entry is still linked in the table (checked by looking for the pointer
 *   in its chain, never dereferencing a record), calls the policy's on_hit.
 *   Every locked operation starts by draining the stripe of its own thread
 *   (one cache line to look at; reading all four on every put cost about a
 *   third of a miss+put); a reader that finds its ring full try-locks the
 *   shard and drains all stripes, and so does a statistics snapshot. If the
 *   lock is busy the hit is counted in `extra` and its recency/frequency
 *   information dropped (as Caffeine does). With one thread the lock is
 *   always free and every logged hit is applied before that thread's next
 *   miss, put, delete or eviction, in the order it happened, so a
 *   single-threaded replay sees exactly the policy decisions of a cache
 *   that applies each hit at once. Other threads' hits reach the policy
 *   when their ring fills or they take the lock on that shard. Policies that
 *   ignore hits (FIFO, TTL) only count them in `extra`.
 *   Reclamation. Unlinked entries, replaced values (through the donor entry
 *   that brought the new value, whose `vb` then holds the old one) and old
 *   tables go to the shard's limbo with an EBR tag, under the lock, and
 *   leave it once the epoch has moved two steps past the tag. A shard tries
 *   to advance the epoch every ADVANCE_EVERY retirements (one membarrier()),
 *   or sooner when its limbo holds more than LIMBO_BYTES.
 *   Recycling. An entry leaving the limbo whose block nobody else holds
 *   (its own value current and unpinned) goes to the shard's pool for its
 *   size class (a LIFO list, at most POOL_MAX blocks per class) instead of
 *   free(); a put of a small value whose shard has a block of its class
 *   takes it under the lock and fills it there (gsp_cache_put), so a full
 *   cache's miss+put allocates and frees nothing and writes into memory an
 *   eviction of the same shard released a moment ago. Entry blocks are
 *   allocated at their class size (gsp__entry_size), so any block of a
 *   class fits any entry of that class. Pools are emptied by destroy and
 *   by gsp__lf_reclaim_all (shrink, clear, expire).
 *
 * Invariants: a hit is counted exactly once (ring record or `extra`); a
 * record is applied only to an entry found linked in its shard; memory in
 * a limbo or a pool is not reachable from the table; nothing is freed or
 * reused while a reader that could reach it is in its section; a pooled
 * block holds no pin and no other entry's value.
 */
#include <string.h>

#include "cache_core.h"

#define ADVANCE_EVERY 64u               /* retirements between epoch advance attempts */
#define LIMBO_BYTES ((uint64_t)1 << 20) /* retired bytes that hurry an attempt */
#define POOL_MAX 32u                    /* blocks a shard keeps per size class */

/* ---- readers ---------------------------------------------------------- */

static gsp__entry *lf_find(gsp__shard *sh, uint64_t h, const void *key, size_t klen) {
  gsp__table *t = atomic_load_explicit(&sh->tab, memory_order_acquire);
  gsp__entry *e = atomic_load_explicit(&t->b[h & t->mask], memory_order_acquire);
  while (e != NULL) {
    if (e->hash == h && e->klen == klen && gsp__key_equal(gsp__entry_key(e), key, klen)) return e;
    e = atomic_load_explicit(&e->hnext, memory_order_acquire);
  }
  return NULL;
}

static bool vb_live(const gsp_cache *c, const gsp__vblock *vb) {
  return vb->expire_ns == 0 || gsp__cache_now(c) < vb->expire_ns;
}

/* Reserve a ring slot and write the record; false when the ring is full. */
static bool ring_push(gsp__stripe *s, gsp__entry *e, uint64_t h) {
  uint64_t t = atomic_load_explicit(&s->tail, memory_order_relaxed);
  for (;;) {
    uint64_t hd = atomic_load_explicit(&s->head, memory_order_acquire);
    if (t - hd >= GSP__RING) return false;
    if (atomic_compare_exchange_weak_explicit(&s->tail, &t, t + 1, memory_order_relaxed,
                                              memory_order_relaxed))
      break;
  }
  gsp__hitrec *r = &s->rec[t & (GSP__RING - 1)];
  atomic_store_explicit(&r->hash, h, memory_order_relaxed);
  atomic_store_explicit(&r->e, e, memory_order_release);
  return true;
}

/* A ring record for a miss (the drain calls the policy's on_miss). */
static const char miss_mark;
#define MISS_MARK ((gsp__entry *)(void *)&miss_mark)

static bool linked_in(const gsp__shard *sh, const gsp__entry *e, uint64_t h) {
  gsp__table *t = atomic_load_explicit(&sh->tab, memory_order_relaxed);
  gsp__entry *x = atomic_load_explicit(&t->b[h & t->mask], memory_order_relaxed);
  while (x != NULL && x != e) x = atomic_load_explicit(&x->hnext, memory_order_relaxed);
  return x != NULL;
}

/* The ring was full: drain it ourselves if the lock is free, else drop. */
static void log_hit_slow(gsp_cache *c, gsp__shard *sh, gsp__stripe *s, gsp__entry *e, uint64_t h) {
  if (pthread_mutex_trylock(&sh->lock) != 0) {
    atomic_fetch_add_explicit(&s->extra, 1, memory_order_relaxed);
    return;
  }
  gsp__lf_drain_locked(c, sh, true);
  if (e->linked)
    gsp__count_hit_locked(sh, e);
  else
    sh->st.hits++;
  pthread_mutex_unlock(&sh->lock);
}

static void log_hit(gsp_cache *c, gsp__shard *sh, const gsp__ebr_slot *me, gsp__entry *e,
                    uint64_t h) {
  gsp__stripe *s = &sh->stripe[me->id & (GSP__STRIPES - 1)];
  if (!c->log_hits)
    atomic_fetch_add_explicit(&s->extra, 1, memory_order_relaxed);
  else if (!ring_push(s, e, h))
    log_hit_slow(c, sh, s, e, h);
}

static void serve(const gsp__vblock *vb, gsp__lf_get *q) {
  q->vlen = vb->vlen;
  q->rv = GSP_OK;
  if (q->pin != NULL) {
    /* vb is some entry's current value for at least as long as this
     * section lasts (dropping that reference is deferred), so refs > 0 */
    gsp__vblock_pin((gsp__vblock *)vb);
    *q->pin = (gsp__vblock *)vb;
  } else if (vb->vlen > q->cap) {
    q->rv = GSP_ERANGE;
  } else if (vb->vlen != 0) {
    memcpy(q->buf, gsp__vblock_data(vb), vb->vlen);
  }
}

/* A certain miss: log it (policies that keep history get it through the
 * ring, in order with the hits); false when it must go to the locked path. */
static bool log_miss(gsp_cache *c, gsp__shard *sh, const gsp__ebr_slot *me, uint64_t h) {
  gsp__stripe *s = &sh->stripe[me->id & (GSP__STRIPES - 1)];
  if (sh->pol.ops->on_miss == NULL) {
    atomic_fetch_add_explicit(&s->misses, 1, memory_order_relaxed);
    return true;
  }
  if (sh->pol.ops->prefetch_miss != NULL) sh->pol.ops->prefetch_miss(&sh->pol, h);
  if (ring_push(s, MISS_MARK, h)) return true;
  if (pthread_mutex_trylock(&sh->lock) != 0) return false;
  gsp__lf_drain_locked(c, sh, true);
  gsp__count_miss_locked(sh, h);
  pthread_mutex_unlock(&sh->lock);
  return true;
}

/*
 * A miss is certain when the walk found nothing and no rehash overlapped it
 * (tab_seq even and unchanged): a rehash moves entries between chains, and
 * a reader crossing it may miss a present key. The writer makes tab_seq odd
 * before it moves anything and moves with release stores, which the walk
 * loads with acquire, so a walk that saw a moved link sees the odd (or a
 * later) value when it loads tab_seq again.
 */
static int lf_miss(gsp_cache *c, gsp__shard *sh, const gsp__ebr_slot *me, uint64_t h,
                   uint64_t seq) {
  if ((seq & 1u) || atomic_load_explicit(&sh->tab_seq, memory_order_acquire) != seq)
    return GSP__LF_LOCKED;
  return log_miss(c, sh, me, h) ? GSP__LF_MISS : GSP__LF_LOCKED;
}

int gsp__lf_lookup(gsp_cache *c, uint64_t h, const void *key, size_t klen, gsp__lf_get *q) {
  if (!c->lockfree) return GSP__LF_LOCKED;
  gsp__ebr_slot *me = gsp__ebr_enter();
  if (me == NULL) return GSP__LF_LOCKED;
  gsp__shard *sh = gsp__cache_shard(c, h);
  uint64_t seq = atomic_load_explicit(&sh->tab_seq, memory_order_acquire);
  gsp__entry *e = lf_find(sh, h, key, klen);
  gsp__vblock *vb = e != NULL ? gsp__entry_vb(e) : NULL;
  int got = GSP__LF_LOCKED;
  if (vb != NULL && vb_live(c, vb)) {
    serve(vb, q);
    log_hit(c, sh, me, e, h);
    got = GSP__LF_HIT;
  } else if (e == NULL && q->log_miss) {
    got = lf_miss(c, sh, me, h, seq);
  }
  gsp__ebr_exit(me);
  return got;
}

bool gsp__lf_contains(gsp_cache *c, uint64_t h, const void *key, size_t klen) {
  if (!c->lockfree) return false;
  gsp__ebr_slot *me = gsp__ebr_enter();
  if (me == NULL) return false;
  gsp__entry *e = lf_find(gsp__cache_shard(c, h), h, key, klen);
  gsp__vblock *vb = e != NULL ? gsp__entry_vb(e) : NULL;
  bool live = vb != NULL && vb_live(c, vb);
  gsp__ebr_exit(me);
  return live;
}

/* ---- the drain (under the shard lock) --------------------------------- */

static void drain_stripe_locked(gsp__shard *sh, gsp__stripe *s) {
  uint64_t hd = atomic_load_explicit(&s->head, memory_order_relaxed);
  uint64_t t = atomic_load_explicit(&s->tail, memory_order_acquire);
  for (; hd != t; hd++) {
    gsp__hitrec *r = &s->rec[hd & (GSP__RING - 1)];
    gsp__entry *e = atomic_load_explicit(&r->e, memory_order_acquire);
    if (e == NULL) break; /* reserved, not yet written: next drain */
    uint64_t h = atomic_load_explicit(&r->hash, memory_order_relaxed);
    atomic_store_explicit(&r->e, NULL, memory_order_relaxed);
    if (e == MISS_MARK)
      gsp__count_miss_locked(sh, h);
    else if (sh->st.hits++, linked_in(sh, e, h))
      sh->pol.ops->on_hit(&sh->pol, e);
  }
  atomic_store_explicit(&s->head, hd, memory_order_release);
}

static void drain_one_locked(gsp__shard *sh, gsp__stripe *s) {
  if (atomic_load_explicit(&s->extra, memory_order_relaxed) != 0)
    sh->st.hits += atomic_exchange_explicit(&s->extra, 0, memory_order_relaxed);
  if (atomic_load_explicit(&s->misses, memory_order_relaxed) != 0)
    sh->st.misses += atomic_exchange_explicit(&s->misses, 0, memory_order_relaxed);
  if (atomic_load_explicit(&s->tail, memory_order_relaxed) !=
      atomic_load_explicit(&s->head, memory_order_relaxed))
    drain_stripe_locked(sh, s);
}

void gsp__lf_drain_locked(gsp_cache *c, gsp__shard *sh, bool all) {
  if (!c->lockfree) return;
  if (all) {
    for (unsigned i = 0; i < GSP__STRIPES; i++) drain_one_locked(sh, &sh->stripe[i]);
  } else if (gsp__ebr_self != NULL) {
    drain_one_locked(sh, &sh->stripe[gsp__ebr_self->id & (GSP__STRIPES - 1)]);
  }
}

/* ---- limbo -------------------------------------------------------------- */

static void limbo_push(gsp__limbo *l, gsp__retired *r, uint64_t tag, uint64_t bytes) {
  r->tag = tag;
  r->next = NULL;
  if (l->tail != NULL)
    l->tail->next = r;
  else
    l->head = r;
  l->tail = r;
  l->count++;
  l->bytes += bytes;
}

static uint64_t retired_bytes(const gsp__entry *e) {
  const gsp__vblock *vb = atomic_load_explicit(&e->vb, memory_order_relaxed);
  return sizeof *e + e->klen + (vb != NULL ? vb->vlen : 0);
}

/* Detach the safe prefix of l (tags only grow along the list). */
static gsp__retired *limbo_take_safe(gsp__limbo *l, bool entries) {
  gsp__retired *first = l->head, *last = NULL;
  for (gsp__retired *r = l->head; r != NULL && gsp__ebr_safe(r->tag); r = r->next) {
    last = r;
    l->count--;
    if (entries) l->bytes -= retired_bytes(gsp__entry_of_rn(r));
  }
  if (last == NULL) return NULL;
  l->head = last->next;
  if (l->head == NULL) l->tail = NULL;
  last->next = NULL;
  return first;
}

/* ---- recycling pools ------------------------------------------------------ */

static unsigned pool_class(size_t size) { return (unsigned)((size - sizeof(gsp__entry)) / 16u); }

bool gsp__pool_may_have(gsp__shard *sh, size_t size) {
  unsigned k = pool_class(size);
  return k < GSP__POOL_CLASSES && atomic_load_explicit(&sh->pool_n[k], memory_order_relaxed) != 0;
}

gsp__entry *gsp__pool_take_locked(gsp__shard *sh, size_t size) {
  unsigned k = pool_class(size);
  if (k >= GSP__POOL_CLASSES || sh->pool[k] == NULL) return NULL;
  gsp__retired *r = sh->pool[k];
  sh->pool[k] = r->next;
  uint32_t n = atomic_load_explicit(&sh->pool_n[k], memory_order_relaxed);
  atomic_store_explicit(&sh->pool_n[k], n - 1, memory_order_relaxed);
  return gsp__entry_of_rn(r);
}

/* A reclaimed entry whose block nobody else holds: no reader can reach it,
 * its own value is its current one and is not pinned (as in the fast path
 * of gsp__entry_free), so the whole block can take a new entry. The class
 * is that of its allocation size. */
static unsigned recycle_class(const gsp__entry *e) {
  if (!e->has_home || atomic_load_explicit(&e->vb, memory_order_relaxed) != &e->hvb ||
      atomic_load_explicit(&e->hvb.refs, memory_order_acquire) != 2)
    return GSP__POOL_CLASSES;
  return pool_class(gsp__entry_size(e->klen, e->hvb.vlen));
}

/* Move what can be reused from a reclaimed list into the pools, newest
 * first out (the warmest memory); returns the rest, to be freed. */
static gsp__retired *pool_keep_locked(gsp__shard *sh, gsp__retired *list) {
  gsp__retired *rest = NULL;
  while (list != NULL) {
    gsp__retired *r = list;
    list = r->next;
    unsigned k = recycle_class(gsp__entry_of_rn(r));
    uint32_t n = k < GSP__POOL_CLASSES ? atomic_load_explicit(&sh->pool_n[k], memory_order_relaxed)
                                       : POOL_MAX;
    if (n < POOL_MAX) {
      r->next = sh->pool[k];
      sh->pool[k] = r;
      atomic_store_explicit(&sh->pool_n[k], n + 1, memory_order_relaxed);
    } else {
      r->next = rest;
      rest = r;
    }
  }
  return rest;
}

/* Empty the pools onto list (their blocks are plain unlinked entries that
 * gsp__entry_free frees at once). Under the shard lock, or at destroy. */
static gsp__retired *pool_take_all(gsp__shard *sh, gsp__retired *list) {
  for (unsigned k = 0; k < GSP__POOL_CLASSES; k++) {
    while (sh->pool[k] != NULL) {
      gsp__retired *r = sh->pool[k];
      sh->pool[k] = r->next;
      r->next = list;
      list = r;
    }
    atomic_store_explicit(&sh->pool_n[k], 0, memory_order_relaxed);
  }
  return list;
}

void gsp__lf_retire_table_locked(gsp__shard *sh, gsp__table *t) {
  limbo_push(&sh->old_tabs, &t->rn, gsp__ebr_tag(), 0);
}

void gsp__lf_retire_locked(gsp__shard *sh, gsp__graveyard *g) {
  uint64_t tag = 0;
  if (g->entries != NULL || g->donor != NULL) tag = gsp__ebr_tag();
  while (g->entries != NULL) {
    gsp__retired *r = g->entries;
    g->entries = r->next;
    limbo_push(&sh->limbo, r, tag, retired_bytes(gsp__entry_of_rn(r)));
    sh->retired++;
  }
  if (g->donor != NULL) {
    /* freeing the donor drops the old value's "current" reference */
    atomic_store_explicit(&g->donor->vb, g->old_vb, memory_order_relaxed);
    limbo_push(&sh->limbo, &g->donor->rn, tag, retired_bytes(g->donor));
    g->donor = NULL;
    g->old_vb = NULL;
    sh->retired++;
  }
  g->reclaim = pool_keep_locked(sh, limbo_take_safe(&sh->limbo, true));
  g->tables = limbo_take_safe(&sh->old_tabs, false);
  if (sh->retired >= ADVANCE_EVERY || (sh->limbo.bytes >= LIMBO_BYTES && sh->retired >= 4) ||
      sh->old_tabs.count != 0) {
    g->advance = true;
    sh->retired = 0;
  }
}

static void free_entries(gsp__retired *r) {
  while (r != NULL) {
    gsp__retired *next = r->next;
    gsp__entry_free(gsp__entry_of_rn(r));
    r = next;
  }
}

static void free_tables(gsp__retired *r) {
  while (r != NULL) {
    gsp__retired *next = r->next;
    gsp_free(r); /* rn is the table's first member */
    r = next;
  }
}

void gsp__lf_reclaim(gsp__graveyard *g) {
  free_entries(g->reclaim);
  free_tables(g->tables);
  g->reclaim = g->tables = NULL;
  if (g->advance) (void)gsp__ebr_try_advance();
  g->advance = false;
}

void gsp__lf_limbo_free_all(gsp__shard *sh) {
  free_entries(sh->limbo.head);
  free_tables(sh->old_tabs.head);
  free_entries(pool_take_all(sh, NULL));
  sh->limbo = (gsp__limbo){0};
  sh->old_tabs = (gsp__limbo){0};
}

void gsp__lf_reclaim_all(gsp_cache *c) {
  if (!c->lockfree) return;
  (void)gsp__ebr_wait(gsp__ebr_tag(), 1000);
  for (unsigned i = 0; i < c->nshards; i++) {
    gsp__shard *sh = &c->shards[i];
    gsp__graveyard g = {0};
    pthread_mutex_lock(&sh->lock);
    g.reclaim = pool_take_all(sh, limbo_take_safe(&sh->limbo, true));
    g.tables = limbo_take_safe(&sh->old_tabs, false);
    pthread_mutex_unlock(&sh->lock);
    gsp__lf_reclaim(&g);
  }
}
