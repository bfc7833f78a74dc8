/*
 * exec_task.c - task objects: per-worker magazines and a shared depot, so
 * a task costs no malloc/free once the pool is warm.
 *
 * Why. Every task is one fixed-size object (gsp__task). Allocated with
 * gsp_malloc() by the thread that submits and freed by the worker that
 * runs it, most tasks crossed threads: glibc then frees into the
 * allocating thread's arena under that arena's lock, so producer and
 * thief fought over one mutex per task. Here a worker keeps freed tasks
 * for reuse, and a worker that frees more than it allocates (a thief)
 * hands them back in whole chains.
 *
 * Layout. Each worker slot has two magazines (`loaded`, `spare`): singly
 * linked chains of free tasks through gsp__task.next, each holding at most
 * MAG_SIZE. The pool has a depot of up to DEPOT_CHAINS full chains under
 * `depot_mu`. Only the slot's running thread touches its magazines.
 *
 * Allocation on a worker: the loaded magazine; else swap in the spare if
 * it holds any; else take one full chain from the depot (one lock per
 * MAG_SIZE tasks); else gsp_malloc(). Freeing on a worker: into the
 * loaded magazine; when it is full, it becomes the spare and the old
 * spare (full) goes to the depot, or back to gsp_free() when the depot is
 * full. So a worker holds at most 2 x MAG_SIZE free tasks, the depot at
 * most DEPOT_CHAINS x MAG_SIZE (bounded memory after a burst), and a
 * worker swinging between allocating and freeing around a magazine
 * boundary does not go to the depot each time (Bonwick's two magazines).
 *
 * A thread outside the pool that holds a submission slot
 * (exec_outside.c) allocates from the slot's magazine, refilled with one
 * full chain from the depot at a time, else with gsp_malloc(); workers
 * that run its tasks return them to their magazines and, in full chains,
 * to the depot, where the slot takes them again. A thread outside the
 * pool frees with gsp_free(): a future may be released after the pool is
 * gone, so a free from outside must not touch the pool.
 * Every cached object came from gsp_malloc() and goes back through
 * gsp_free() when the pool is freed (gsp__task_cache_free) or a worker
 * retires (gsp__task_cache_flush), so allocation-failure tests see every
 * byte returned.
 */
#include "exec_int.h"

enum { MAG_SIZE = 64 };

void gsp__task_chain_free(gsp__task *t) {
  while (t != NULL) {
    gsp__task *next = t->next;
    gsp_free(t);
    t = next;
  }
}

/* Take one full chain from the depot into the (empty) loaded magazine. */
static bool depot_take(gsp_exec *ex, gsp__magazine *m) {
  if (atomic_load_explicit(&ex->ndepot, memory_order_relaxed) == 0) return false;
  pthread_mutex_lock(&ex->depot_mu);
  unsigned n = atomic_load_explicit(&ex->ndepot, memory_order_relaxed);
  if (n != 0) {
    m->head = ex->depot[n - 1];
    m->n = MAG_SIZE;
    atomic_store_explicit(&ex->ndepot, n - 1, memory_order_relaxed);
  }
  pthread_mutex_unlock(&ex->depot_mu);
  return n != 0;
}

/* Hand a full chain to the depot, or free it if the depot is full. */
static void depot_put(gsp_exec *ex, gsp__task *chain) {
  pthread_mutex_lock(&ex->depot_mu);
  unsigned n = atomic_load_explicit(&ex->ndepot, memory_order_relaxed);
  if (n < GSP__DEPOT_CHAINS) {
    ex->depot[n] = chain;
    atomic_store_explicit(&ex->ndepot, n + 1, memory_order_relaxed);
    chain = NULL;
  }
  pthread_mutex_unlock(&ex->depot_mu);
  gsp__task_chain_free(chain);
}

static void mag_swap(gsp__worker *w) {
  gsp__magazine m = w->loaded;
  w->loaded = w->spare;
  w->spare = m;
}

gsp__task *gsp__task_alloc(gsp_exec *ex, gsp__worker *w) {
  if (w == NULL) return gsp_malloc(sizeof(gsp__task));
  if (w->loaded.n == 0) {
    if (w->spare.n != 0)
      mag_swap(w);
    else if (!depot_take(ex, &w->loaded))
      return gsp_malloc(sizeof(gsp__task));
  }
  gsp__task *t = w->loaded.head;
  w->loaded.head = t->next;
  w->loaded.n--;
  if (w->loaded.head != NULL)
    __builtin_prefetch(w->loaded.head, 1); /* often freed on another CPU */
  return t;
}

gsp__task *gsp__task_alloc_outside(gsp_exec *ex, gsp__outside *s) {
  if (s == NULL || (s->mag.n == 0 && !depot_take(ex, &s->mag)))
    return gsp_malloc(sizeof(gsp__task));
  gsp__task *t = s->mag.head;
  s->mag.head = t->next;
  s->mag.n--;
  if (s->mag.head != NULL) __builtin_prefetch(s->mag.head, 1); /* last freed on a worker */
  return t;
}

void gsp__task_release(gsp_exec *ex, gsp__worker *w, gsp__task *t) {
  if (w == NULL) {
    gsp_free(t);
    return;
  }
  if (w->loaded.n == MAG_SIZE) {
    if (w->spare.n == MAG_SIZE) depot_put(ex, w->spare.head);
    w->spare = w->loaded;
    w->loaded = (gsp__magazine){NULL, 0};
  }
  t->next = w->loaded.head;
  w->loaded.head = t;
  w->loaded.n++;
}

void gsp__task_cache_flush(gsp__worker *w) {
  gsp__task_chain_free(w->loaded.head);
  gsp__task_chain_free(w->spare.head);
  w->loaded = w->spare = (gsp__magazine){NULL, 0};
}

void gsp__task_cache_free(gsp_exec *ex) {
  for (unsigned i = 0; i < ex->max_workers; i++) gsp__task_cache_flush(&ex->w[i]);
  unsigned n = atomic_load_explicit(&ex->ndepot, memory_order_relaxed);
  for (unsigned i = 0; i < n; i++) gsp__task_chain_free(ex->depot[i]);
  atomic_store_explicit(&ex->ndepot, 0, memory_order_relaxed);
}
