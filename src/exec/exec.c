/*
 * exec.c - the work-stealing pool: workers, submission, futures, waiting.
 *
 * Layout. Each worker owns a Chase-Lev deque (deque.c). Threads outside
 * the pool submit to one injection queue, a FIFO list under `mu`, whose
 * length is mirrored in an atomic so idle workers can skip the lock when
 * it is empty. A task submitted by a task goes to the running worker's
 * deque without any lock (one release store); if the deque cannot grow
 * (no memory) it goes to the injection queue instead, so a nested submit
 * fails only if the task itself cannot be allocated.
 *
 * A worker takes injected tasks in batches of up to 16: one to run, the
 * rest moved onto its own deque, where idle workers steal them.
 *
 * Finding work, in order: own deque (newest first: cache-warm, and it
 * bounds the deque in recursive fork-join), the injection queue, then a
 * steal sweep over the other workers starting at a random one (oldest
 * first: the biggest pieces of work in divide and conquer).
 *
 * Sleeping. A wake-up costs 10-20 us here, so an idle worker first makes
 * `spin_iters` bounded rounds of find-work with a CPU pause between them,
 * then sleeps on `work_cv`. No wake-up is lost: the sleeper raises
 * `nsleeping` and re-checks every queue while holding `mu`, all seq_cst;
 * a producer publishes its task, then reads `nsleeping` (seq_cst), and
 * signals under `mu` only if someone sleeps. Either the sleeper's re-check
 * sees the task or the producer sees the sleeper. Producers thus pay one
 * atomic load per submission while all workers are busy.
 *
 * Tasks and futures. A task is one allocation; a future is the same
 * object with a second reference. A task nobody else references when it
 * starts (no future, or the future already released) cannot be canceled
 * or awaited, so it runs without any state transition and is freed at
 * once; group tasks take this path and wake waiters only when the group's
 * count reaches zero. State moves PENDING -> RUNNING -> DONE
 * or PENDING -> CANCELED, each by CAS, so cancel and start race safely; a
 * canceled task stays queued and is dropped when a worker reaches it.
 *
 * Waiting. A worker that waits (future, group, parallel-for) runs other
 * tasks until its condition holds, which is what makes nested fork-join
 * deadlock-free; with nothing to run it sleeps on `done_cv` for at most a
 * millisecond at a time and looks again. A thread outside the pool just
 * sleeps on `done_cv`. Finishing a task broadcasts `done_cv` only when
 * `nwaiters` is non-zero (the same publish-then-check pairing as above).
 *
 * Shutdown drains: `stopping` makes workers exit once they find no work
 * at all; a task still running may spawn more, but then its own worker
 * finds that work before it can exit.
 */
#include <errno.h>
#include <stdlib.h>
#include <time.h>

#include "exec_int.h"

enum {
  MAX_WORKERS = 1024,
  DEFAULT_SPIN = 64,
  PAUSES_PER_SPIN = 32,
  HELP_SLEEP_NS = 1000000,
  INJECT_BATCH = 16
};

static _Thread_local gsp__worker *tl_worker;

static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#else
  atomic_signal_fence(memory_order_seq_cst);
#endif
}

bool gsp__exec_on_worker(const gsp_exec *ex) { return tl_worker != NULL && tl_worker->ex == ex; }

gsp__task *gsp__task_new(gsp_exec *ex, gsp_exec_fn fn, void *arg, gsp__group *g, int refs) {
  gsp__task *t = gsp_malloc(sizeof(*t));
  if (t == NULL) return NULL;
  t->fn = fn;
  t->arg = arg;
  t->ex = ex;
  t->group = g;
  t->next = NULL;
  t->result = 0;
  atomic_init(&t->state, GSP__T_PENDING);
  atomic_init(&t->refs, refs);
  return t;
}

static void task_unref(gsp__task *t) {
  if (atomic_fetch_sub_explicit(&t->refs, 1, memory_order_acq_rel) == 1) gsp_free(t);
}

