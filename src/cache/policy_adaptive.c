/*
 * policy_adaptive.c - the ADAPTIVE eviction policy: S3-FIFO with a
 * frequency-sketch admission duel for keys that come back from the ghost.
 *
 * What it is
 *   A scan- and loop-resistant policy built from two published ideas:
 *   - S3-FIFO (Yang et al., SOSP 2023): a small probationary FIFO queue (S,
 *     10% of capacity) in front of a main queue (M, the rest) run as a FIFO
 *     with lazy promotion (CLOCK-style reinsertion), plus a ghost list that
 *     remembers keys recently dropped from the cache. New keys enter S; a
 *     key that is hit while in S moves to M when it reaches the head of S;
 *     one that is not is dropped and remembered in the ghost. A missed key
 *     that the ghost remembers goes straight into M.
 *   - TinyLFU (Einziger et al., 2017): a count-min sketch of 4-bit counters,
 *     halved every 10 x capacity events, estimates how often each key (cached
 *     or not) was requested recently. It is used at the one place where
 *     S3-FIFO is blind: a ghost-returned key entering a full M pushes out
 *     M's next victim. That entry is admitted only if its estimated frequency
 *     is at least the victim's; otherwise it is itself the victim (admission
 *     rejection), and it goes back into the ghost. Ties are admitted, so a
 *     key that keeps returning gets in; a cold key returned by the ghost
 *     loses against a hot one, which keeps loops and scans from flushing M.
 *   The "adaptive" part is that no split is tuned per workload: S filters
 *   one-hit wonders (good for recency-heavy and scan-heavy traces), the
 *   ghost and the reinsertion bits keep the reused set in M, and the sketch
 *   protects M's frequent keys from ghost churn (loops, mixed scans).
 *
 * Data layout
 *   state: two circular doubly linked lists with heap-allocated sentinel
 *   entries (S and M, head = oldest), their sizes in charge units, the ghost
 *   table, the sketch, and a few scalars.
 *   Per entry (e->pn): prev/next link the entry into S or M; seg says which;
 *   freq is a 0..3 reuse counter (S3-FIFO's 2 bits); aux is unused.
 *   Ghost: 4-way buckets of {32-bit fingerprint, 32-bit eviction stamp}. A
 *   slot is live while fewer evictions than the cache's current entry count
 *   have happened since its stamp, so the ghost remembers about as many keys
 *   as the cache holds, with no list to maintain; a full bucket overwrites
 *   its oldest slot.
 *   Sketch: 16 counters per unit of (capped) capacity, packed 16 to a word,
 *   4 rows addressed by double hashing of the key's 64-bit hash.
 *
 * Algorithm
 *   on_miss(h): count h in the sketch; look it up in (and take it out of)
 *               the ghost, remembering the answer for the insert that follows.
 *   on_insert:  ghost hit -> tail of M, marked "pending" for the duel;
 *               else -> tail of S. freq = 0.
 *   on_hit:     count in the sketch; freq = min(freq + 1, 3). O(1), no
 *               allocation, no list movement.
 *   victim:     1. while S is over its target (or M is empty): the head of
 *                  S moves to M if it was reused, else it is the victim and
 *                  enters the ghost.
 *               2. otherwise scan M from its head: an entry with freq > 0 is
 *                  moved to the tail with freq - 1; the first with freq 0 is
 *                  M's victim.
 *               3. if a pending entry exists, duel: the pending entry is
 *                  returned instead when its sketch estimate is lower.
 *               The entry returned is recorded in the ghost.
 *
 * Trade-offs
 *   FIFO queues make hits free of list surgery (cheaper than LRU under a
 *   lock) at the price of a little recency precision. The ghost is
 *   approximate (fingerprint collisions, bucket overwrites), which only
 *   perturbs placement, never correctness. The sketch costs 4 counter
 *   updates per access.
 *
 * Invariants
 *   - every linked entry is in exactly one of S and M, and seg says which;
 *     q[seg].size is the sum of the charges of the entries in that list.
 *   - victim() returns a linked entry whenever any exists: if M is empty,
 *     step 1 drains S until it evicts or M becomes non-empty; a scan of M
 *     ends after at most 3 passes because every reinsertion lowers a freq.
 *     Reinsertion work is paid for by earlier hits, so victim is O(1)
 *     amortized.
 *   - `pending` is NULL or an entry linked in M; it is cleared on the next
 *     insert, on its removal and after its duel.
 *
 * Memory bound
 *   Let N = min(capacity, 2^20) units. Ghost: 2N rounded up to a power of
 *   two slots of 8 bytes (<= 32 bytes per unit); sketch: 16N rounded up to
 *   a power of two 4-bit counters (<= 16 bytes per unit); plus 2 sentinel
 *   entries and the state struct. All of it is allocated in init; nothing is
 *   allocated afterwards. Byte-bounded shards holding more than 2^20 entries
 *   get a ghost that covers only the last ~2^20 evictions (a graceful loss
 *   of history, not of correctness).
 */
