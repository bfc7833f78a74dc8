/*
 * policy_list.c - the LRU and FIFO policies: one doubly linked list per
 * shard, newest at the head, victim at the tail.
 *
 * LRU moves an entry to the head on every hit and update; FIFO never moves
 * it, so the tail is always the oldest insertion. Both are O(1) in every
 * operation and use only the entry's pn.prev/pn.next.
 */
#include "cache_int.h"

static int list_init(gsp__policy *p, uint64_t capacity) {
  (void)capacity;
  p->state = gsp_calloc(1, sizeof(gsp__elist));
  return p->state ? GSP_OK : GSP_ENOMEM;
}

static void list_fini(gsp__policy *p) {
  gsp_free(p->state);
  p->state = NULL;
}

static int list_insert(gsp__policy *p, gsp__entry *e) {
  gsp__elist_push_head(p->state, e);
  return GSP_OK;
}

static void lru_touch(gsp__policy *p, gsp__entry *e) {
  gsp__elist *l = p->state;
  if (l->head == e) return;
  gsp__elist_remove(l, e);
  gsp__elist_push_head(l, e);
}

static void lru_update(gsp__policy *p, gsp__entry *e, uint64_t old_charge) {
  (void)old_charge;
  lru_touch(p, e);
}

static void fifo_hit(gsp__policy *p, gsp__entry *e) {
  (void)p;
  (void)e;
}

static void fifo_update(gsp__policy *p, gsp__entry *e, uint64_t old_charge) {
  (void)p;
  (void)e;
  (void)old_charge;
}

static void list_remove(gsp__policy *p, gsp__entry *e) {
  gsp__elist *l = p->state;
  bool was_tail = l->tail == e;
  gsp__elist_remove(l, e);
  if (was_tail && l->tail != NULL) gsp__prefetch_victim(l->tail);
}

static gsp__entry *list_victim(gsp__policy *p) { return ((gsp__elist *)p->state)->tail; }

const gsp__policy_ops gsp__policy_lru = {
    .name = "lru",
    .evict_first = true,
    .init = list_init,
    .fini = list_fini,
    .on_insert = list_insert,
    .on_hit = lru_touch,
    .on_update = lru_update,
    .on_remove = list_remove,
    .on_miss = NULL,
    .victim = list_victim,
};

const gsp__policy_ops gsp__policy_fifo = {
    .name = "fifo",
    .evict_first = true,
    .init = list_init,
    .fini = list_fini,
    .on_insert = list_insert,
    .on_hit = fifo_hit,
    .on_update = fifo_update,
    .on_remove = list_remove,
    .on_miss = NULL,
    .victim = list_victim,
};
