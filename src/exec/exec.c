/*
 * exec.c - the work-stealing pool: workers, submission, futures, waiting.
 *
 * Layout. Each worker owns a Chase-Lev deque (deque.c). A thread outside
 * the pool submits to its own submission slot (exec_outside.c), a deque
 * it only pushes onto, again without a lock; when every slot is taken it
 * submits to the injection queue, a FIFO list under `mu`, whose length is
 * mirrored in an atomic so idle workers can skip the lock when it is
 * empty. A task submitted by a task goes to the running worker's deque
 * without any lock (one release store). If a deque cannot grow (no
 * memory) the task goes to the injection queue instead, so a submit fails
 * only if the task itself cannot be allocated.
 *
 * A worker takes injected tasks, and tasks of a submission slot, in
 * batches of up to 16 (half of a slot's queue at most): one to run, the
 * rest moved onto its own deque, where idle workers steal them. A batch
 * from a slot costs one CAS; the slot's owner never pops, so thieves race
 * only each other.
 *
 * Finding work, in order: own deque (newest first: cache-warm, and it
 * bounds the deque in recursive fork-join), the injection queue, then a
 * steal sweep over the other workers starting at a random one (oldest
 * first: the biggest pieces of work in divide and conquer), then the
 * submission slots.
 *
 * Sleeping. A wake-up costs 10-20 us here, so an idle worker first makes
 * `spin_iters` bounded rounds of find-work with a CPU pause between them,
 * counted in `nspinning`, then sleeps on `work_cv`. A producer that sees
 * a spinner (after publishing, seq_cst) sends no signal: the spinner
 * looks at every queue before it sleeps (it lowers `nspinning` before it
 * raises `nsleeping` and re-checks, so it sees the task). A spinner that
 * finds work and was the last one spinning wakes a sleeper, if any, for
 * the tasks that may follow (no parallelism is lost to skipped signals);
 * so does a worker just woken that finds work at once while more is
 * queued, or the chain would stop there: pushes a spinner absorbed, then
 * a woken worker taking one task without spinning, would leave the rest
 * queued with workers asleep (tests/unit/exec/test_exec_wake.c forces
 * that pattern).
 *
 * No wake-up is lost. The sleeper raises `nsleeping` (a seq_cst RMW) and
 * re-checks every queue while holding `mu`; a producer publishes its
 * task, then reads `nsleeping` (seq_cst), and signals under `mu` only if
 * someone sleeps. Either the re-check sees the task or the producer sees
 * the sleeper. For a deque the publish is a seq_cst store of its bottom
 * (deque.c) and the re-check reads bottom seq_cst, so all four accesses
 * lie in the total order S of seq_cst operations, consistent with program
 * order: if the producer's read missed the raise it precedes the raise in
 * S, so the publish precedes the re-check, which therefore sees it (the
 * store-buffering pattern, which seq_cst accesses forbid without any
 * fence). Likewise for `nspinning`: a producer whose read counted a
 * spinner precedes that spinner's lowering of it in S, and the spinner
 * looks at the queues (seq_cst) after that. Tasks a worker moves onto its
 * own deque (a batch from the injection queue or a slot) are published
 * the same way, once per batch. The FIFOs are filled and re-checked under
 * `mu`. Producers thus pay one atomic load per submission while all
 * workers are busy.
 *
 * Wake-ups are batched: `nwaking` counts signals sent to sleepers that
 * have not woken yet, and a producer signals only while more workers
 * sleep than are being woken, so a burst of pushes onto a deque while a
 * sleeper takes its 10-20 us to wake costs one signal, not one per push.
 * A sleeper lowers `nwaking` when it wakes. The producer's look at the two
 * counts (after its seq_cst publish, or under `mu` for the shared queues)
 * skips the signal only when every sleeper it counts has a signal on its
 * way, and each of those wakes and looks at every queue, after the task
 * was published.
 *
 * Backstop. No sleep in the pool is untimed: an idle worker and a blocked
 * waiter wake after BACKSTOP_NS at most and look again. The protocol above
 * loses no wake-up, but glibc's condition variable could (sourceware bug
 * 25847: a signal absorbed by a waiter that had already left, fixed
 * upstream after the glibc 2.36 that Debian 12 ships). A lost signal
 * costs up to a second of latency, never a hang. An idle pool pays one
 * wake-up per worker per second.
 *
 * Tasks and futures. A task is one fixed-size object, taken from the
 * worker's magazines when a worker submits and returned there when a
 * worker frees it (exec_task.c: no malloc/free per task once warm); a
 * future is the same object with a second reference. The submitter asks
 * for a future or not; without one the task carries a single reference.
 * A task nobody else references when it starts (no future, or the future
 * already released) cannot be canceled or awaited, so it runs without any
 * state transition and is freed at once; group tasks take this path and
 * wake waiters only when the group's count reaches zero (see "Group
 * counts"). State moves PENDING -> RUNNING -> DONE or PENDING ->
 * CANCELED, each by CAS, so cancel and start race safely; a canceled task
 * stays queued and is dropped when a worker reaches it.
 *
 * Group counts. A group's `pending` is raised by each spawn, before the
 * task is published. A worker that finishes a group task does not lower
 * it at once: it keeps the count as a debt (`debt_g`, `debt_n`) while it
 * goes on running tasks of the same group, and pays it in one atomic
 * subtraction before it runs a task of another group (or none), when it
 * finds no work, and before it blocks in a wait. The thief of a long run
 * of one group's tasks thus writes the spawner's cache line once per run
 * instead of once per task. Nobody waits longer for it: a worker holds a
 * debt only while it runs, or has just taken, a task of that very group,
 * which the group's waiters wait for anyway; an error is recorded at once.
 *
 * Waiting. A worker that waits (future, group, parallel-for) runs other
 * tasks until its condition holds, which is what makes nested fork-join
 * deadlock-free; with nothing to run it sleeps on `done_cv` for at most a
 * millisecond at a time and looks again. A thread outside the pool just
 * sleeps on `done_cv`. Finishing a task broadcasts `done_cv` only when
 * `nwaiters` is non-zero (the same publish-then-check pairing as above).
 *
 * Priorities. Latency-class tasks go to their own FIFO (under `mu`, length
 * mirrored in an atomic) which every worker looks at before anything
 * else, so a latency task starts as soon as any worker finishes its
 * current task, ahead of every queued throughput task. Throughput is the
 * default class and takes the paths described above.
 *
 * Shutdown drains: once `stopping` is raised a worker that finds no work
 * at all waits, as an ordinary sleeper, until the pool is drained: every
 * live worker idle in idle_sleep (`nsleeping` == `nlive`, under `mu`)
 * with nothing queued. The last one to get there marks the pool
 * `drained` and wakes the others, and they all exit. Until then a task
 * still running may spawn more work, and the pushes wake the idle workers
 * as usual: were they gone, tasks spawned late that must run side by side
 * (a rendezvous, a group whose tasks wait for each other) would be left
 * to the spawner's worker alone (test_exec_drain). Cancel mode raises
 * `canceling` first: from then on a worker that takes a task drops it
 * instead of running it (its future reports GSP_ECANCELED, its group
 * counts it done with GSP_ECANCELED), so the queues empty fast; tasks
 * already running finish normally.
 *
 * Worker slots, auto-scaling and statistics live in exec_scale.c and
 * exec_stats.c; a worker here only counts what it runs and steals, stamps
 * tasks when `timing` is on, and, when idle long enough, asks
 * gsp__exec_may_retire_locked() whether it may exit.
 */
