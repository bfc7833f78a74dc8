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
  size_t vlen;
  unsigned char *data; /* vlen bytes inside the home allocation */
} gsp__vblock;

/* Keys up to this many bytes live inside the entry header. */
#define GSP__KEY_INLINE 16u

/*
 * An entry. The first 64 bytes hold everything a lookup reads: chain link,
 * hash, length, a short key inline, the value pointer and the expiry; the
 * second 64 bytes what an eviction touches: policy node, chain back link
 * and the embedded value block's header
 * (or, for a WEAK entry, its link to the object). Then a long key (over
 * GSP__KEY_INLINE bytes), then the value bytes. One allocation per entry.
 */
struct gsp__entry {
  gsp__entry *hnext; /* hash chain, under shard lock */
  uint64_t hash;     /* XXH3 of the key */
  uint32_t klen;
  uint8_t linked;                     /* in the hash table (under shard lock) */
  uint8_t reason;                     /* why it left (gsp_cache_reason), once unlinked */
  uint8_t has_home;                   /* carries an embedded value block */
  unsigned char kin[GSP__KEY_INLINE]; /* the key when klen <= GSP__KEY_INLINE */
  gsp__vblock *vb;                    /* current value; NULL for WEAK entries */
  uint64_t expire_ns;                 /* 0 = never; absolute cache-clock time */
  uint64_t charge;                    /* units counted against capacity */
  gsp__pnode pn;                      /* policy state */
  gsp__entry **hpprev;                /* the link that points at this entry (O(1) unlink) */
  union {
    gsp__vblock hvb;        /* value entries (has_home): the home value block */
    struct gsp__weak *weak; /* WEAK entries (no home): the link to the object */
  };
  unsigned char key[]; /* a long key, then the home value's bytes */
};

/* The entry a value block lives in. */
static inline gsp__entry *gsp__vblock_home(const gsp__vblock *vb) {
  return (gsp__entry *)(void *)((const char *)vb - offsetof(gsp__entry, hvb));
}

static inline const unsigned char *gsp__entry_key(const gsp__entry *e) {
  return e->klen <= GSP__KEY_INLINE ? e->kin : e->key;
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