static void wake_one(gsp_exec *ex) {
  if (atomic_load(&ex->nsleeping) == 0) return;
  pthread_mutex_lock(&ex->mu);
  pthread_cond_signal(&ex->work_cv);
  pthread_mutex_unlock(&ex->mu);
}

static void inject(gsp_exec *ex, gsp__task *t) {
  pthread_mutex_lock(&ex->mu);
  if (ex->inj_tail != NULL)
    ex->inj_tail->next = t;
  else
    ex->inj_head = t;
  ex->inj_tail = t;
  atomic_fetch_add(&ex->inj_len, 1);
  if (atomic_load(&ex->nsleeping) != 0) pthread_cond_signal(&ex->work_cv);
  pthread_mutex_unlock(&ex->mu);
}

void gsp__exec_push(gsp_exec *ex, gsp__task *t) {
  gsp__worker *w = tl_worker;
  if (w != NULL && w->ex == ex && gsp__deque_push(&w->dq, t) == GSP_OK) {
    atomic_thread_fence(memory_order_seq_cst); /* publish before reading nsleeping */
    wake_one(ex);
    return;
  }
  inject(ex, t);
}

/* Take the oldest injected task; mu held. */
static gsp__task *inject_take_locked(gsp_exec *ex) {
  gsp__task *t = ex->inj_head;
  if (t == NULL) return NULL;
  ex->inj_head = t->next;
  if (ex->inj_head == NULL) ex->inj_tail = NULL;
  atomic_fetch_sub(&ex->inj_len, 1);
  return t;
}

/* Return t to the front of the injection queue; mu held. */
static void inject_putback_locked(gsp_exec *ex, gsp__task *t) {
  t->next = ex->inj_head;
  ex->inj_head = t;
  if (ex->inj_tail == NULL) ex->inj_tail = t;
  atomic_fetch_add(&ex->inj_len, 1);
}

/*
 * Take the oldest injected task and move up to INJECT_BATCH - 1 more onto
 * w's deque, where the other workers can steal them: one lock round trip
 * per batch instead of per task. A push that fails (no memory) just
 * leaves the rest queued. A task is unlinked before it is pushed: once
 * on the deque it may be stolen, run and freed at once.
 */
static gsp__task *inject_take(gsp__worker *w) {
  gsp_exec *ex = w->ex;
  if (atomic_load_explicit(&ex->inj_len, memory_order_relaxed) == 0) return NULL;
  pthread_mutex_lock(&ex->mu);
  gsp__task *t = inject_take_locked(ex);
  for (int i = 1; i < INJECT_BATCH && ex->inj_head != NULL; i++) {
    gsp__task *x = inject_take_locked(ex); /* unlink before it is published */
    if (gsp__deque_push(&w->dq, x) != GSP_OK) {
      inject_putback_locked(ex, x);
      break;
    }
  }
  pthread_mutex_unlock(&ex->mu);
  return t;
}

static uint64_t xorshift(uint64_t *s) {
  uint64_t x = *s;
  x ^= x << 13;
  x ^= x >> 7;
  x ^= x << 17;
  return *s = x;
}

static gsp__task *steal_sweep(gsp__worker *self) {
  gsp_exec *ex = self->ex;
  unsigned n = ex->nworkers;
  if (n < 2) return NULL;
  unsigned start = (unsigned)(xorshift(&self->rng) % n);
  for (unsigned i = 0; i < n; i++) {
    gsp__worker *v = &ex->w[(start + i) % n];
    if (v == self) continue;
    void *x = NULL;
    gsp__steal_result r;
    while ((r = gsp__deque_steal(&v->dq, &x)) == GSP__STEAL_ABORT) cpu_relax();
    if (r == GSP__STEAL_OK) return x;
  }
  return NULL;
}

static gsp__task *find_work(gsp__worker *w) {
  gsp__task *t = gsp__deque_pop(&w->dq);
  if (t == NULL) t = inject_take(w);
  if (t == NULL) t = steal_sweep(w);
  return t;
}

static int run_fn(const gsp__task *t) {
  const gsp__group *g = t->group;
  if (g != NULL && atomic_load_explicit(&g->err, memory_order_relaxed) != 0) return GSP_ECANCELED;
  return t->fn(t->arg);
}

