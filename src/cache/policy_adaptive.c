/*
 * policy_adaptive.c - the ADAPTIVE eviction policy: S3-FIFO with an
 * ARC-style adaptive probation queue and a TinyLFU duel; caches small
 * enough to simulate in full also switch member online.
 *
 * The design, the members and the algorithm step by step are described in
 * docs/cache.md ("ADAPTIVE in detail"); the layout and the invariants
 * the code keeps are here.
 *
 * Data layout
 *   aq_state: lists S and M (circular, heap-allocated sentinels, head =
 *   oldest) with their sizes in charge units, the current member, S's
 *   target, the ghost, the sketch and the tuner.
 *   Per entry (e->pn): prev/next link the entry into S or M; seg says which;
 *   freq is the 0..3 reuse counter; aux is unused.
 *   Ghost: 4-way buckets of 6-byte slots {31-bit fingerprint + 1 source
 *   bit, 16-bit stamp}. Each source (S-dropped, M-dropped) has its own
 *   eviction clock; stamps count ticks of 2^gran evictions, gran chosen so
 *   that 2^16 ticks cover at least GHOST_WRAP x the most live keys (a slot
 *   that old has long been overwritten). A slot is live while fewer than
 *   `window` evictions of its source happened since its stamp, window = the
 *   member's share x the entries cached. A full bucket overwrites an
 *   expired slot, else the relatively oldest. (15-bit fingerprints let
 *   enough new keys pass as ghost hits to cost ~0.002 of miss ratio on P3.)
 *   Sketch: exactly SKETCH_WIDTH (32) four-bit counters per unit, rounded
 *   up to 16 (not to a power of two: the duel's outcome depends on the
 *   width, and shadows must model the real cache); 4 rows, indexes by
 *   multiply-shift, counters halved every 10 x capacity events.
 *   Shadow: a node array of 16 bytes a node (32-bit fingerprint = hash >>
 *   32, 16-bit prev/next, charge, freq, seg; nodes 0 and 1 are the S and M
 *   sentinels), an open-addressing index of 16-bit node numbers keyed by
 *   fingerprint, and its own ghost and (duel members) sketch, both fed
 *   mix64(fingerprint) so a node needs no full hash.
 *
 * Trade-offs
 *   Hits do no list surgery. Small caches pay three shadow updates per
 *   access for exact member choice; large ones pay nothing for tuning.
 *   Byte-bounded caches are tuned only when their capacity in bytes is at
 *   most SHADOW_MAX, i.e. practically never.
 *
 * Invariants
 *   - every linked entry is in exactly one of S and M, and seg says which;
 *     q[seg].size is the sum of the charges of the entries in that list.
 *   - victim() returns a linked entry whenever any exists: step 1 drains S
 *     until it evicts or M is non-empty; the CLOCK ends within 4 passes as
 *     every reinsertion lowers a freq (the pending entry is passed once).
 *   - `pending` is NULL or an entry linked in M.
 *   - the tuner is enabled iff capacity <= SHADOW_MAX; a shadow then holds
 *     at most `pool - 1` nodes and at most capacity units.
 */
#include "cache_int.h"

enum { SEG_SMALL = 1, SEG_MAIN = 2, NSEG = 3 };
enum { FROM_NONE = 0, FROM_SMALL = 1, FROM_MAIN = 2 };

#define FREQ_MAX 3u          /* S3-FIFO's 2-bit reuse counter */
#define MODEL_CAP (1u << 20) /* units the real ghost and sketch cover */
#define SKETCH_WIDTH 32u     /* sketch counters per unit (exactly, not rounded) */
#define SKETCH_PERIOD 10u    /* halve counters every 10 x capacity events */
#define GHOST_WAYS 4u
#define SHADOW_MAX 512u          /* largest cache that is tuned (shadowed in full) */
#define NCONF 3u                 /* members of the family */
#define GHOST_MAX_PERMILLE 1500u /* largest ghost_s + ghost_m over members */
#define ADAPT_STEP 100u          /* milli-units S moves per ghost hit */