#include <errno.h>
#include <stdlib.h>
#include <time.h>

#include "exec_int.h"
#include "gsperf/metrics.h"

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

/* The calling thread's worker slot if it is a worker of ex, else NULL. */
static inline gsp__worker *self_of(const gsp_exec *ex) {
  gsp__worker *w = tl_worker;
  return w != NULL && w->ex == ex ? w : NULL;
}

gsp__task *gsp__task_new(gsp_exec *ex, gsp_exec_fn fn, void *arg, gsp__group *g, int refs) {
  gsp__worker *w = self_of(ex);
  gsp__task *t =
      w != NULL ? gsp__task_alloc(ex, w) : gsp__task_alloc_outside(ex, gsp__outside_self(ex));
  if (t == NULL) return NULL;
  t->fn = fn;
  t->arg = arg;
  t->drop = NULL;
  t->ex = ex;
  t->group = g;
  t->next = NULL;
  t->enq_ns = ex->timing ? gsp_now_ns() : 0;
  t->result = 0;
  atomic_init(&t->state, GSP__T_PENDING);
  atomic_init(&t->refs, refs);
  return t;
}

/* Drop a reference. t->ex may be gone (a future released after the pool):
   only a worker of t->ex, which keeps the pool alive, dereferences it. */
static void task_unref(gsp__task *t) {
  gsp_exec *ex = t->ex;
  if (atomic_fetch_sub_explicit(&t->refs, 1, memory_order_acq_rel) == 1)
    gsp__task_release(ex, self_of(ex), t);
}

