/*
 * belady.c - Belady's MIN over a loaded trace (see belady.h).
 *
 * Next accesses. MIN needs, for each request, when its object is asked for
 * again. Objects are densely numbered by the loader, so a reverse pass with
 * one array slot per object ("the latest index seen so far") gives every
 * request's next index in O(n). An oracleGeneral trace carries this field
 * already; it is used only after an exact check: walking forward, each
 * object's previous request must have named exactly this index, and every
 * object's last request must say "none" (-1). libCacheSim writes 1-based
 * virtual times, other writers 0-based indices, so both readings are
 * tried. A field that fits neither is reported and replaced by the
 * computed one, so a wrong file can never give a wrong bound.
 *
 * Simulation. The cached objects sit in an indexed binary max-heap keyed
 * by their next access (never again = INT64_MAX): pos[o] is 1 + the
 * object's heap slot, or 0 when it is not cached. A hit raises the
 * object's key (its old key was the current index, the smallest possible),
 * so it sifts up; a miss pops the root until the new object fits, then
 * pushes it. O(log C) per request, memory O(objects).
 *
 * Invariants: used == the sum of the charges of the objects in the heap;
 * used <= cap after each request; pos[heap[k]] == k + 1 for each slot k.
 */
#include "belady.h"

#include <stdlib.h>
#include <string.h>

#include "gsperf/common.h"

#define NEVER INT64_MAX

/* ---- next-access indices ------------------------------------------------- */

static void next_compute(const cs_trace *t, int64_t *next, int64_t *last) {
  for (size_t o = 0; o < t->n_obj; o++) last[o] = -1;
  for (size_t i = t->n; i-- > 0;) {
    next[i] = last[t->obj[i]];
    last[t->obj[i]] = (int64_t)i;
  }
}

/*
 * Check the oracle field read with the given base (0 or 1) and convert it
 * into next[]. Returns -1 if consistent, else the first bad request index.
 * pending[o] is what o's previous request named (-2: no request yet).
 */
static int64_t next_check(const cs_trace *t, int base, int64_t *next, int64_t *pending) {
  for (size_t o = 0; o < t->n_obj; o++) pending[o] = -2;
  for (size_t i = 0; i < t->n; i++) {
    uint32_t o = t->obj[i];
    if (pending[o] != -2 && pending[o] != (int64_t)i) return (int64_t)i;
    int64_t raw = t->next[i];
    next[i] = raw < 0 ? -1 : raw - base;
    if (raw >= 0 && next[i] <= (int64_t)i) return (int64_t)i;
    pending[o] = next[i];
  }
  for (size_t i = 0; i < t->n; i++) /* each object's last request must say -1 */
    if (pending[t->obj[i]] >= 0) return (int64_t)i;
  return -1;
}

int cs_belady_next(const cs_trace *t, int64_t **out, cs_next_source *src, int64_t *bad_at) {
  int64_t *next = gsp_malloc(t->n * sizeof *next);
  int64_t *scratch = gsp_malloc(t->n_obj * sizeof *scratch);
  *out = NULL;
  *bad_at = -1;
  if (next == NULL || scratch == NULL) goto out_nomem;
  *src = CS_NEXT_COMPUTED;
  if (t->next != NULL) {
    *bad_at = next_check(t, 0, next, scratch);
    *src = CS_NEXT_ORACLE0;
    if (*bad_at >= 0 && next_check(t, 1, next, scratch) < 0) {
      *bad_at = -1;
      *src = CS_NEXT_ORACLE1;
    }
    if (*bad_at >= 0) *src = CS_NEXT_RECOMPUTED;
  }
  if (*src == CS_NEXT_COMPUTED || *src == CS_NEXT_RECOMPUTED) next_compute(t, next, scratch);
  gsp_free(scratch);
  *out = next;
  return GSP_OK;
out_nomem:
  gsp_free(next);
  gsp_free(scratch);
  return GSP_ENOMEM;
}

/* ---- the indexed max-heap -------------------------------------------------- */

typedef struct minsim {
  uint32_t *heap;   /* cached objects; heap[0] has the furthest next access */
  uint32_t *pos;    /* [object] 1 + heap slot, 0 = not cached */
  int64_t *key;     /* [object] its next access while cached */
  uint64_t *charge; /* [object] units it holds while cached */
  size_t n;         /* objects in the heap */
  uint64_t used;    /* units held */
} minsim;

static void place(minsim *m, size_t k, uint32_t o) {
  m->heap[k] = o;
  m->pos[o] = (uint32_t)k + 1;
}

static void sift_up(minsim *m, size_t k) {
  uint32_t o = m->heap[k];
  while (k > 0) {
    size_t parent = (k - 1) / 2;
    if (m->key[m->heap[parent]] >= m->key[o]) break;
    place(m, k, m->heap[parent]);
    k = parent;
  }
  place(m, k, o);
}

static void sift_down(minsim *m, size_t k) {
  uint32_t o = m->heap[k];
  for (;;) {
    size_t c = 2 * k + 1;
    if (c >= m->n) break;
    if (c + 1 < m->n && m->key[m->heap[c + 1]] > m->key[m->heap[c]]) c++;
    if (m->key[m->heap[c]] <= m->key[o]) break;
    place(m, k, m->heap[c]);
    k = c;
  }
  place(m, k, o);
}

static void evict_furthest(minsim *m) {
  uint32_t victim = m->heap[0];
  m->used -= m->charge[victim];
  m->pos[victim] = 0;
  if (--m->n > 0) {
    place(m, 0, m->heap[m->n]);
    sift_down(m, 0);
  }
}

static void admit(minsim *m, uint32_t o, int64_t key, uint64_t charge, uint64_t cap) {
  while (m->used + charge > cap) evict_furthest(m);
  m->key[o] = key;
  m->charge[o] = charge;
  m->used += charge;
  place(m, m->n++, o);
  sift_up(m, m->n - 1);
}

static void minsim_free(minsim *m) {
  gsp_free(m->heap);
  gsp_free(m->pos);
  gsp_free(m->key);
  gsp_free(m->charge);
}

int cs_belady_run(const cs_trace *t, const int64_t *next, uint64_t cap, bool ignore_size,
                  uint64_t *misses) {
  if (cap == 0) return GSP_EINVAL;
  minsim m = {0};
  m.heap = gsp_malloc(t->n_obj * sizeof *m.heap);
  m.pos = gsp_calloc(t->n_obj, sizeof *m.pos);
  m.key = gsp_malloc(t->n_obj * sizeof *m.key);
  m.charge = gsp_malloc(t->n_obj * sizeof *m.charge);
  if (m.heap == NULL || m.pos == NULL || m.key == NULL || m.charge == NULL) {
    minsim_free(&m);
    return GSP_ENOMEM;
  }
  uint64_t miss = 0;
  for (size_t i = 0; i < t->n; i++) {
    uint32_t o = t->obj[i];
    int64_t key = next[i] < 0 ? NEVER : next[i];
    if (m.pos[o] != 0) { /* hit: the key grows from i to the next access */
      m.key[o] = key;
      sift_up(&m, m.pos[o] - 1);
      continue;
    }
    miss++;
    uint64_t charge = ignore_size ? 1 : t->size[i];
    if (charge <= cap) admit(&m, o, key, charge, cap);
  }
  minsim_free(&m);
  *misses = miss;
  return GSP_OK;
}