typedef struct aq_conf {
  uint16_t small_permille;   /* S's share (start value when adapting) */
  uint16_t ghost_s_permille; /* window for S-dropped keys */
  uint16_t ghost_m_permille; /* window for M-dropped keys; 0: they count as S's */
  bool adapt;                /* ARC-style adaptation of S's share */
  bool duel;                 /* TinyLFU duel for ghost-returned keys */
} aq_conf;

static const aq_conf aq_confs[NCONF] = {
    {100, 1000, 500, true, true},
    {20, 1000, 0, false, true},
    {100, 1000, 0, false, true},
};

/* ---- frequency sketch ----------------------------------------------- */

typedef struct aq_sketch {
  uint64_t *word;    /* 16 four-bit counters per word */
  uint64_t counters; /* a multiple of 16 */
  uint64_t events;
  uint64_t period;
} aq_sketch;

static uint64_t mix64(uint64_t x) {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdULL;
  x ^= x >> 33;
  x *= 0xc4ceb9fe1a85ec53ULL;
  return x ^ (x >> 33);
}

static uint64_t pow2_at_least(uint64_t n) {
  uint64_t p = 1;
  while (p < n) p <<= 1;
  return p;
}

static int sketch_init(aq_sketch *k, uint64_t units) {
  uint64_t counters = (SKETCH_WIDTH * units + 15u) & ~(uint64_t)15u;
  if (counters < 1024) counters = 1024;
  k->word = gsp_calloc((size_t)(counters / 16), sizeof *k->word);
  if (k->word == NULL) return GSP_ENOMEM;
  k->counters = counters;
  k->period = SKETCH_PERIOD * (units < 64 ? 64 : units);
  return GSP_OK;
}

static unsigned counter_get(const aq_sketch *k, uint64_t c) {
  return (unsigned)(k->word[c >> 4] >> ((c & 15u) * 4u)) & 15u;
}

/* Counter for probe x: multiply-shift maps the top 32 bits onto [0, counters). */
static uint64_t counter_of(const aq_sketch *k, uint64_t x) {
  return ((x >> 32) * k->counters) >> 32;
}

static void sketch_halve(aq_sketch *k) {
  uint64_t words = k->counters / 16;
  for (uint64_t i = 0; i < words; i++) k->word[i] = (k->word[i] >> 1) & 0x7777777777777777ULL;
  k->events /= 2;
}

static void sketch_add(aq_sketch *k, uint64_t h) {
  uint64_t step = mix64(h) | 1u;
  bool added = false;
  for (uint64_t i = 0; i < 4; i++) {
    uint64_t c = counter_of(k, h + i * step);
    if (counter_get(k, c) < 15u) {
      k->word[c >> 4] += (uint64_t)1 << ((c & 15u) * 4u);
      added = true;
    }
  }
  if (added && ++k->events >= k->period) sketch_halve(k);
}

static unsigned sketch_estimate(const aq_sketch *k, uint64_t h) {
  uint64_t step = mix64(h) | 1u;
  unsigned m = 15u;
  for (uint64_t i = 0; i < 4; i++) {
    unsigned v = counter_get(k, counter_of(k, h + i * step));
    if (v < m) m = v;
  }
  return m;
}

/* ---- ghost ---------------------------------------------------------- */

typedef struct aq_ghost_slot {
  uint16_t tag[2]; /* 31-bit fingerprint << 1 | source bit, in halves; 0 = empty */
  uint16_t stamp;  /* clock of its source at insertion, >> gran */
} aq_ghost_slot;

_Static_assert(sizeof(aq_ghost_slot) == 6, "ghost slots are 6 bytes");

static uint32_t slot_tag(const aq_ghost_slot *s) { return (uint32_t)s->tag[0] << 16 | s->tag[1]; }

typedef struct aq_ghost {
  aq_ghost_slot *slot;
  uint64_t mask;
  uint64_t clock[2];  /* evictions per source (0: from S, 1: from M) */
  uint64_t window[2]; /* live span per source, set before each use */
  unsigned gran;      /* stamps count clock ticks of 2^gran evictions */
} aq_ghost;

/* Stamps wrap after 2^16 ticks; ticks are coarse enough that this is at
 * least GHOST_WRAP x max_live evictions, far past any window. */
