/*
 * exec_outside.c - submission slots for threads outside the pool: a deque
 * and a task magazine per submitting thread, so a thread that is not a
 * worker submits without a lock and without malloc once warm.
 *
 * Why. Without a slot, every task from an outside thread went through the
 * injection queue (one mutex round trip per task, shared with the workers
 * taking from it) and was allocated with gsp_malloc (the thread has no
 * magazine). A slot makes the outside producer look like a worker that
 * only pushes: it pushes onto its own Chase-Lev deque (one release store)
 * and workers steal from it like from each other.
 *
 * Layout. The pool has GSP__OUTSIDE_SLOTS slots (gsp_exec.out), each a
 * deque (the owning thread pushes, workers steal), a magazine of free
 * tasks refilled from the pool's depot one full chain at a time (only the
 * owner touches it), and `owned`. `nout` is the high-water mark of slots
 * ever claimed: the range workers steal from. A thread finds its slot
 * through a thread-local binding (pool pointer, pool id, slot); ids are
 * unique for the life of the process, so a binding to a destroyed pool
 * never matches a new pool at the same address.
 *
 * Claiming and releasing, under the process-wide `g_out_mu`: a thread
 * claims the lowest unowned slot of the pool it submits to, giving up its
 * binding to another pool (if that pool is still alive, found by id in
 * the list of live pools); it releases its slot when it exits (a
 * pthread key destructor). A released slot keeps its queued tasks, which
 * workers still steal, and its magazine, which the next owner uses; the
 * mutex orders one owner's last push before the next owner's first. When
 * every slot is owned, a thread falls back to the injection queue and
 * gsp_malloc(), as before.
 *
 * Invariants. A slot's deque and magazine have at most one owner thread;
 * slots live as long as the pool; the pool destroy unlinks the pool from
 * the live list before freeing the slots, so no destructor touches a
 * freed pool. Releasing a task from an outside thread (a future) never
 * uses a slot: it may happen after the pool is gone (exec_task.c).
 */
#include "exec_int.h"

enum { LOG2_OUT_DEQUE = 8 };

/* Live pools (linked through gsp_exec.live_next), bindings, slot ownership. */
static pthread_mutex_t g_out_mu = PTHREAD_MUTEX_INITIALIZER;
static gsp_exec *g_live;
static uint64_t g_next_id = 1;
static pthread_once_t g_key_once = PTHREAD_ONCE_INIT;
static pthread_key_t g_key;
static bool g_key_ok;

typedef struct binding {
  gsp_exec *ex;
  uint64_t id;
  gsp__outside *slot;
  uint64_t miss_id; /* a pool whose slots were all owned last time we looked */
} binding;

static _Thread_local binding tl_bind;

/* The live pool with this id, or NULL; g_out_mu held. */
static gsp_exec *live_find_locked(const gsp_exec *ex, uint64_t id) {
  for (gsp_exec *p = g_live; p != NULL; p = p->live_next)
    if (p == ex && p->id == id) return p;
  return NULL;
}

/* Give up the calling thread's binding, if its pool still lives; g_out_mu held. */
static void unbind_locked(binding *b) {
  if (b->ex != NULL && live_find_locked(b->ex, b->id) != NULL) b->slot->owned = false;
  b->ex = NULL;
  b->slot = NULL;
}

static void thread_exit(void *p) {
  pthread_mutex_lock(&g_out_mu);
  unbind_locked(p);
  pthread_mutex_unlock(&g_out_mu);
}

static void key_create(void) { g_key_ok = pthread_key_create(&g_key, thread_exit) == 0; }

int gsp__outside_init(gsp_exec *ex) {
  ex->out = gsp_calloc(GSP__OUTSIDE_SLOTS, sizeof(gsp__outside));
  if (ex->out == NULL) return GSP_ENOMEM;
  pthread_mutex_lock(&g_out_mu);
  ex->id = g_next_id++;
  ex->live_next = g_live;
  g_live = ex;
  pthread_mutex_unlock(&g_out_mu);
  return GSP_OK;
}

void gsp__outside_fini(gsp_exec *ex) {
  if (ex->out == NULL) return;
  pthread_mutex_lock(&g_out_mu);
  for (gsp_exec **pp = &g_live; *pp != NULL; pp = &(*pp)->live_next) {
    if (*pp == ex) {
      *pp = ex->live_next;
      break;
    }
  }
  pthread_mutex_unlock(&g_out_mu);
  unsigned n = atomic_load(&ex->nout);
  for (unsigned i = 0; i < n; i++) {
    gsp__deque_fini(&ex->out[i].dq);
    gsp__task_chain_free(ex->out[i].mag.head);
  }
  gsp_free(ex->out);
  ex->out = NULL;
}

/* Claim the lowest unowned slot of ex for the calling thread; g_out_mu held. */
static gsp__outside *claim_locked(gsp_exec *ex) {
  unsigned n = atomic_load(&ex->nout);
  for (unsigned i = 0; i < n; i++) {
    if (!ex->out[i].owned) {
      ex->out[i].owned = true;
      return &ex->out[i];
    }
  }
  if (n == GSP__OUTSIDE_SLOTS) return NULL;
  gsp__outside *s = &ex->out[n];
  if (gsp__deque_init(&s->dq, LOG2_OUT_DEQUE) != GSP_OK) return NULL;
  s->owned = true;
  atomic_store(&ex->nout, n + 1); /* after the deque is ready: workers steal below nout */
  return s;
}

/* Slow path of gsp__outside_self: bind the calling thread to a slot of ex. */
static gsp__outside *bind_slow(gsp_exec *ex) {
  binding *b = &tl_bind;
  if (b->miss_id == ex->id) return NULL;
  pthread_once(&g_key_once, key_create);
  if (!g_key_ok) return NULL;
  pthread_mutex_lock(&g_out_mu);
  gsp__outside *s = claim_locked(ex);
  if (s != NULL) {
    unbind_locked(b);
    b->ex = ex;
    b->id = ex->id;
    b->slot = s;
  }
  pthread_mutex_unlock(&g_out_mu);
  if (s == NULL) {
    b->miss_id = ex->id;
    return NULL;
  }
  if (pthread_getspecific(g_key) == NULL) pthread_setspecific(g_key, b);
  return s;
}

gsp__outside *gsp__outside_self(gsp_exec *ex) {
  const binding *b = &tl_bind;
  if (b->ex == ex && b->id == ex->id) return b->slot;
  return bind_slow(ex);
}