/* Signal one sleeper unless every sleeper already has a signal on its way; mu held. */
static void signal_locked(gsp_exec *ex) {
  unsigned waking = atomic_load_explicit(&ex->nwaking, memory_order_relaxed);
  if (atomic_load(&ex->nsleeping) <= waking) return;
  atomic_store_explicit(&ex->nwaking, waking + 1, memory_order_relaxed);
  unsigned lose = atomic_load_explicit(&ex->lose_signals, memory_order_relaxed);
  if (lose != 0) { /* a lost wake-up, made by tests of the backstop */
    atomic_store_explicit(&ex->lose_signals, lose - 1, memory_order_relaxed);
    return;
  }
  pthread_cond_signal(&ex->work_cv);
}

/* After a deque push (its seq_cst publish): no signal while a worker
   spins (it looks at every queue before it sleeps), and the unlocked look
   at the sleepers only skips the lock (see "No wake-up is lost"). */
static void wake_one(gsp_exec *ex) {
  /* nsleeping first: rarely written, while nspinning moves with every
     spin of a worker that keeps up with the producer. */
  if (atomic_load(&ex->nsleeping) <= atomic_load(&ex->nwaking)) return;
  if (atomic_load(&ex->nspinning) != 0) return;
  pthread_mutex_lock(&ex->mu);
  signal_locked(ex);
  pthread_mutex_unlock(&ex->mu);
}

/* Append t to q; mu held. */
static void fifo_put_locked(gsp__fifo *q, gsp__task *t) {
  if (q->tail != NULL)
    q->tail->next = t;
  else
    q->head = t;
  q->tail = t;
  atomic_fetch_add(&q->len, 1);
}

/* Take the oldest task of q; mu held. */
static gsp__task *fifo_take_locked(gsp__fifo *q) {
  gsp__task *t = q->head;
  if (t == NULL) return NULL;
  q->head = t->next;
  if (q->head == NULL) q->tail = NULL;
  atomic_fetch_sub(&q->len, 1);
  return t;
}

/* Return t to the front of q; mu held. */
static void fifo_putback_locked(gsp__fifo *q, gsp__task *t) {
  t->next = q->head;
  q->head = t;
  if (q->tail == NULL) q->tail = t;
  atomic_fetch_add(&q->len, 1);
}

static void inject(gsp_exec *ex, gsp__fifo *q, gsp__task *t) {
  pthread_mutex_lock(&ex->mu);
  fifo_put_locked(q, t);
  signal_locked(ex);
  pthread_mutex_unlock(&ex->mu);
}

void gsp__exec_push(gsp_exec *ex, gsp__task *t) {
  gsp__worker *w = tl_worker;
  gsp__deque *dq = NULL;
  if (w != NULL && w->ex == ex) {
    dq = &w->dq;
  } else {
    gsp__outside *s = gsp__outside_self(ex);
    if (s != NULL) dq = &s->dq;
  }
  if (dq != NULL && gsp__deque_push(dq, t) == GSP_OK) {
    wake_one(ex); /* its seq_cst loads follow the push's seq_cst publish */
    return;
  }
  inject(ex, &ex->inj, t);
}

/*
 * Take the oldest injected task and move up to INJECT_BATCH - 1 more onto
 * w's deque, where the other workers can steal them: one lock round trip
 * and one publish per batch instead of per task. If the deque cannot grow
 * (no memory) the rest stay queued. Tasks are unlinked before they are
 * pushed: once on the deque one may be stolen, run and freed at once.
 */