/* Record a group task's end; g may be freed by its waiter once pending is 0. */
static void group_done(gsp_exec *ex, gsp__group *g, int r) {
  int none = 0;
  if (r != 0) atomic_compare_exchange_strong(&g->err, &none, r);
  if (atomic_fetch_sub(&g->pending, 1) == 1) gsp__exec_notify(ex);
}

static void run_task(gsp__task *t) {
  gsp_exec *ex = t->ex;
  gsp__group *g = t->group;
  if (atomic_load_explicit(&t->refs, memory_order_acquire) == 1) {
    /* Only the pool holds it: nobody can cancel or wait any more. It was
       canceled already if its future was canceled and then released. */
    if (atomic_load_explicit(&t->state, memory_order_relaxed) == GSP__T_CANCELED) {
      gsp_free(t);
      return;
    }
    int r = run_fn(t);
    gsp_free(t);
    if (g != NULL) group_done(ex, g, r);
    return;
  }
  int expected = GSP__T_PENDING;
  if (atomic_compare_exchange_strong(&t->state, &expected, GSP__T_RUNNING)) {
    t->result = run_fn(t);
    if (g != NULL) group_done(ex, g, t->result);
    atomic_store(&t->state, GSP__T_DONE);
    gsp__exec_notify(ex);
  }
  task_unref(t);
}

void gsp__exec_notify(gsp_exec *ex) {
  if (atomic_load(&ex->nwaiters) == 0) return;
  pthread_mutex_lock(&ex->done_mu);
  pthread_cond_broadcast(&ex->done_cv);
  pthread_mutex_unlock(&ex->done_mu);
}

/* Any work visible anywhere? Used by a would-be sleeper under mu. */
static bool any_work(gsp_exec *ex) {
  atomic_thread_fence(memory_order_seq_cst); /* nsleeping raised before looking */
  if (atomic_load(&ex->inj_len) != 0) return true;
  for (unsigned i = 0; i < ex->nworkers; i++)
    if (!gsp__deque_empty(&ex->w[i].dq)) return true;
  return false;
}

/* Sleep until work may exist; false when the pool is stopping and drained. */
static bool idle_sleep(gsp_exec *ex) {
  bool keep = true;
  pthread_mutex_lock(&ex->mu);
  atomic_fetch_add(&ex->nsleeping, 1);
  if (!any_work(ex)) {
    if (atomic_load(&ex->stopping))
      keep = false;
    else
      pthread_cond_wait(&ex->work_cv, &ex->mu);
  }
  atomic_fetch_sub(&ex->nsleeping, 1);
  pthread_mutex_unlock(&ex->mu);
  return keep;
}

static void *worker_main(void *arg) {
  gsp__worker *w = arg;
  tl_worker = w;
  for (;;) {
    gsp__task *t = find_work(w);
    for (unsigned s = 0; t == NULL && s < w->ex->spin_iters; s++) {
      for (int p = 0; p < PAUSES_PER_SPIN; p++) cpu_relax();
      t = find_work(w);
    }
    if (t != NULL) {
      run_task(t);
      continue;
    }
    if (!idle_sleep(w->ex)) break;
  }
  tl_worker = NULL;
  return NULL;
}

/* ---- waiting ---- */

typedef bool (*wait_pred)(void *ctx);

static bool future_pred(void *ctx) {
  const gsp__task *t = ctx;
  return atomic_load(&t->state) >= GSP__T_DONE;
}

static bool zero_pred(void *ctx) { return atomic_load((_Atomic size_t *)ctx) == 0; }

static struct timespec abs_time(uint64_t ns) {
  struct timespec ts = {(time_t)(ns / 1000000000u), (long)(ns % 1000000000u)};
  return ts;
}