#define GHOST_WRAP 8u

static int ghost_init(aq_ghost *g, uint64_t max_live) {
  uint64_t slots = pow2_at_least(2 * max_live + GHOST_WAYS);
  g->slot = gsp_calloc((size_t)slots, sizeof *g->slot);
  if (g->slot == NULL) return GSP_ENOMEM;
  g->mask = slots - 1;
  g->gran = 0;
  while ((((uint64_t)1 << 16) << g->gran) < GHOST_WRAP * max_live) g->gran++;
  return GSP_OK;
}

/* Windows for member c when `entries` keys are cached. */
static void ghost_set_windows(aq_ghost *g, const aq_conf *c, uint64_t entries) {
  g->window[0] =
      entries / 1000u * c->ghost_s_permille + entries % 1000u * c->ghost_s_permille / 1000u;
  g->window[1] =
      entries / 1000u * c->ghost_m_permille + entries % 1000u * c->ghost_m_permille / 1000u;
}

static uint32_t ghost_fp(uint64_t h) {
  uint32_t fp = (uint32_t)(h >> 32) & ~1u;
  return fp != 0 ? fp : 2u;
}

static aq_ghost_slot *ghost_bucket(const aq_ghost *g, uint64_t h) {
  return &g->slot[h & g->mask & ~(uint64_t)(GHOST_WAYS - 1)];
}

static uint64_t slot_age(const aq_ghost *g, const aq_ghost_slot *s) {
  uint16_t now = (uint16_t)(g->clock[slot_tag(s) & 1u] >> g->gran);
  return (uint64_t)(uint16_t)(now - s->stamp) << g->gran;
}

/* Age relative to its window, 2^16 = expired. */
static uint64_t slot_rel_age(const aq_ghost *g, const aq_ghost_slot *s) {
  uint64_t w = g->window[slot_tag(s) & 1u], age = slot_age(g, s);
  if (age >= w) return (uint64_t)1 << 16;
  return (age << 16) / w;
}

static void ghost_add(aq_ghost *g, uint64_t h, unsigned src) {
  unsigned bit = src == FROM_MAIN ? 1u : 0u;
  if (g->window[bit] == 0) return;
  aq_ghost_slot *b = ghost_bucket(g, h);
  unsigned pick = 0;
  uint64_t oldest = 0;
  for (unsigned i = 0; i < GHOST_WAYS; i++) {
    uint64_t rel = slot_tag(&b[i]) == 0 ? (uint64_t)1 << 17 : slot_rel_age(g, &b[i]);
    if (rel > oldest) {
      oldest = rel;
      pick = i;
    }
  }
  uint32_t tag = ghost_fp(h) | bit;
  b[pick].tag[0] = (uint16_t)(tag >> 16);
  b[pick].tag[1] = (uint16_t)tag;
  b[pick].stamp = (uint16_t)(++g->clock[bit] >> g->gran);
}

/* Where h was recently dropped from (FROM_*); the record is consumed. */
static unsigned ghost_take(aq_ghost *g, uint64_t h) {
  aq_ghost_slot *b = ghost_bucket(g, h);
  uint32_t fp = ghost_fp(h);
  for (unsigned i = 0; i < GHOST_WAYS; i++) {
    uint32_t tag = slot_tag(&b[i]);
    if ((tag & ~1u) != fp) continue;
    if (slot_age(g, &b[i]) >= g->window[tag & 1u]) continue;
    unsigned src = (tag & 1u) ? FROM_MAIN : FROM_SMALL;
    b[i].tag[0] = b[i].tag[1] = 0;
    return src;
  }
  return FROM_NONE;
}

/* ---- S's target ----------------------------------------------------- */

typedef struct aq_target {
  uint64_t units;
  int64_t milli; /* fraction not yet applied, in 1/1000 units */
} aq_target;

static uint64_t permille_of(uint64_t n, unsigned pm) {
  return n / 1000u * pm + n % 1000u * pm / 1000u;
}