static gsp__task *inject_take(gsp__worker *w) {
  gsp_exec *ex = w->ex;
  if (atomic_load_explicit(&ex->inj.len, memory_order_relaxed) == 0) return NULL;
  void *more[INJECT_BATCH - 1];
  size_t n = 0;
  pthread_mutex_lock(&ex->mu);
  gsp__task *t = fifo_take_locked(&ex->inj);
  while (n < INJECT_BATCH - 1 && ex->inj.head != NULL) more[n++] = fifo_take_locked(&ex->inj);
  if (gsp__deque_push_batch(&w->dq, more, n) != GSP_OK)
    while (n > 0) fifo_putback_locked(&ex->inj, more[--n]); /* back in order */
  pthread_mutex_unlock(&ex->mu);
  return t;
}

/* The oldest latency-class task, if any (one at a time: they never go to a deque). */
static gsp__task *latency_take(gsp_exec *ex) {
  if (atomic_load_explicit(&ex->latency.len, memory_order_relaxed) == 0) return NULL;
  pthread_mutex_lock(&ex->mu);
  gsp__task *t = fifo_take_locked(&ex->latency);
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

/* One task from d, retrying lost races; NULL when d is empty. */
static gsp__task *steal_from(gsp__worker *self, gsp__deque *d) {
  void *x = NULL;
  gsp__steal_result r;
  while ((r = gsp__deque_steal(d, &x)) == GSP__STEAL_ABORT) cpu_relax();
  if (r != GSP__STEAL_OK) return NULL;
  gsp__stat_inc(&self->st.stolen);
  if (self->ex->m.stolen != NULL) gsp_counter_inc(self->ex->m.stolen);
  return x;
}

/*
 * Take up to INJECT_BATCH tasks (half of those queued) from d, an outside
 * thread's slot: run the first, push the rest onto self's deque where the
 * other workers can steal them. One CAS per batch instead of one per task
 * on the line every worker contends for, and one publish on self's deque.
 * If self's deque cannot grow (no memory) the rest go to the injection
 * queue. Not counted as steals (like
 * tasks taken from the injection queue): a task moved here may be stolen
 * from self's deque later, and is counted then.
 */
static gsp__task *steal_outside_batch(gsp__worker *self, gsp__deque *d) {
  void *x[INJECT_BATCH];
  size_t k = gsp__deque_steal_batch(d, x, INJECT_BATCH);
  if (k == 0) return NULL;
  if (gsp__deque_push_batch(&self->dq, x + 1, k - 1) != GSP_OK)
    for (size_t i = 1; i < k; i++) inject(self->ex, &self->ex->inj, x[i]);
  return x[0];
}

/* Tasks from the slot of a thread outside the pool, starting at a random one. */
static gsp__task *steal_outside(gsp__worker *self) {
  gsp_exec *ex = self->ex;
  unsigned n = atomic_load_explicit(&ex->nout, memory_order_acquire);
  if (n == 0) return NULL;
  unsigned start = n == 1 ? 0 : (unsigned)(xorshift(&self->rng) % n);
  for (unsigned i = 0; i < n; i++) {
    gsp__deque *d = &ex->out[(start + i) % n].dq;
    if (gsp__deque_empty(d)) continue; /* a peek: no CAS on an empty slot */
    gsp__task *t = steal_outside_batch(self, d);
    if (t != NULL) return t;
  }
  return NULL;
}

static gsp__task *steal_sweep(gsp__worker *self) {
  gsp_exec *ex = self->ex;
  unsigned n = atomic_load_explicit(&ex->nslots, memory_order_acquire);
  if (n < 2) return steal_outside(self);
  unsigned start = (unsigned)(xorshift(&self->rng) % n);
  for (unsigned i = 0; i < n; i++) {
    gsp__worker *v = &ex->w[(start + i) % n];
    if (v == self) continue;
    gsp__task *t = steal_from(self, &v->dq);
    if (t != NULL) return t;
  }
  return steal_outside(self);
}

static gsp__task *find_work(gsp__worker *w) {
  gsp__task *t = latency_take(w->ex);
  if (t == NULL) t = gsp__deque_pop(&w->dq);
  if (t == NULL) t = inject_take(w);
  if (t == NULL) t = steal_sweep(w);
  return t;
}

static int run_fn(const gsp__task *t) {
  const gsp__group *g = t->group;
  if (g != NULL && atomic_load_explicit(&g->err, memory_order_relaxed) != 0) return GSP_ECANCELED;
  if (!t->ex->timing) return t->fn(t->arg);
  uint64_t start = gsp_now_ns();
  int r = t->fn(t->arg);
  gsp__exec_record(t->ex, t->enq_ns, start, gsp_now_ns());
  return r;
}

/* Take n finished tasks off g's pending; g may be freed by its waiter once it is 0. */
static void group_sub(gsp_exec *ex, gsp__group *g, size_t n) {
  if (atomic_fetch_sub(&g->pending, n) == n) gsp__exec_notify(ex);
}

/* Pay w's debt: its finished group tasks not yet taken off their pending. */
static void debt_flush(gsp__worker *w) {
  if (w->debt_n == 0) return;
  size_t n = w->debt_n;
  w->debt_n = 0;
  group_sub(w->ex, w->debt_g, n);
  w->debt_g = NULL;
}

/*
 * Record a group task's end. An error is recorded at once; on a worker
 * the count is deferred as debt while the worker keeps running tasks of
 * the same group (see "Group counts" above), else taken off at once.
 */
static void group_done(gsp_exec *ex, gsp__worker *w, gsp__group *g, int r) {
  int none = 0;
  if (r != 0) atomic_compare_exchange_strong(&g->err, &none, r);
  if (w == NULL) {
    group_sub(ex, g, 1);
    return;
  }
  if (w->debt_g != g) debt_flush(w);
  w->debt_g = g;
  w->debt_n++;
}

/* Cancel-mode shutdown: drop t without running it. */
static void drop_task(gsp__task *t) {
  gsp_exec *ex = t->ex;
  gsp__group *g = t->group;
  int expected = GSP__T_PENDING;
  if (atomic_compare_exchange_strong(&t->state, &expected, GSP__T_CANCELED)) {
    if (g != NULL) group_done(ex, NULL, g, GSP_ECANCELED);
    gsp__exec_notify(ex);
  }
  if (t->drop != NULL) t->drop(t->arg);
  task_unref(t);
}

static void run_task(gsp__worker *w, gsp__task *t) {
  gsp_exec *ex = t->ex;
  gsp__group *g = t->group;
  gsp__stat_inc(&w->st.run);
  if (ex->m.tasks != NULL) gsp_counter_inc(ex->m.tasks);
  if (g != w->debt_g) debt_flush(w); /* never hold a debt while running another group's task */
  if (atomic_load_explicit(&ex->canceling, memory_order_relaxed)) {
    drop_task(t);
    return;
  }
  if (atomic_load_explicit(&t->refs, memory_order_acquire) == 1) {
    /* Only the pool holds it: nobody can cancel or wait any more. It was
       canceled already if its future was canceled and then released. */
    if (atomic_load_explicit(&t->state, memory_order_relaxed) == GSP__T_CANCELED) {
      if (t->drop != NULL) t->drop(t->arg);
      gsp__task_release(ex, w, t);
      return;
    }
    int r = run_fn(t);
    gsp__task_release(ex, w, t);
    if (g != NULL) group_done(ex, w, g, r);
    return;
  }
  int expected = GSP__T_PENDING;
  if (atomic_compare_exchange_strong(&t->state, &expected, GSP__T_RUNNING)) {
    t->result = run_fn(t);
    if (g != NULL) group_done(ex, NULL, g, t->result);
    atomic_store(&t->state, GSP__T_DONE);
    gsp__exec_notify(ex);
  } else if (t->drop != NULL) {
    t->drop(t->arg); /* canceled before it started */
  }
  task_unref(t);
}

void gsp__exec_notify(gsp_exec *ex) {
  if (atomic_load(&ex->nwaiters) == 0) return;
  pthread_mutex_lock(&ex->done_mu);
  pthread_cond_broadcast(&ex->done_cv);
  pthread_mutex_unlock(&ex->done_mu);
}

/* Every load here is seq_cst, so a caller that raised nsleeping (a seq_cst
   RMW) looks after the raise in S: see "No wake-up is lost". */
bool gsp__exec_any_work(gsp_exec *ex) {
  if (atomic_load(&ex->inj.len) != 0 || atomic_load(&ex->latency.len) != 0) return true;
  unsigned n = atomic_load(&ex->nslots);
  for (unsigned i = 0; i < n; i++)
    if (!gsp__deque_empty(&ex->w[i].dq)) return true;
  n = atomic_load(&ex->nout);
  for (unsigned i = 0; i < n; i++)
    if (!gsp__deque_empty(&ex->out[i].dq)) return true;
  return false;
}

static struct timespec abs_time(uint64_t ns) {
  struct timespec ts = {(time_t)(ns / 1000000000u), (long)(ns % 1000000000u)};
  return ts;
}

/* The longest any sleep in the pool lasts before it looks again: see "Backstop". */
#define BACKSTOP_NS 1000000000u

/* pthread_cond_wait bounded by BACKSTOP_NS (cv uses CLOCK_MONOTONIC, as gsp_now_ns). */
static void backstop_wait(pthread_cond_t *cv, pthread_mutex_t *mu) {
  struct timespec ts = abs_time(gsp_now_ns() + BACKSTOP_NS);
  pthread_cond_timedwait(cv, mu, &ts);
}

/*
 * Stopping, and the calling worker found no work: false while the pool is
 * not drained (the worker has slept as an idle worker and must look
 * again), true once it is (exit). The pool is drained when every live
 * worker sits here with nothing queued: then no task runs that could
 * spawn more, and threads outside the pool may no longer submit. The
 * worker that finds this marks it and wakes the others. mu held.
 */
static bool drained_locked(gsp_exec *ex) {
  if (!ex->drained && atomic_load(&ex->nsleeping) == atomic_load(&ex->nlive)) {
    ex->drained = true;
    pthread_cond_broadcast(&ex->work_cv);
  }
  if (!ex->drained) backstop_wait(&ex->work_cv, &ex->mu);
  return ex->drained;
}

/*
 * Sleep until work may exist. False when the worker must exit: the pool is
 * stopping and drained, or (scaling) it slept idle_ns with nothing to do
 * and the pool has more workers than its minimum.
 */
static bool idle_sleep(gsp__worker *w) {
  gsp_exec *ex = w->ex;
  bool keep = true;
  pthread_mutex_lock(&ex->mu);
  atomic_fetch_add(&ex->nsleeping, 1);
  if (!gsp__exec_any_work(ex)) {
    if (atomic_load(&ex->stopping)) {
      keep = !drained_locked(ex);
    } else if (!ex->scaling) {
      backstop_wait(&ex->work_cv, &ex->mu);
    } else {
      struct timespec ts = abs_time(gsp_now_ns() + ex->idle_ns);
      if (pthread_cond_timedwait(&ex->work_cv, &ex->mu, &ts) == ETIMEDOUT)
        keep = !gsp__exec_may_retire_locked(ex, w);
    }
  }
  unsigned waking = atomic_load_explicit(&ex->nwaking, memory_order_relaxed);
  if (waking != 0) atomic_store_explicit(&ex->nwaking, waking - 1, memory_order_relaxed);
  atomic_fetch_sub(&ex->nsleeping, 1);
  pthread_mutex_unlock(&ex->mu);
  return keep;
}

/*
 * Look for work spin_iters times, counted in `nspinning` meanwhile so that
 * producers skip their wake-up (see "Sleeping"). A spinner that finds work
 * and was the last one wakes a sleeper if there is one: more work may
 * follow that no producer signalled for.
 */
static gsp__task *spin_for_work(gsp__worker *w) {
  gsp_exec *ex = w->ex;
  gsp__task *t = NULL;
  debt_flush(w);
  atomic_fetch_add(&ex->nspinning, 1);
  for (unsigned s = 0; t == NULL && s < ex->spin_iters; s++) {
    for (int p = 0; p < PAUSES_PER_SPIN; p++) cpu_relax();
    t = find_work(w);
  }
  if (atomic_fetch_sub(&ex->nspinning, 1) == 1 && t != NULL) wake_one(ex);
  return t;
}

void *gsp__exec_worker_main(void *arg) {
  gsp__worker *w = arg;
  tl_worker = w;
  bool woken = false;
  for (;;) {
    gsp__task *t = find_work(w);
    if (t == NULL)
      t = spin_for_work(w); /* wakes a sleeper itself when it finds work */
    else if (woken && gsp__exec_any_work(w->ex))
      wake_one(w->ex); /* pass the wake-up on (see "Sleeping") */
    woken = false;
    if (t != NULL) {
      run_task(w, t);
      continue;
    }
    if (!idle_sleep(w)) break;
    woken = true;
  }
  gsp__task_cache_flush(w);
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

/* Block on done_cv until pred holds, deadline_ns (0 = never) or, on a worker, a short nap. */
static void block_once(gsp_exec *ex, wait_pred pred, void *ctx, uint64_t until_ns) {
  pthread_mutex_lock(&ex->done_mu);
  atomic_fetch_add(&ex->nwaiters, 1);
  if (!pred(ctx)) {
    if (until_ns == 0) {
      backstop_wait(&ex->done_cv, &ex->done_mu);
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
    if (deadline_ns != 0 && gsp_now_ns() >= deadline_ns) return false;
    if (w != NULL) {
      gsp__task *t = find_work(w);
      if (t != NULL) {
        run_task(w, t);
        continue;
      }
      debt_flush(w);
      if (pred(ctx)) break;
      uint64_t nap = gsp_now_ns() + HELP_SLEEP_NS;
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

int gsp_exec_submit_prio(gsp_exec *ex, gsp_exec_priority prio, gsp_exec_fn fn, void *arg,
                         gsp_exec_future **out) {
  return gsp__exec_submit_drop(ex, prio, fn, NULL, arg, out);
}

int gsp__exec_submit_drop(gsp_exec *ex, gsp_exec_priority prio, gsp_exec_fn fn, gsp_exec_fn drop,
                          void *arg, gsp_exec_future **out) {
  if (ex == NULL || fn == NULL) return GSP_EINVAL;
  if (prio != GSP_EXEC_THROUGHPUT && prio != GSP_EXEC_LATENCY) return GSP_EINVAL;
  if (atomic_load_explicit(&ex->stopping, memory_order_relaxed) && !gsp__exec_on_worker(ex))
    return GSP_ESTATE;
  gsp__task *t = gsp__task_new(ex, fn, arg, NULL, out != NULL ? 2 : 1);
  if (t == NULL) return GSP_ENOMEM;
  t->drop = drop;
  if (out != NULL) *out = t;
  if (prio == GSP_EXEC_LATENCY)
    inject(ex, &ex->latency, t);
  else
    gsp__exec_push(ex, t);
  return GSP_OK;
}

int gsp_exec_submit(gsp_exec *ex, gsp_exec_fn fn, void *arg, gsp_exec_future **out) {
  return gsp_exec_submit_prio(ex, GSP_EXEC_THROUGHPUT, fn, arg, out);
}

/* ---- life cycle ---- */

static int init_sync(gsp_exec *ex) {
  pthread_condattr_t ca;
  if (pthread_condattr_init(&ca) != 0) return GSP_ESYS;
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  int rv = GSP_ESYS;
  if (pthread_mutex_init(&ex->mu, NULL) != 0) goto out_attr;
  if (pthread_mutex_init(&ex->done_mu, NULL) != 0) goto out_mu;
  if (pthread_mutex_init(&ex->depot_mu, NULL) != 0) goto out_done_mu;
  if (pthread_cond_init(&ex->work_cv, &ca) != 0) goto out_depot_mu;
  if (pthread_cond_init(&ex->done_cv, &ca) != 0) goto out_work_cv;
  if (pthread_cond_init(&ex->scaler_cv, &ca) != 0) goto out_done_cv;
  pthread_condattr_destroy(&ca);
  return GSP_OK;
out_done_cv:
  pthread_cond_destroy(&ex->done_cv);
out_work_cv:
  pthread_cond_destroy(&ex->work_cv);
out_depot_mu:
  pthread_mutex_destroy(&ex->depot_mu);
out_done_mu:
  pthread_mutex_destroy(&ex->done_mu);
out_mu:
  pthread_mutex_destroy(&ex->mu);
out_attr:
  pthread_condattr_destroy(&ca);
  return rv;
}

static void fini_sync(gsp_exec *ex) {
  pthread_cond_destroy(&ex->scaler_cv);
  pthread_cond_destroy(&ex->done_cv);
  pthread_cond_destroy(&ex->work_cv);
  pthread_mutex_destroy(&ex->depot_mu);
  pthread_mutex_destroy(&ex->done_mu);
  pthread_mutex_destroy(&ex->mu);
}

static unsigned clampu(unsigned v, unsigned lo, unsigned hi) {
  return v < lo ? lo : v > hi ? hi : v;
}

/* Worker counts and timings from cfg; GSP_EINVAL if they contradict. */
static int configure(gsp_exec *ex, const gsp_exec_config *cfg) {
  if (cfg->workers > MAX_WORKERS || cfg->max_workers > MAX_WORKERS) return GSP_EINVAL;
  unsigned start = cfg->workers != 0 ? cfg->workers : gsp_exec_default_workers();
  if (cfg->max_workers == 0) {
    ex->min_workers = ex->max_workers = start;
  } else {
    ex->min_workers = cfg->min_workers != 0 ? cfg->min_workers : 1;
    ex->max_workers = cfg->max_workers;
    if (ex->min_workers > ex->max_workers) return GSP_EINVAL;
  }
  ex->scaling = ex->min_workers < ex->max_workers;
  ex->spin_iters = cfg->spin_iters != 0 ? cfg->spin_iters : DEFAULT_SPIN;
  ex->target_wait_ns = (uint64_t)(cfg->target_wait_us != 0 ? cfg->target_wait_us : 4000) * 1000u;
  ex->idle_ns = (uint64_t)(cfg->idle_ms != 0 ? cfg->idle_ms : 2000) * 1000000u;
  return GSP_OK;
}

static int start_initial(gsp_exec *ex, const gsp_exec_config *cfg) {
  unsigned want = cfg->workers != 0 ? cfg->workers : gsp_exec_default_workers();
  want = clampu(want, ex->min_workers, ex->max_workers);
  int rv = GSP_OK;
  pthread_mutex_lock(&ex->mu);
  for (unsigned i = 0; i < want && rv == GSP_OK; i++) rv = gsp__exec_start_worker_locked(ex);
  pthread_mutex_unlock(&ex->mu);
  if (rv == GSP_OK && ex->scaling) rv = gsp__exec_scaler_start(ex);
  return rv;
}

int gsp_exec_create(const gsp_exec_config *cfg, gsp_exec **out) {
  static const gsp_exec_config defaults = {0};
  if (out == NULL) return GSP_EINVAL;
  if (cfg == NULL) cfg = &defaults;
  gsp_exec *ex = gsp_calloc(1, sizeof(*ex));
  if (ex == NULL) return GSP_ENOMEM;
  int rv = configure(ex, cfg);
  if (rv != GSP_OK) goto out_free;
  rv = init_sync(ex);
  if (rv != GSP_OK) goto out_free;
  rv = gsp__exec_slots_alloc(ex);
  if (rv != GSP_OK) goto out_sync;
  rv = gsp__exec_metrics_init(ex, cfg);
  if (rv != GSP_OK) goto out_slots;
  rv = gsp__outside_init(ex);
  if (rv != GSP_OK) goto out_slots;
  rv = start_initial(ex, cfg);
  if (rv != GSP_OK) goto out_stop;
  *out = ex;
  return GSP_OK;
out_stop:
  gsp__exec_stop_all(ex);
  gsp__outside_fini(ex);
out_slots:
  gsp__exec_slots_free(ex);
out_sync:
  fini_sync(ex);
out_free:
  gsp_free(ex);
  return rv;
}

void gsp_exec_shutdown(gsp_exec *ex, gsp_exec_shutdown_mode mode) {
  if (ex == NULL) return;
  if (mode == GSP_EXEC_CANCEL) atomic_store(&ex->canceling, true);
  gsp__exec_stop_all(ex);
  gsp__outside_fini(ex);
  gsp__exec_slots_free(ex);
  fini_sync(ex);
  gsp_free(ex);
}

void gsp_exec_destroy(gsp_exec *ex) { gsp_exec_shutdown(ex, GSP_EXEC_DRAIN); }

unsigned gsp_exec_workers(const gsp_exec *ex) {
  return ex != NULL ? atomic_load_explicit(&ex->nlive, memory_order_relaxed) : 0;
}