/* Block on done_cv until pred holds, deadline_ns (0 = never) or, on a worker, a short nap. */
static void block_once(gsp_exec *ex, wait_pred pred, void *ctx, uint64_t until_ns) {
  pthread_mutex_lock(&ex->done_mu);
  atomic_fetch_add(&ex->nwaiters, 1);
  if (!pred(ctx)) {
    if (until_ns == 0) {
      pthread_cond_wait(&ex->done_cv, &ex->done_mu);
    } else {
      struct timespec ts = abs_time(until_ns);
      pthread_cond_timedwait(&ex->done_cv, &ex->done_mu, &ts);
    }
  }
  atomic_fetch_sub(&ex->nwaiters, 1);
  pthread_mutex_unlock(&ex->done_mu);
}

/* Wait for pred; returns false on timeout (deadline_ns 0 = none). */
static bool wait_until(gsp_exec *ex, wait_pred pred, void *ctx, uint64_t deadline_ns) {
  gsp__worker *w = gsp__exec_on_worker(ex) ? tl_worker : NULL;
  while (!pred(ctx)) {
    uint64_t now = gsp_now_ns();
    if (deadline_ns != 0 && now >= deadline_ns) return false;
    if (w != NULL) {
      gsp__task *t = find_work(w);
      if (t != NULL) {
        run_task(t);
        continue;
      }
      uint64_t nap = now + HELP_SLEEP_NS;
      block_once(ex, pred, ctx, deadline_ns != 0 && deadline_ns < nap ? deadline_ns : nap);
    } else {
      block_once(ex, pred, ctx, deadline_ns);
    }
  }
  return true;
}

void gsp__exec_wait_zero(gsp_exec *ex, _Atomic size_t *counter) {
  wait_until(ex, zero_pred, (void *)counter, 0);
}

/* ---- futures ---- */

static int future_result(gsp_exec_future *f, int *result) {
  if (atomic_load(&f->state) == GSP__T_CANCELED) return GSP_ECANCELED;
  if (result != NULL) *result = f->result;
  return GSP_OK;
}

int gsp_exec_future_wait(gsp_exec_future *f, int *result) {
  if (f == NULL) return GSP_EINVAL;
  if (!future_pred(f)) wait_until(f->ex, future_pred, f, 0);
  return future_result(f, result);
}

int gsp_exec_future_wait_for(gsp_exec_future *f, uint64_t timeout_ms, int *result) {
  if (f == NULL) return GSP_EINVAL;
  if (!future_pred(f)) {
    uint64_t deadline = gsp_now_ns() + timeout_ms * 1000000u;
    if (!wait_until(f->ex, future_pred, f, deadline)) return GSP_ETIMEDOUT;
  }
  return future_result(f, result);
}

int gsp_exec_future_cancel(gsp_exec_future *f) {
  if (f == NULL) return GSP_EINVAL;
  int expected = GSP__T_PENDING;
  if (!atomic_compare_exchange_strong(&f->state, &expected, GSP__T_CANCELED)) return GSP_EBUSY;
  gsp__exec_notify(f->ex);
  return GSP_OK;
}

bool gsp_exec_future_done(const gsp_exec_future *f) {
  return f != NULL && atomic_load(&f->state) >= GSP__T_DONE;
}

void gsp_exec_future_release(gsp_exec_future *f) {
  if (f != NULL) task_unref(f);
}

int gsp_exec_submit(gsp_exec *ex, gsp_exec_fn fn, void *arg, gsp_exec_future **out) {
  if (ex == NULL || fn == NULL) return GSP_EINVAL;
  if (atomic_load_explicit(&ex->stopping, memory_order_relaxed) && !gsp__exec_on_worker(ex))
    return GSP_ESTATE;
  gsp__task *t = gsp__task_new(ex, fn, arg, NULL, out != NULL ? 2 : 1);
  if (t == NULL) return GSP_ENOMEM;
  if (out != NULL) *out = t;
  gsp__exec_push(ex, t);
  return GSP_OK;
}

/* ---- life cycle ---- */