#include "cache_int.h"

enum { SEG_SMALL = 1, SEG_MAIN = 2, NSEG = 3 };

#define SMALL_PERMILLE 100u  /* S target: 10% of capacity */
#define FREQ_MAX 3u          /* S3-FIFO's 2-bit reuse counter */
#define MODEL_CAP (1u << 20) /* units the ghost and sketch are sized for */
#define SKETCH_WIDTH 16u     /* sketch counters per unit */
#define SKETCH_PERIOD 10u    /* halve counters every 10 x capacity events */
#define GHOST_WAYS 4u

typedef struct aq_list {
  gsp__entry *sent; /* sentinel: sent->pn.next is the oldest entry */
  uint64_t size;    /* charge units */
  uint64_t count;   /* entries */
} aq_list;

typedef struct aq_ghost_slot {
  uint32_t fp;    /* 0 = empty */
  uint32_t stamp; /* ghost clock at insertion */
} aq_ghost_slot;

typedef struct aq_state {
  aq_list q[NSEG];
  uint64_t small_target;
  gsp__entry *pending; /* ghost-returned entry awaiting its duel */
  aq_ghost_slot *ghost;
  uint64_t ghost_mask;
  uint64_t ghost_max; /* most live ghost slots that make sense */
  uint32_t ghost_clock;
  bool miss_valid; /* on_miss result for the following on_insert */
  bool miss_in_ghost;
  uint64_t miss_hash;
  uint64_t *sketch; /* 16 four-bit counters per word */
  uint64_t sketch_mask;
  uint64_t sketch_events;
  uint64_t sketch_period;
} aq_state;

/* ---- lists ---------------------------------------------------------- */

static gsp__entry *list_head(const aq_list *l) {
  gsp__entry *e = l->sent->pn.next;
  return e == l->sent ? NULL : e;
}

static void list_unlink(aq_list *l, gsp__entry *e) {
  e->pn.prev->pn.next = e->pn.next;
  e->pn.next->pn.prev = e->pn.prev;
  e->pn.prev = NULL;
  e->pn.next = NULL;
  l->size -= e->charge;
  l->count--;
}

static void list_push_tail(aq_list *l, gsp__entry *e) {
  gsp__entry *last = l->sent->pn.prev;
  e->pn.prev = last;
  e->pn.next = l->sent;
  last->pn.next = e;
  l->sent->pn.prev = e;
  l->size += e->charge;
  l->count++;
}

static int list_init(aq_list *l) {
  l->sent = gsp_calloc(1, sizeof(gsp__entry));
  if (l->sent == NULL) return GSP_ENOMEM;
  l->sent->pn.next = l->sent;
  l->sent->pn.prev = l->sent;
  return GSP_OK;
}

static void move_to(aq_state *s, gsp__entry *e, uint8_t seg) {
  list_unlink(&s->q[e->pn.seg], e);
  e->pn.seg = seg;
  list_push_tail(&s->q[seg], e);
}

/* ---- frequency sketch ----------------------------------------------- */

static uint64_t mix64(uint64_t x) {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdULL;
  x ^= x >> 33;
  x *= 0xc4ceb9fe1a85ec53ULL;
  return x ^ (x >> 33);
}

static unsigned counter_get(const aq_state *s, uint64_t c) {
  return (unsigned)(s->sketch[c >> 4] >> ((c & 15u) * 4u)) & 15u;
}

static void sketch_halve(aq_state *s) {
  uint64_t words = (s->sketch_mask >> 4) + 1;
  for (uint64_t i = 0; i < words; i++) s->sketch[i] = (s->sketch[i] >> 1) & 0x7777777777777777ULL;
  s->sketch_events /= 2;
}