static void target_reset(aq_target *t, const aq_conf *c, uint64_t capacity) {
  t->units = permille_of(capacity, c->small_permille);
  if (t->units == 0) t->units = 1;
  t->milli = 0;
}

/* ARC's rule: a ghost hit on an S-dropped key grows S, on an M-dropped key
 * shrinks it, each step scaled by the other ghost's relative size. */
static void target_adapt(aq_target *t, const aq_conf *c, uint64_t capacity, unsigned src,
                         uint64_t charge) {
  if (!c->adapt || src == FROM_NONE) return;
  unsigned gs = c->ghost_s_permille, gm = c->ghost_m_permille ? c->ghost_m_permille : 1u;
  unsigned big = gs > gm ? gs : gm;
  int64_t step = (int64_t)ADAPT_STEP * (src == FROM_SMALL ? big / gs : big / gm);
  if (charge > ((uint64_t)1 << 32)) charge = (uint64_t)1 << 32;
  t->milli += (src == FROM_SMALL ? step : -step) * (int64_t)charge;
  int64_t whole = t->milli / 1000;
  t->milli -= whole * 1000;
  uint64_t lo = permille_of(capacity, 10), hi = permille_of(capacity, 900);
  if (whole < 0 && (uint64_t)-whole >= t->units - lo)
    t->units = lo;
  else
    t->units += (uint64_t)whole;
  if (t->units > hi) t->units = hi;
  if (t->units < lo) t->units = lo;
  if (t->units == 0) t->units = 1;
}

/* ---- shadow caches (miniature simulations) --------------------------- */

typedef struct aq_snode {
  uint32_t fp;         /* the key's hash >> 32 (its identity in the shadow) */
  uint16_t prev, next; /* node numbers; 0 and 1 are the S and M sentinels */
  uint32_t charge;
  uint8_t freq, seg;
} aq_snode;

_Static_assert(sizeof(aq_snode) == 16, "shadow nodes are 16 bytes");
_Static_assert(SHADOW_MAX + 3u <= UINT16_MAX, "shadow node numbers fit 16 bits");

/* The hash a shadow feeds its ghost and sketch, rebuilt from the fingerprint. */
static uint64_t fp_hash(uint32_t fp) { return mix64(fp); }

typedef struct aq_shadow {
  const aq_conf *conf;
  aq_snode *node;
  uint16_t *index; /* open addressing by fingerprint; node number, 0 = empty */
  uint64_t index_mask;
  uint32_t pool, nodes_used, free_head, pending; /* pool: nodes 2..pool+1 */
  uint64_t size[NSEG], count[NSEG];
  uint64_t capacity;
  aq_target target;
  aq_ghost ghost;
  aq_sketch sketch; /* duel members only */
  uint64_t misses, score;
} aq_shadow;

typedef struct aq_tuner {
  aq_shadow sh[NCONF];
  unsigned cur;      /* member the real cache follows */
  bool enabled;      /* the cache has at most SHADOW_MAX units */
  bool started;      /* set when the cache first fills */
  uint64_t capacity; /* of the real cache, units */
  uint64_t accesses; /* in this epoch */
  uint64_t epoch;    /* accesses per epoch */
} aq_tuner;

static uint16_t *slot_of(aq_shadow *s, uint32_t fp) {
  uint64_t i = fp & s->index_mask;
  while (s->index[i] != 0 && s->node[s->index[i]].fp != fp) i = (i + 1) & s->index_mask;
  return &s->index[i];
}

/* Backward-shift deletion keeps probe chains intact. */
static void index_delete(aq_shadow *s, uint64_t i) {
  uint64_t j = i;
  s->index[i] = 0;
  for (;;) {
    j = (j + 1) & s->index_mask;
    if (s->index[j] == 0) return;
    uint64_t home = s->node[s->index[j]].fp & s->index_mask;
    if (((j - home) & s->index_mask) >= ((j - i) & s->index_mask)) {
      s->index[i] = s->index[j];
      s->index[j] = 0;
      i = j;
    }
  }
}

static void snode_unlink(aq_shadow *s, uint32_t n) {
  aq_snode *x = &s->node[n];
  s->node[x->prev].next = x->next;
  s->node[x->next].prev = x->prev;
  s->size[x->seg] -= x->charge;
  s->count[x->seg]--;
}

