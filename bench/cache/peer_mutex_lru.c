/*
 * peer_mutex_lru.c - the LRU cache users write by hand, as a peer for
 * bench_cache.
 *
 * One pthread_mutex (default type) guards everything: a chained hash table
 * (XXH3, the hash gsperf uses, so the comparison is about structure; the
 * bucket count is the capacity rounded up to a power of two and never
 * changes, a load factor of at most 1) and a doubly linked list with the
 * most recently used node at the head. A hit moves the node to the head
 * and copies the value out under the lock. A put copies key and value into
 * one node allocated before the lock is taken, replaces or inserts it, and
 * when over capacity unlinks the tail; the old and evicted nodes are freed
 * after unlocking. Written straightforwardly and correctly: this is the
 * baseline gsperf must beat, not a strawman.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "bench_subject.h"

#define VLEN BENCH_VLEN

typedef struct mlru_node {
  struct mlru_node *hnext, *prev, *next;
  uint64_t hash;
  uint32_t klen, vlen;
  unsigned char data[]; /* key bytes, then value bytes */
} mlru_node;

typedef struct mlru {
  pthread_mutex_t lock;
  mlru_node **buckets;
  size_t mask, count, capacity;
  mlru_node *head, *tail; /* most recently used at the head */
} mlru;

static void *mlru_create(const bench_subject *sj, size_t capacity) {
  (void)sj;
  mlru *m = calloc(1, sizeof *m);
  size_t n = 16;
  while (n < capacity) n <<= 1;
  if (m == NULL || (m->buckets = calloc(n, sizeof *m->buckets)) == NULL) {
    free(m);
    return NULL;
  }
  pthread_mutex_init(&m->lock, NULL);
  m->mask = n - 1;
  m->capacity = capacity;
  return m;
}

static void mlru_destroy(void *obj) {
  mlru *m = obj;
  for (mlru_node *n = m->head, *next; n != NULL; n = next) {
    next = n->next;
    free(n);
  }
  pthread_mutex_destroy(&m->lock);
  free(m->buckets);
  free(m);
}

static void mlru_list_unlink(mlru *m, mlru_node *n) {
  if (n->prev != NULL)
    n->prev->next = n->next;
  else
    m->head = n->next;
  if (n->next != NULL)
    n->next->prev = n->prev;
  else
    m->tail = n->prev;
}

static void mlru_list_push_front(mlru *m, mlru_node *n) {
  n->prev = NULL;
  n->next = m->head;
  if (m->head != NULL)
    m->head->prev = n;
  else
    m->tail = n;
  m->head = n;
}

/* The link that points at the node holding key, or at the chain's NULL end. */
static mlru_node **mlru_slot_locked(mlru *m, uint64_t h, const void *key, uint32_t klen) {
  mlru_node **pp = &m->buckets[h & m->mask];
  while (*pp != NULL &&
         !((*pp)->hash == h && (*pp)->klen == klen && memcmp((*pp)->data, key, klen) == 0))
    pp = &(*pp)->hnext;
  return pp;
}

static bool mlru_get(void *obj, void *ctx, uint64_t key, unsigned char out[VLEN]) {
  (void)ctx;
  mlru *m = obj;
  uint64_t h = XXH3_64bits(&key, sizeof key);
  pthread_mutex_lock(&m->lock);
  mlru_node *n = *mlru_slot_locked(m, h, &key, sizeof key);
  bool hit = n != NULL && n->vlen == VLEN;
  if (hit) {
    if (m->head != n) {
      mlru_list_unlink(m, n);
      mlru_list_push_front(m, n);
    }
    memcpy(out, n->data + n->klen, VLEN);
  }
  pthread_mutex_unlock(&m->lock);
  return hit;
}

/* Unlink the least recently used node from list and chain; returns it. */
static mlru_node *mlru_evict_locked(mlru *m) {
  mlru_node *v = m->tail;
  mlru_node **pp = &m->buckets[v->hash & m->mask];
  while (*pp != v) pp = &(*pp)->hnext;
  *pp = v->hnext;
  mlru_list_unlink(m, v);
  m->count--;
  return v;
}

static bool mlru_put(void *obj, void *ctx, uint64_t key, const unsigned char val[VLEN]) {
  (void)ctx;
  mlru *m = obj;
  mlru_node *n = malloc(sizeof *n + sizeof key + VLEN), *old, *victim = NULL;
  if (n == NULL) return false;
  n->hash = XXH3_64bits(&key, sizeof key);
  n->klen = sizeof key;
  n->vlen = VLEN;
  memcpy(n->data, &key, sizeof key);
  memcpy(n->data + sizeof key, val, VLEN);
  pthread_mutex_lock(&m->lock);
  mlru_node **pp = mlru_slot_locked(m, n->hash, &key, sizeof key);
  old = *pp;
  n->hnext = old != NULL ? old->hnext : NULL;
  *pp = n;
  if (old != NULL)
    mlru_list_unlink(m, old);
  else
    m->count++;
  mlru_list_push_front(m, n);
  if (m->count > m->capacity) victim = mlru_evict_locked(m);
  pthread_mutex_unlock(&m->lock);
  free(old);
  free(victim);
  return true;
}

const bench_subject bench_peer_mutex_lru = {
    .name = "mutex-LRU",
    .create = mlru_create,
    .destroy = mlru_destroy,
    .get = mlru_get,
    .put = mlru_put,
};