static void sketch_add(aq_state *s, uint64_t h) {
  uint64_t step = mix64(h) | 1u;
  bool added = false;
  for (uint64_t i = 0; i < 4; i++) {
    uint64_t c = (h + i * step) & s->sketch_mask;
    if (counter_get(s, c) < 15u) {
      s->sketch[c >> 4] += (uint64_t)1 << ((c & 15u) * 4u);
      added = true;
    }
  }
  if (added && ++s->sketch_events >= s->sketch_period) sketch_halve(s);
}

static unsigned sketch_estimate(const aq_state *s, uint64_t h) {
  uint64_t step = mix64(h) | 1u;
  unsigned m = 15u;
  for (uint64_t i = 0; i < 4; i++) {
    unsigned v = counter_get(s, (h + i * step) & s->sketch_mask);
    if (v < m) m = v;
  }
  return m;
}

/* ---- ghost ---------------------------------------------------------- */

static uint32_t ghost_fp(uint64_t h) {
  uint32_t fp = (uint32_t)(h >> 32);
  return fp != 0 ? fp : 1u;
}

static aq_ghost_slot *ghost_bucket(const aq_state *s, uint64_t h) {
  return &s->ghost[h & s->ghost_mask & ~(uint64_t)(GHOST_WAYS - 1)];
}

/* How many evictions back the ghost remembers: as many keys as are cached. */
static uint64_t ghost_window(const aq_state *s) {
  uint64_t n = s->q[SEG_SMALL].count + s->q[SEG_MAIN].count;
  return n < s->ghost_max ? n : s->ghost_max;
}

static void ghost_add(aq_state *s, uint64_t h) {
  aq_ghost_slot *b = ghost_bucket(s, h);
  uint32_t now = ++s->ghost_clock;
  unsigned pick = 0;
  uint32_t oldest = 0;
  for (unsigned i = 0; i < GHOST_WAYS; i++) {
    if (b[i].fp == 0) {
      pick = i;
      break;
    }
    uint32_t age = now - b[i].stamp;
    if (age > oldest) {
      oldest = age;
      pick = i;
    }
  }
  b[pick].fp = ghost_fp(h);
  b[pick].stamp = now;
}

/* True if h was evicted recently; the record is consumed. */
static bool ghost_take(aq_state *s, uint64_t h) {
  aq_ghost_slot *b = ghost_bucket(s, h);
  uint32_t fp = ghost_fp(h);
  uint64_t window = ghost_window(s);
  for (unsigned i = 0; i < GHOST_WAYS; i++) {
    if (b[i].fp == fp && (uint64_t)(uint32_t)(s->ghost_clock - b[i].stamp) < window) {
      b[i].fp = 0;
      return true;
    }
  }
  return false;
}

/* ---- life cycle ----------------------------------------------------- */

static uint64_t pow2_at_least(uint64_t n) {
  uint64_t p = 1;
  while (p < n) p <<= 1;
  return p;
}

static int alloc_models(aq_state *s, uint64_t capacity) {
  uint64_t n = capacity < MODEL_CAP ? capacity : MODEL_CAP;
  if (n < 64) n = 64;
  uint64_t slots = pow2_at_least(2 * n);
  uint64_t counters = pow2_at_least(SKETCH_WIDTH * n);
  s->ghost = gsp_calloc((size_t)slots, sizeof *s->ghost);
  s->sketch = gsp_calloc((size_t)(counters / 16), sizeof *s->sketch);
  if (s->ghost == NULL || s->sketch == NULL) return GSP_ENOMEM;
  s->ghost_mask = slots - 1;
  s->ghost_max = slots / 2;
  s->sketch_mask = counters - 1;
  s->sketch_period = SKETCH_PERIOD * n;
  return GSP_OK;
}

static void free_state(aq_state *s) {
  if (s == NULL) return;
  gsp_free(s->q[SEG_SMALL].sent);
  gsp_free(s->q[SEG_MAIN].sent);
  gsp_free(s->ghost);
  gsp_free(s->sketch);
  gsp_free(s);
}

static int adaptive_init(gsp__policy *p, uint64_t capacity) {
  aq_state *s = gsp_calloc(1, sizeof *s);
  if (s == NULL) return GSP_ENOMEM;
  if (list_init(&s->q[SEG_SMALL]) != GSP_OK || list_init(&s->q[SEG_MAIN]) != GSP_OK ||
      alloc_models(s, capacity) != GSP_OK) {
    free_state(s);
    return GSP_ENOMEM;
  }
  s->small_target = capacity / 1000u * SMALL_PERMILLE + capacity % 1000u * SMALL_PERMILLE / 1000u;
  if (s->small_target == 0) s->small_target = 1;
  p->state = s;
  return GSP_OK;
}