static void snode_push(aq_shadow *s, uint32_t n, uint8_t seg) {
  aq_snode *x = &s->node[n], *sent = &s->node[seg - 1];
  x->seg = seg;
  x->prev = sent->prev;
  x->next = (uint16_t)(seg - 1u);
  s->node[sent->prev].next = (uint16_t)n;
  sent->prev = (uint16_t)n;
  s->size[seg] += x->charge;
  s->count[seg]++;
}

static void snode_move(aq_shadow *s, uint32_t n, uint8_t seg) {
  snode_unlink(s, n);
  snode_push(s, n, seg);
}

static uint32_t shead(const aq_shadow *s, uint8_t seg) {
  uint32_t n = s->node[seg - 1].next;
  return n == seg - 1u ? 0 : n;
}

static void shadow_windows(aq_shadow *s) {
  ghost_set_windows(&s->ghost, s->conf, s->count[SEG_SMALL] + s->count[SEG_MAIN]);
}

/* The shadow's victim: the same three steps as the real cache's. */
static uint32_t shadow_victim(aq_shadow *s, unsigned *src) {
  for (uint32_t n = shead(s, SEG_SMALL); n != 0; n = shead(s, SEG_SMALL)) {
    if (s->size[SEG_SMALL] <= s->target.units && s->count[SEG_MAIN] > 0) break;
    *src = FROM_SMALL;
    if (s->node[n].freq == 0) return n;
    s->node[n].freq = 0;
    snode_move(s, n, SEG_MAIN);
  }
  *src = s->conf->ghost_m_permille ? FROM_MAIN : FROM_SMALL;
  uint32_t cand = s->pending, v = 0;
  for (uint32_t n = shead(s, SEG_MAIN); n != 0 && v == 0; n = shead(s, SEG_MAIN)) {
    if (s->node[n].freq == 0 && n != s->pending) {
      v = n;
      break;
    }
    if (n == s->pending)
      s->pending = 0;
    else
      s->node[n].freq--;
    snode_move(s, n, SEG_MAIN);
  }
  if (v == 0) return shead(s, SEG_SMALL);
  if (cand != 0 && s->pending == cand && cand != v) {
    s->pending = 0;
    if (sketch_estimate(&s->sketch, fp_hash(s->node[cand].fp)) <
        sketch_estimate(&s->sketch, fp_hash(s->node[v].fp)))
      v = cand;
  }
  return v;
}

static void shadow_evict(aq_shadow *s) {
  unsigned src = FROM_SMALL;
  uint32_t v = shadow_victim(s, &src);
  if (v == 0) return;
  shadow_windows(s);
  ghost_add(&s->ghost, fp_hash(s->node[v].fp), src);
  if (v == s->pending) s->pending = 0;
  snode_unlink(s, v);
  index_delete(s, (uint64_t)(slot_of(s, s->node[v].fp) - s->index));
  s->node[v].next = (uint16_t)s->free_head;
  s->free_head = v;
  s->nodes_used--;
}

static void shadow_insert(aq_shadow *s, uint16_t *slot, uint32_t fp, uint64_t charge) {
  uint64_t h = fp_hash(fp);
  if (s->conf->duel) sketch_add(&s->sketch, h);
  shadow_windows(s);
  unsigned src = ghost_take(&s->ghost, h);
  target_adapt(&s->target, s->conf, s->capacity, src, charge);
  if (charge > s->capacity) return;
  uint32_t n = s->free_head;
  s->free_head = s->node[n].next;
  s->nodes_used++;
  *slot = (uint16_t)n;
  s->node[n] = (aq_snode){.fp = fp, .charge = (uint32_t)charge};
  snode_push(s, n, src != FROM_NONE ? SEG_MAIN : SEG_SMALL);
  s->pending = (src != FROM_NONE && s->conf->duel) ? n : 0;
  while (s->size[SEG_SMALL] + s->size[SEG_MAIN] > s->capacity || s->nodes_used >= s->pool)
    shadow_evict(s);
}