static int init_sync(gsp_exec *ex) {
  pthread_condattr_t ca;
  if (pthread_condattr_init(&ca) != 0) return GSP_ESYS;
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  int rv = GSP_ESYS;
  if (pthread_mutex_init(&ex->mu, NULL) != 0) goto out_attr;
  if (pthread_mutex_init(&ex->done_mu, NULL) != 0) goto out_mu;
  if (pthread_cond_init(&ex->work_cv, NULL) != 0) goto out_done_mu;
  if (pthread_cond_init(&ex->done_cv, &ca) != 0) goto out_work_cv;
  pthread_condattr_destroy(&ca);
  return GSP_OK;
out_work_cv:
  pthread_cond_destroy(&ex->work_cv);
out_done_mu:
  pthread_mutex_destroy(&ex->done_mu);
out_mu:
  pthread_mutex_destroy(&ex->mu);
out_attr:
  pthread_condattr_destroy(&ca);
  return rv;
}

static void fini_sync(gsp_exec *ex) {
  pthread_cond_destroy(&ex->done_cv);
  pthread_cond_destroy(&ex->work_cv);
  pthread_mutex_destroy(&ex->done_mu);
  pthread_mutex_destroy(&ex->mu);
}

static void free_workers(gsp_exec *ex, unsigned n) {
  for (unsigned i = 0; i < n; i++) gsp__deque_fini(&ex->w[i].dq);
  gsp_free(ex->w);
}

static int alloc_workers(gsp_exec *ex) {
  ex->w = gsp_calloc(ex->nworkers, sizeof(gsp__worker));
  if (ex->w == NULL) return GSP_ENOMEM;
  for (unsigned i = 0; i < ex->nworkers; i++) {
    gsp__worker *w = &ex->w[i];
    if (gsp__deque_init(&w->dq, 8) != GSP_OK) {
      free_workers(ex, i);
      return GSP_ENOMEM;
    }
    w->ex = ex;
    w->id = i;
    w->rng = 0x9E3779B97F4A7C15ull * (i + 1);
  }
  return GSP_OK;
}

/* Stop and join the first n workers (drain). */
static void stop_workers(gsp_exec *ex, unsigned n) {
  pthread_mutex_lock(&ex->mu);
  atomic_store(&ex->stopping, true);
  pthread_cond_broadcast(&ex->work_cv);
  pthread_mutex_unlock(&ex->mu);
  for (unsigned i = 0; i < n; i++) pthread_join(ex->w[i].thread, NULL);
}

static int start_workers(gsp_exec *ex) {
  for (unsigned i = 0; i < ex->nworkers; i++) {
    if (pthread_create(&ex->w[i].thread, NULL, worker_main, &ex->w[i]) != 0) {
      stop_workers(ex, i);
      return GSP_ESYS;
    }
  }
  return GSP_OK;
}

int gsp_exec_create(const gsp_exec_config *cfg, gsp_exec **out) {
  static const gsp_exec_config defaults = {0};
  if (out == NULL) return GSP_EINVAL;
  if (cfg == NULL) cfg = &defaults;
  if (cfg->workers > MAX_WORKERS) return GSP_EINVAL;
  gsp_exec *ex = gsp_calloc(1, sizeof(*ex));
  if (ex == NULL) return GSP_ENOMEM;
  ex->nworkers = cfg->workers != 0 ? cfg->workers : gsp_exec_default_workers();
  ex->spin_iters = cfg->spin_iters != 0 ? cfg->spin_iters : DEFAULT_SPIN;
  int rv = init_sync(ex);
  if (rv != GSP_OK) goto out_free;
  rv = alloc_workers(ex);
  if (rv != GSP_OK) goto out_sync;
  rv = start_workers(ex);
  if (rv != GSP_OK) goto out_workers;
  *out = ex;
  return GSP_OK;
out_workers:
  free_workers(ex, ex->nworkers);
out_sync:
  fini_sync(ex);
out_free:
  gsp_free(ex);
  return rv;
}

void gsp_exec_destroy(gsp_exec *ex) {
  if (ex == NULL) return;
  stop_workers(ex, ex->nworkers);
  free_workers(ex, ex->nworkers);
  fini_sync(ex);
  gsp_free(ex);
}

unsigned gsp_exec_workers(const gsp_exec *ex) { return ex != NULL ? ex->nworkers : 0; }