static void adaptive_fini(gsp__policy *p) {
  free_state(p->state);
  p->state = NULL;
}

/* ---- events --------------------------------------------------------- */

static void adaptive_on_miss(gsp__policy *p, uint64_t hash) {
  aq_state *s = p->state;
  sketch_add(s, hash);
  s->miss_in_ghost = ghost_take(s, hash);
  s->miss_hash = hash;
  s->miss_valid = true;
}

static int adaptive_on_insert(gsp__policy *p, gsp__entry *e) {
  aq_state *s = p->state;
  bool returning;
  if (s->miss_valid && s->miss_hash == e->hash) {
    returning = s->miss_in_ghost; /* counted by on_miss already */
  } else {
    sketch_add(s, e->hash);
    returning = ghost_take(s, e->hash);
  }
  s->miss_valid = false;
  e->pn.freq = 0;
  e->pn.seg = returning ? SEG_MAIN : SEG_SMALL;
  list_push_tail(&s->q[e->pn.seg], e);
  s->pending = returning ? e : NULL;
  return GSP_OK;
}

static void adaptive_on_hit(gsp__policy *p, gsp__entry *e) {
  sketch_add(p->state, e->hash);
  if (e->pn.freq < FREQ_MAX) e->pn.freq++;
}

static void adaptive_on_update(gsp__policy *p, gsp__entry *e, uint64_t old_charge) {
  aq_state *s = p->state;
  aq_list *l = &s->q[e->pn.seg];
  l->size = l->size - old_charge + e->charge;
  adaptive_on_hit(p, e);
}

static void adaptive_on_remove(gsp__policy *p, gsp__entry *e) {
  aq_state *s = p->state;
  if (e == s->pending) s->pending = NULL;
  list_unlink(&s->q[e->pn.seg], e);
}

/* ---- eviction ------------------------------------------------------- */

/* Step 1: trim S. Returns S's victim, or NULL once S is within target. */
static gsp__entry *evict_small(aq_state *s) {
  aq_list *sm = &s->q[SEG_SMALL];
  for (gsp__entry *e = list_head(sm); e != NULL; e = list_head(sm)) {
    if (sm->size <= s->small_target && s->q[SEG_MAIN].count > 0) return NULL;
    if (e->pn.freq == 0) return e;
    e->pn.freq = 0;
    move_to(s, e, SEG_MAIN);
  }
  return NULL;
}

/* Step 2: CLOCK-style scan of M. The pending entry is passed over once. */
static gsp__entry *evict_main(aq_state *s) {
  aq_list *m = &s->q[SEG_MAIN];
  for (gsp__entry *e = list_head(m); e != NULL; e = list_head(m)) {
    if (e->pn.freq == 0 && e != s->pending) return e;
    if (e == s->pending)
      s->pending = NULL;
    else
      e->pn.freq--;
    move_to(s, e, SEG_MAIN);
  }
  return NULL;
}

/* Step 3: the ghost-returned candidate stays only if it is as frequent. */
static bool admit(const aq_state *s, const gsp__entry *cand, const gsp__entry *vict) {
  return sketch_estimate(s, cand->hash) >= sketch_estimate(s, vict->hash);
}

static gsp__entry *adaptive_victim(gsp__policy *p) {
  aq_state *s = p->state;
  gsp__entry *v = evict_small(s);
  if (v != NULL) {
    ghost_add(s, v->hash);
    return v;
  }
  gsp__entry *cand = s->pending;
  v = evict_main(s);
  if (v == NULL) return list_head(&s->q[SEG_SMALL]);
  if (cand != NULL && s->pending == cand && cand != v) {
    s->pending = NULL;
    if (!admit(s, cand, v)) v = cand;
  }
  ghost_add(s, v->hash);
  return v;
}

const gsp__policy_ops gsp__policy_adaptive = {
    .name = "adaptive",
    .evict_first = false, /* victim() may reject the entry just inserted */
    .init = adaptive_init,
    .fini = adaptive_fini,
    .on_insert = adaptive_on_insert,
    .on_hit = adaptive_on_hit,
    .on_update = adaptive_on_update,
    .on_remove = adaptive_on_remove,
    .on_miss = adaptive_on_miss,
    .victim = adaptive_victim,
};