static void shadow_access(aq_shadow *s, uint64_t h, uint64_t charge) {
  if (charge > UINT32_MAX) charge = UINT32_MAX;
  uint32_t fp = (uint32_t)(h >> 32);
  uint16_t *slot = slot_of(s, fp);
  if (*slot != 0) {
    if (s->conf->duel) sketch_add(&s->sketch, fp_hash(fp));
    if (s->node[*slot].freq < FREQ_MAX) s->node[*slot].freq++;
    return;
  }
  s->misses++;
  shadow_insert(s, slot, fp, charge);
}

static int shadow_init(aq_shadow *s, const aq_conf *c, uint64_t pool) {
  s->conf = c;
  s->pool = (uint32_t)pool;
  s->node = gsp_calloc((size_t)pool + 2, sizeof *s->node);
  uint64_t slots = pow2_at_least(2 * pool + 2);
  s->index = gsp_calloc((size_t)slots, sizeof *s->index);
  if (s->node == NULL || s->index == NULL) return GSP_ENOMEM;
  s->index_mask = slots - 1;
  if (ghost_init(&s->ghost, permille_of(pool, c->ghost_s_permille + c->ghost_m_permille)) != GSP_OK)
    return GSP_ENOMEM;
  if (c->duel && sketch_init(&s->sketch, pool) != GSP_OK) return GSP_ENOMEM;
  for (uint16_t n = 0; n < 2; n++) s->node[n].prev = s->node[n].next = n;
  for (uint32_t n = 2; n < pool + 2; n++)
    s->node[n].next = (uint16_t)(n + 1 < pool + 2 ? n + 1 : 0);
  s->free_head = 2;
  return GSP_OK;
}

static void shadow_free(aq_shadow *s) {
  gsp_free(s->node);
  gsp_free(s->index);
  gsp_free(s->ghost.slot);
  gsp_free(s->sketch.word);
}

/* ---- tuner ---------------------------------------------------------- */

/* Shadows exist only for caches small enough to model in full. */
static int tuner_init(aq_tuner *t, uint64_t capacity) {
  t->capacity = capacity;
  t->enabled = capacity <= SHADOW_MAX;
  if (!t->enabled) return GSP_OK;
  uint64_t pool = capacity + 1;
  for (unsigned i = 0; i < NCONF; i++)
    if (shadow_init(&t->sh[i], &aq_confs[i], pool) != GSP_OK) return GSP_ENOMEM;
  return GSP_OK;
}

static void tuner_free(aq_tuner *t) {
  for (unsigned i = 0; i < NCONF; i++) shadow_free(&t->sh[i]);
}

/* The cache is full for the first time with `entries` entries: shadows
 * start empty, with the cache's capacity, and an epoch is one cache's worth. */
static void tuner_start(aq_tuner *t, uint64_t entries) {
  t->started = true;
  t->epoch = entries > 100 ? entries : 100;
  for (unsigned i = 0; i < NCONF; i++) {
    aq_shadow *s = &t->sh[i];
    s->capacity = t->capacity;
    target_reset(&s->target, s->conf, s->capacity);
  }
}

/* Ends an epoch; returns true when the real cache should change member. */
static bool tuner_choose(aq_tuner *t) {
  unsigned best = t->cur;
  for (unsigned i = 0; i < NCONF; i++) {
    t->sh[i].score = t->sh[i].score / 2 + t->sh[i].misses;
    t->sh[i].misses = 0;
  }
  for (unsigned i = 0; i < NCONF; i++)
    if (t->sh[i].score < t->sh[best].score) best = i;
  if (best == t->cur) return false;
  t->cur = best;
  return true;
}

/* One access (hit or insert) of the real cache. */
static bool tuner_access(aq_tuner *t, uint64_t h, uint64_t charge) {
  if (!t->started) return false;
  for (unsigned i = 0; i < NCONF; i++) shadow_access(&t->sh[i], h, charge);
  if (++t->accesses < t->epoch) return false;
  t->accesses = 0;
  return tuner_choose(t);
}

/* ---- the real cache: lists ------------------------------------------ */

