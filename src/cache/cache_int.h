/*
 * cache_int.h - private interface between the cache core (cache.c) and the
 * eviction policies (policy_*.c).
 *
 * The core owns the hash table, the locks, statistics, TTL checks and the
 * life of entries. A policy owns only the order in which entries leave: it
 * is told about inserts, hits, updates and removals, and asked for a victim
 * when the shard is over capacity. Every policy call happens with the shard
 * lock held, so policies are plain single-threaded code.
 *
 * Capacity is counted in "units": an entry's `charge` (1 per entry when the
 * cache is bounded by count, key+value+overhead bytes when bounded by bytes,
 * or the caller's explicit charge). A policy keeps its own segment sizes in
 * the same units.
 */
#ifndef GSP_CACHE_INT_H
#define GSP_CACHE_INT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gsperf/cache.h"
#include "gsperf/common.h"

typedef struct gsp__entry gsp__entry;

/* Per-entry policy state (32 bytes). The fields mean what the owning
 * policy says; the union holds fields of policies that never share them. */
typedef struct gsp__pnode {
  gsp__entry *prev;
  gsp__entry *next;
  union {
    void *owner;  /* LFU: the entry's frequency node */
    uint64_t aux; /* TTL: heap index */
  };
  uint32_t freq; /* access counter where a policy needs one */
  uint8_t seg;   /* which queue / segment the entry sits in */
} gsp__pnode;

/*
 * A value block. Every block is embedded in the header of the entry that
 * was created with it (its "home", field hvb), and its bytes follow that
 * entry's key, so a put costs one allocation and a hit or an eviction
 * touches one allocation. Pins count on the block, never on the entry, so
 * a pinned reader keeps its value while a put gives the entry another
 * value or the entry leaves.
 *
 * refs counts: 1 while it is some entry's current value (e->vb), 1 while
 * its home entry has not been freed, and 1 per pin. When it drops to 0 the
 * whole home allocation is freed; so an entry's memory lives on, after the
 * entry is gone, exactly while its first value is still pinned or current
 * elsewhere. The key of a block is its home entry's key.
 */
typedef struct gsp__vblock {
  atomic_uint refs;
  uint32_t reserved;
  size_t vlen;        /* the bytes follow the home entry's key: gsp__vblock_data() */
  uint64_t expire_ns; /* the expiry this value was put with (0 = never); it is the
                         entry's expiry while the block is current, and lock-free
                         readers see value and expiry as one immutable pair */
} gsp__vblock;

/* The link of memory waiting for its readers to leave (cache_lf.c). */
typedef struct gsp__retired {
  struct gsp__retired *next;
  uint64_t tag; /* gsp__ebr_tag() at retirement */
} gsp__retired;

/* Keys up to this many bytes live inside the entry header. */
#define GSP__KEY_INLINE 8u

/*
 * An entry, 112 bytes of header. The first 64 bytes hold everything a
 * lookup reads: chain link, hash, length, a short key inline, the value
 * pointer and the embedded value block's header (or, for a WEAK entry, its
 * link to the object); the next 48 what only writers touch: charge, policy
 * node, chain back link. Then a long key (over GSP__KEY_INLINE bytes), then
 * the value bytes, so a hit on an 8-byte key with a value of up to 16 bytes
 * reads two cache lines of its entry. One allocation per entry.
 *
 * Lock-free readers (cache_lf.c) read hnext, hash, klen, the key and vb
 * while writers hold the shard lock: hnext and vb are atomics written with
 * release order; hash, klen and the key never change while the entry is
 * reachable. Once unlinked, the policy node's space holds the retirement
 * link (rn); hnext is left intact for readers still walking through.
 */
struct gsp__entry {
  _Atomic(gsp__entry *) hnext;        /* hash chain; written under the shard lock */
  uint64_t hash;                      /* XXH3 of the key */
  uint32_t klen;                      /* */
  uint8_t linked;                     /* in the hash table (under shard lock) */
  uint8_t reason;                     /* why it left (gsp_cache_reason), once unlinked */
  uint8_t has_home;                   /* carries an embedded value block */
  unsigned char kin[GSP__KEY_INLINE]; /* the key when klen <= GSP__KEY_INLINE */
  _Atomic(gsp__vblock *) vb;          /* current value; NULL for WEAK entries */
  union {
    gsp__vblock hvb;        /* value entries (has_home): the home value block */
    struct gsp__weak *weak; /* WEAK entries (no home): the link to the object */
  };
  uint64_t charge; /* units counted against capacity */
  union {
    gsp__pnode pn;   /* policy state while linked */
    gsp__retired rn; /* graveyard and retirement link once unlinked */
  };
  _Atomic(gsp__entry *) *hpprev; /* the link that points at this entry (O(1) unlink) */
  unsigned char key[];           /* a long key, then the home value's bytes */
};

_Static_assert(offsetof(gsp__entry, charge) == 64, "a lookup reads one line of the header");
_Static_assert(sizeof(gsp__entry) == 112, "entry header size");

