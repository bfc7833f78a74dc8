/*
 * policy_lfu.c - least frequently used, O(1) in every operation, ties
 * broken by recency.
 *
 * Data layout: an ascending list of frequency nodes; each node holds the
 * entries that have exactly its frequency, most recently touched at the
 * head. An entry's pn.owner points at its node, pn.prev/pn.next link it
 * within the node. A hit moves the entry to the head of the node for
 * freq+1 (created right after the current node if absent, or the current
 * node is renumbered in place when the entry is alone in it). The victim is
 * the tail of the first node: least frequent, and among those the one
 * touched longest ago.
 *
 * Memory: nodes come from a free list that always holds at least one node,
 * keeping total nodes == entries + 1, so a hit never allocates; on_insert
 * allocates the one node that keeps the invariant (and may fail).
 *
 * Frequencies are in-cache (forgotten on eviction) and saturate at
 * UINT32_MAX.
 */
#include "cache_int.h"

typedef struct fnode {
  struct fnode *prev, *next;
  gsp__elist entries;
  uint32_t freq;
} fnode;

typedef struct lfu_state {
  fnode *first; /* lowest frequency */
  fnode *free;  /* spare nodes, chained through next */
  uint64_t entries;
  uint64_t nodes;
} lfu_state;

static fnode *node_of(const gsp__entry *e) { return e->pn.owner; }

static int lfu_init(gsp__policy *p, uint64_t capacity) {
  (void)capacity;
  lfu_state *s = gsp_calloc(1, sizeof *s);
  if (s == NULL) return GSP_ENOMEM;
  s->free = gsp_calloc(1, sizeof(fnode));
  if (s->free == NULL) {
    gsp_free(s);
    return GSP_ENOMEM;
  }
  s->nodes = 1;
  p->state = s;
  return GSP_OK;
}

static void lfu_fini(gsp__policy *p) {
  lfu_state *s = p->state;
  if (s == NULL) return;
  for (fnode *n = s->first; n != NULL;) {
    fnode *next = n->next;
    gsp_free(n);
    n = next;
  }
  for (fnode *n = s->free; n != NULL;) {
    fnode *next = n->next;
    gsp_free(n);
    n = next;
  }
  gsp_free(s);
  p->state = NULL;
}

static fnode *node_take(lfu_state *s, uint32_t freq) {
  fnode *n = s->free;
  s->free = n->next;
  *n = (fnode){.freq = freq};
  return n;
}

/* Link node n after `after` (NULL = at the front). */
static void node_link_after(lfu_state *s, fnode *after, fnode *n) {
  n->prev = after;
  n->next = after ? after->next : s->first;
  if (n->next != NULL) n->next->prev = n;
  if (after != NULL)
    after->next = n;
  else
    s->first = n;
}

static void node_release(lfu_state *s, fnode *n) {
  if (n->prev != NULL)
    n->prev->next = n->next;
  else
    s->first = n->next;
  if (n->next != NULL) n->next->prev = n->prev;
  n->next = s->free;
  s->free = n;
}

static void entry_push(fnode *n, gsp__entry *e) {
  e->pn.owner = n;
  e->pn.freq = n->freq;
  gsp__elist_push_head(&n->entries, e);
}

static int lfu_insert(gsp__policy *p, gsp__entry *e) {
  lfu_state *s = p->state;
  fnode *spare = gsp_calloc(1, sizeof *spare);
  if (spare == NULL) return GSP_ENOMEM;
  spare->next = s->free;
  s->free = spare;
  s->nodes++;
  s->entries++;
  fnode *n = s->first;
  if (n == NULL || n->freq != 1) {
    n = node_take(s, 1);
    node_link_after(s, NULL, n);
  }
  entry_push(n, e);
  return GSP_OK;
}

static void lfu_hit(gsp__policy *p, gsp__entry *e) {
  lfu_state *s = p->state;
  fnode *n = node_of(e);
  fnode *to = n->next;
  if (n->freq == UINT32_MAX) { /* saturated: only recency changes */
    gsp__elist_remove(&n->entries, e);
    entry_push(n, e);
  } else if (to != NULL && to->freq == n->freq + 1) {
    gsp__elist_remove(&n->entries, e);
    if (n->entries.head == NULL) node_release(s, n);
    entry_push(to, e);
  } else if (n->entries.head == e && n->entries.tail == e) { /* alone: renumber in place */
    e->pn.freq = ++n->freq;
  } else { /* n holds >= 2 entries, so a spare node exists */
    to = node_take(s, n->freq + 1);
    node_link_after(s, n, to);
    gsp__elist_remove(&n->entries, e);
    entry_push(to, e);
  }
}

static void lfu_update(gsp__policy *p, gsp__entry *e, uint64_t old_charge) {
  (void)old_charge;
  lfu_hit(p, e);
}

static void lfu_remove(gsp__policy *p, gsp__entry *e) {
  lfu_state *s = p->state;
  fnode *n = node_of(e);
  gsp__elist_remove(&n->entries, e);
  if (n->entries.head == NULL) node_release(s, n);
  s->entries--;
  if (s->nodes > s->entries + 1) { /* keep nodes == entries + 1 */
    fnode *spare = s->free;
    s->free = spare->next;
    gsp_free(spare);
    s->nodes--;
  }
}

static gsp__entry *lfu_victim(gsp__policy *p) {
  lfu_state *s = p->state;
  return s->first ? s->first->entries.tail : NULL;
}

const gsp__policy_ops gsp__policy_lfu = {
    .name = "lfu",
    .evict_first = true,
    .init = lfu_init,
    .fini = lfu_fini,
    .on_insert = lfu_insert,
    .on_hit = lfu_hit,
    .on_update = lfu_update,
    .on_remove = lfu_remove,
    .on_miss = NULL,
    .victim = lfu_victim,
};