typedef struct aq_list {
  gsp__entry *sent; /* sentinel: sent->pn.next is the oldest entry */
  uint64_t size;    /* charge units */
  uint64_t count;   /* entries */
} aq_list;

typedef struct aq_state {
  aq_list q[NSEG];
  const aq_conf *conf; /* member currently followed */
  aq_target target;    /* S's size target */
  uint64_t capacity;
  gsp__entry *pending; /* ghost-returned entry awaiting its duel */
  aq_ghost ghost;
  aq_sketch sketch;
  bool miss_valid; /* on_miss result for the following on_insert */
  unsigned miss_src;
  uint64_t miss_hash;
  aq_tuner tuner;
} aq_state;

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

static void real_windows(aq_state *s) {
  uint64_t n = s->q[SEG_SMALL].count + s->q[SEG_MAIN].count;
  ghost_set_windows(&s->ghost, s->conf, n < MODEL_CAP ? n : MODEL_CAP);
}

/* ---- life cycle ----------------------------------------------------- */

static void free_state(aq_state *s) {
  if (s == NULL) return;
  gsp_free(s->q[SEG_SMALL].sent);
  gsp_free(s->q[SEG_MAIN].sent);
  gsp_free(s->ghost.slot);
  gsp_free(s->sketch.word);
  tuner_free(&s->tuner);
  gsp_free(s);
}

static int alloc_state(aq_state *s, uint64_t capacity) {
  uint64_t n = capacity < MODEL_CAP ? capacity : MODEL_CAP;
  if (list_init(&s->q[SEG_SMALL]) != GSP_OK || list_init(&s->q[SEG_MAIN]) != GSP_OK)
    return GSP_ENOMEM;
  if (ghost_init(&s->ghost, permille_of(n, GHOST_MAX_PERMILLE)) != GSP_OK) return GSP_ENOMEM;
  if (sketch_init(&s->sketch, n) != GSP_OK) return GSP_ENOMEM;
  return tuner_init(&s->tuner, capacity);
}

static int adaptive_init(gsp__policy *p, uint64_t capacity) {
  aq_state *s = gsp_calloc(1, sizeof *s);
  if (s == NULL) return GSP_ENOMEM;
  if (alloc_state(s, capacity) != GSP_OK) {
    free_state(s);
    return GSP_ENOMEM;
  }
  s->capacity = capacity;
  s->conf = &aq_confs[0];
  target_reset(&s->target, s->conf, capacity);
  p->state = s;
  return GSP_OK;
}

static void adaptive_fini(gsp__policy *p) {
  free_state(p->state);
  p->state = NULL;
}

/* ---- events --------------------------------------------------------- */

/* Feeds the tuner; follows its choice when an epoch ends with a new one. */
static void tune(aq_state *s, uint64_t h, uint64_t charge) {
  if (!tuner_access(&s->tuner, h, charge)) return;
  s->conf = &aq_confs[s->tuner.cur];
  target_reset(&s->target, s->conf, s->capacity);
  if (!s->conf->duel) s->pending = NULL;
}

/* Start the loads the replay of a miss will wait on (its sketch counters
 * and ghost bucket), called by the lock-free reader that logs the miss, so
 * they arrive while the caller computes and puts the value. Runs without
 * the shard lock: it reads only what init set (the arrays' addresses and
 * sizes) and only prefetches. */
static void adaptive_prefetch_miss(const gsp__policy *p, uint64_t hash) {
  const aq_state *s = p->state;
  uint64_t step = mix64(hash) | 1u;
  for (uint64_t i = 0; i < 4; i++)
    __builtin_prefetch(&s->sketch.word[counter_of(&s->sketch, hash + i * step) >> 4], 1, 1);
  __builtin_prefetch(ghost_bucket(&s->ghost, hash), 1, 1);
}

static void adaptive_on_miss(gsp__policy *p, uint64_t hash) {
  aq_state *s = p->state;
  sketch_add(&s->sketch, hash);
  real_windows(s);
  s->miss_src = ghost_take(&s->ghost, hash);
  s->miss_hash = hash;
  s->miss_valid = true;
}