/* Bytes a long key takes before the value (0 for an inline key). */
static inline size_t gsp__long_key_bytes(size_t klen) {
  return klen > GSP__KEY_INLINE ? (klen + 7u) & ~(size_t)7u : 0;
}

/* The entry a value block lives in. */
static inline gsp__entry *gsp__vblock_home(const gsp__vblock *vb) {
  return (gsp__entry *)(void *)((const char *)vb - offsetof(gsp__entry, hvb));
}

/* The current value block; under the shard lock or in a read section. */
static inline gsp__vblock *gsp__entry_vb(const gsp__entry *e) {
  return atomic_load_explicit(&e->vb, memory_order_acquire);
}

static inline gsp__entry *gsp__entry_of_rn(gsp__retired *r) {
  return (gsp__entry *)(void *)((char *)r - offsetof(gsp__entry, rn));
}

/* A value block's bytes, after its home entry's key. */
static inline unsigned char *gsp__vblock_data(const gsp__vblock *vb) {
  gsp__entry *home = gsp__vblock_home(vb);
  return home->key + gsp__long_key_bytes(home->klen);
}

static inline const unsigned char *gsp__entry_key(const gsp__entry *e) {
  return e->klen <= GSP__KEY_INLINE ? e->kin : e->key;
}

/* Start loading the header of the entry a policy will most likely name as
 * its next victim (the new tail or head of a queue after an eviction). A
 * victim is the coldest entry of its shard, so its lines are rarely cached;
 * the next eviction of the shard, one put later, then finds them loaded
 * instead of waiting on three misses (chain link, policy node, neighbour).
 * Only a hint: e may move before then. */
static inline void gsp__prefetch_victim(const gsp__entry *e) {
  const char *p = (const char *)e;
  __builtin_prefetch(p, 1, 1);
  __builtin_prefetch(p + 64, 1, 1);
  __builtin_prefetch(p + sizeof(gsp__entry) - 1, 1, 1);
}

/* An intrusive list of entries through pn.prev/pn.next, newest at head. */
typedef struct gsp__elist {
  gsp__entry *head;
  gsp__entry *tail;
} gsp__elist;

static inline void gsp__elist_push_head(gsp__elist *l, gsp__entry *e) {
  e->pn.prev = NULL;
  e->pn.next = l->head;
  if (l->head != NULL)
    l->head->pn.prev = e;
  else
    l->tail = e;
  l->head = e;
}

static inline void gsp__elist_remove(gsp__elist *l, gsp__entry *e) {
  if (e->pn.prev != NULL)
    e->pn.prev->pn.next = e->pn.next;
  else
    l->head = e->pn.next;
  if (e->pn.next != NULL)
    e->pn.next->pn.prev = e->pn.prev;
  else
    l->tail = e->pn.prev;
  e->pn.prev = e->pn.next = NULL;
}

typedef struct gsp__policy gsp__policy;

typedef struct gsp__policy_ops {
  const char *name;
  /* true: the core makes room (asks for victims) before linking a new
   * entry; false: it links first and then asks, so victim() may name the
   * new entry (admission control). */
  bool evict_first;
  /* Allocate policy state for a shard of `capacity` units. */
  int (*init)(gsp__policy *p, uint64_t capacity);
  void (*fini)(gsp__policy *p);
  /* A new entry entered the shard. May fail only with GSP_ENOMEM, in which
   * case the core drops the entry and reports the error. */
  int (*on_insert)(gsp__policy *p, gsp__entry *e);
  void (*on_hit)(gsp__policy *p, gsp__entry *e);
  /* An existing entry's value (and maybe charge) was replaced. */
  void (*on_update)(gsp__policy *p, gsp__entry *e, uint64_t old_charge);
  /* The entry leaves (delete, expiry, eviction); unlink it. */
  void (*on_remove)(gsp__policy *p, gsp__entry *e);
  /* A lookup missed on this hash (for history-keeping policies); may be NULL. */
  void (*on_miss)(gsp__policy *p, uint64_t hash);
  /* Prefetch what on_miss(hash) will touch; may be NULL. The one call made
   * WITHOUT the shard lock (by a lock-free reader logging a miss): it may
   * read only state fixed at init and must not write. */
  void (*prefetch_miss)(const gsp__policy *p, uint64_t hash);
  /* The entry that should leave next, still linked; NULL if empty.
   * The core calls on_remove on it before freeing. */
  gsp__entry *(*victim)(gsp__policy *p);
} gsp__policy_ops;

struct gsp__policy {
  const gsp__policy_ops *ops;
  uint64_t capacity; /* units */
  uint64_t used;     /* units held by linked entries (kept by the core) */
  void *state;       /* the policy's own data */
};

extern const gsp__policy_ops gsp__policy_lru;
extern const gsp__policy_ops gsp__policy_fifo;
extern const gsp__policy_ops gsp__policy_lfu;
extern const gsp__policy_ops gsp__policy_ttl;
extern const gsp__policy_ops gsp__policy_adaptive;

#endif