static int adaptive_on_insert(gsp__policy *p, gsp__entry *e) {
  aq_state *s = p->state;
  unsigned src;
  if (s->miss_valid && s->miss_hash == e->hash) {
    src = s->miss_src; /* counted by on_miss already */
  } else {
    sketch_add(&s->sketch, e->hash);
    real_windows(s);
    src = ghost_take(&s->ghost, e->hash);
  }
  s->miss_valid = false;
  target_adapt(&s->target, s->conf, s->capacity, src, e->charge);
  e->pn.freq = 0;
  e->pn.seg = src != FROM_NONE ? SEG_MAIN : SEG_SMALL;
  list_push_tail(&s->q[e->pn.seg], e);
  s->pending = (src != FROM_NONE && s->conf->duel) ? e : NULL;
  tune(s, e->hash, e->charge);
  return GSP_OK;
}

static void adaptive_on_hit(gsp__policy *p, gsp__entry *e) {
  aq_state *s = p->state;
  sketch_add(&s->sketch, e->hash);
  if (e->pn.freq < FREQ_MAX) e->pn.freq++;
  tune(s, e->hash, e->charge);
}

static void adaptive_on_update(gsp__policy *p, gsp__entry *e, uint64_t old_charge) {
  aq_state *s = p->state;
  aq_list *l = &s->q[e->pn.seg];
  l->size = l->size - old_charge + e->charge;
  sketch_add(&s->sketch, e->hash);
  if (e->pn.freq < FREQ_MAX) e->pn.freq++;
}

static void adaptive_on_remove(gsp__policy *p, gsp__entry *e) {
  aq_state *s = p->state;
  if (e == s->pending) s->pending = NULL;
  aq_list *l = &s->q[e->pn.seg];
  bool was_head = list_head(l) == e;
  list_unlink(l, e);
  gsp__entry *next = list_head(l);
  if (!was_head || next == NULL) return;
  /* Two victims ahead: the header of the one after next; next's header was
   * prefetched one eviction ago, so its hash can name its ghost bucket. */
  gsp__prefetch_victim(next->pn.next);
  __builtin_prefetch(ghost_bucket(&s->ghost, next->hash), 1, 1);
}

/* ---- eviction ------------------------------------------------------- */

/* Step 1: trim S. Returns S's victim, or NULL once S is within target. */
static gsp__entry *evict_small(aq_state *s) {
  aq_list *sm = &s->q[SEG_SMALL];
  for (gsp__entry *e = list_head(sm); e != NULL; e = list_head(sm)) {
    if (sm->size <= s->target.units && s->q[SEG_MAIN].count > 0) return NULL;
    if (e->pn.freq == 0) return e;
    e->pn.freq = 0;
    move_to(s, e, SEG_MAIN);
  }
  return NULL;
}

/* Step 2: CLOCK over M. The pending entry is passed over once. */
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
  return sketch_estimate(&s->sketch, cand->hash) >= sketch_estimate(&s->sketch, vict->hash);
}

static gsp__entry *pick_victim(aq_state *s, unsigned *src) {
  gsp__entry *v = evict_small(s);
  *src = FROM_SMALL;
  if (v != NULL) return v;
  gsp__entry *cand = s->pending;
  v = evict_main(s);
  if (v == NULL) return list_head(&s->q[SEG_SMALL]);
  *src = s->conf->ghost_m_permille ? FROM_MAIN : FROM_SMALL;
  if (cand != NULL && s->pending == cand && cand != v) {
    s->pending = NULL;
    if (!admit(s, cand, v)) v = cand;
  }
  return v;
}

static gsp__entry *adaptive_victim(gsp__policy *p) {
  aq_state *s = p->state;
  if (s->tuner.enabled && !s->tuner.started && p->used >= p->capacity)
    tuner_start(&s->tuner, s->q[SEG_SMALL].count + s->q[SEG_MAIN].count);
  unsigned src;
  gsp__entry *v = pick_victim(s, &src);
  if (v != NULL) {
    real_windows(s);
    ghost_add(&s->ghost, v->hash, src);
  }
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
    .prefetch_miss = adaptive_prefetch_miss,
    .victim = adaptive_victim,
};
