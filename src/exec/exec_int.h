/*
 * exec_int.h - the pool's internals shared by exec.c (workers, submission,
 * futures, waiting), exec_group.c (groups, parallel-for), exec_map.c
 * (batch map), exec_scale.c (worker slots, auto-scaling), exec_stats.c
 * (statistics, metrics export) and exec_cpus.c.
 */
#ifndef GSP_EXEC_INT_H
#define GSP_EXEC_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "deque.h"
#include "gsperf/exec.h"

enum { GSP__T_PENDING = 0, GSP__T_RUNNING = 1, GSP__T_DONE = 2, GSP__T_CANCELED = 3 };

/* Worker slot states (gsp__worker.state), changed under gsp_exec.mu. */
enum { GSP__SLOT_OFF = 0, GSP__SLOT_RUN = 1, GSP__SLOT_EXITED = 2 };

/*
 * A group's shared state; gsp_exec_group wraps one, parallel-for keeps one
 * on its stack. pending is written on every spawn; err, read by every task
 * the group runs, sits a cache line away so the spawner's writes do not
 * take it from the CPUs running the tasks.
 */
typedef struct gsp__group {
  gsp_exec *ex;
  _Atomic size_t pending; /* spawned and not yet finished or skipped (less workers' debts) */
  char pad_[64];
  _Atomic int err; /* first non-zero status, 0 while none */
} gsp__group;

/* A task; a future is the task itself, shared by the pool and the caller. */
struct gsp_exec_future {
  gsp_exec_fn fn;
  void *arg;
  gsp_exec_fn drop; /* NULL, or called with arg once if the task will never run */
  gsp_exec *ex;
  gsp__group *group;            /* NULL unless spawned in a group */
  struct gsp_exec_future *next; /* injection queue link */
  uint64_t enq_ns;              /* queued at (only when ex->timing) */
  _Atomic int state;            /* GSP__T_* */
  _Atomic int refs;             /* the pool's one, plus the future's */
  int result;                   /* written before state becomes DONE */
};
typedef struct gsp_exec_future gsp__task;

/* A FIFO of tasks under gsp_exec.mu; len mirrored for lock-free peeks. */
typedef struct gsp__fifo {
  gsp__task *head, *tail;
  _Atomic size_t len;
} gsp__fifo;

/* A chain of free task objects (exec_task.c); n is 0 or full for a spare. */
typedef struct gsp__magazine {
  gsp__task *head;
  unsigned n;
} gsp__magazine;

enum { GSP__DEPOT_CHAINS = 1024 }; /* full chains the pool keeps for reuse, at most */

/* A submission slot of a thread outside the pool (exec_outside.c). */
enum { GSP__OUTSIDE_SLOTS = 8 };
typedef struct gsp__outside {
  gsp__deque dq;     /* the owning thread pushes, workers steal */
  gsp__magazine mag; /* free tasks, owner only */
  bool owned;        /* a live thread holds it (under the process-wide slot mutex) */
} gsp__outside;

/* Per-worker counters: written by the owner only (load + store), read by anyone. */
typedef struct gsp__wstats {
  _Atomic uint64_t run;    /* tasks run (or dropped on cancel) by this worker */
  _Atomic uint64_t stolen; /* of those, taken from another worker's deque */
} gsp__wstats;

typedef struct gsp__worker {
  gsp__deque dq;
  gsp_exec *ex;
  pthread_t thread;
  uint64_t rng; /* xorshift state for victim choice */
  unsigned id;
  int state; /* GSP__SLOT_*, under ex->mu */
  gsp__wstats st;
  gsp__magazine loaded, spare; /* free tasks, touched by the running thread only */
  gsp__group *debt_g;          /* finished tasks of debt_g not yet taken off its pending */
  size_t debt_n;
} gsp__worker;

/* Metric handles when a registry was given (exec_stats.c); all NULL otherwise. */
typedef struct gsp__exec_metrics {
  struct gsp_counter *tasks, *stolen, *grown, *shrunk;
  struct gsp_gauge *workers;
  struct gsp_hist *wait, *run;
} gsp__exec_metrics;

struct gsp_exec {
  gsp__worker *w;          /* max_workers slots, deques ready */
  _Atomic unsigned nslots; /* slots ever started (high water): the steal range */
  _Atomic unsigned nlive;  /* workers running now */
  unsigned min_workers, max_workers;
  unsigned spin_iters;
  uint64_t target_wait_ns; /* grow when work waited this long (scaling) */
  uint64_t idle_ns;        /* a surplus worker idle this long exits (scaling) */
  bool scaling;            /* min_workers < max_workers */
  bool timing;             /* stamp tasks: queue-wait and run-time histograms */
  /* Queues and sleeping workers, under mu. */
  pthread_mutex_t mu;
  pthread_cond_t work_cv;
  gsp__fifo inj;     /* throughput class from outside the pool */
  gsp__fifo latency; /* latency class, from anywhere */
  _Atomic unsigned nsleeping;
  _Atomic unsigned nwaking;      /* signals sent to sleepers that have not woken yet (under mu) */
  _Atomic unsigned lose_signals; /* tests: this many work signals are counted but not sent */
  _Atomic unsigned nbusy;        /* workers running a task */
  _Atomic bool stopping;
  _Atomic bool canceling; /* cancel-mode shutdown: drop what is queued */
  bool drained;           /* stopping, every worker idle, nothing queued (under mu; exec.c) */
  /* Completion notices for threads blocked in a wait, under done_mu. */
  pthread_mutex_t done_mu;
  pthread_cond_t done_cv;
  _Atomic unsigned nwaiters;
  _Atomic unsigned nspinning; /* workers looking for work before they sleep (exec.c) */
  /* The scaler thread (only when scaling), under mu. */
  pthread_t scaler;
  bool scaler_started;
  pthread_cond_t scaler_cv;
  uint64_t backlog_since; /* when the scaler first saw work wait with no idle worker */
  /* Free task chains from workers that free more than they allocate (exec_task.c). */
  pthread_mutex_t depot_mu;
  _Atomic unsigned ndepot; /* written under depot_mu, peeked without it */
  _Atomic unsigned nout;   /* outside slots ever claimed: workers steal below it */
  gsp__task *depot[GSP__DEPOT_CHAINS];
  /* Slots of submitting threads outside the pool (exec_outside.c). */
  gsp__outside *out;   /* GSP__OUTSIDE_SLOTS */
  uint64_t id;         /* unique in the process */
  gsp_exec *live_next; /* list of live pools, under the slot mutex */
  /* Statistics. */
  _Atomic uint64_t grown, shrunk;
  _Atomic unsigned peak;
  gsp__exec_metrics m;
};

/* Allocate a task for fn(arg) with refs references; NULL on ENOMEM. */
gsp__task *gsp__task_new(gsp_exec *ex, gsp_exec_fn fn, void *arg, gsp__group *g, int refs);
/* gsp_exec_submit_prio, with `drop` called on arg (once, on the thread that
   drops the task) if the task is canceled before it starts or dropped by a
   cancel-mode shutdown; lets the I/O executor free what it wrapped. */
int gsp__exec_submit_drop(gsp_exec *ex, gsp_exec_priority prio, gsp_exec_fn fn, gsp_exec_fn drop,
                          void *arg, gsp_exec_future **out);
/* exec_task.c: task objects from w's magazines (w NULL: a thread outside the pool). */
gsp__task *gsp__task_alloc(gsp_exec *ex, gsp__worker *w);
void gsp__task_release(gsp_exec *ex, gsp__worker *w, gsp__task *t);
/* A task for a thread outside the pool that owns slot s (s NULL: none). */
gsp__task *gsp__task_alloc_outside(gsp_exec *ex, gsp__outside *s);
/* gsp_free() every task of a chain linked through next. */
void gsp__task_chain_free(gsp__task *t);
/* exec_outside.c: create (and register) and free the pool's outside slots. */
int gsp__outside_init(gsp_exec *ex);
void gsp__outside_fini(gsp_exec *ex);
/* The calling thread's slot in ex, claimed on first use; NULL if none is free. */
gsp__outside *gsp__outside_self(gsp_exec *ex);
/* Free w's magazines (its thread has exited or is exiting). */
void gsp__task_cache_flush(gsp__worker *w);
/* Free every worker's magazines and the depot; the workers have exited. */
void gsp__task_cache_free(gsp_exec *ex);
/* Queue t: on the calling worker's deque, else the injection queue. */
void gsp__exec_push(gsp_exec *ex, gsp__task *t);
/* True when the calling thread is a worker of ex. */
bool gsp__exec_on_worker(const gsp_exec *ex);
/* Wait until *flag (a size_t counter) is 0, helping when on a worker. */
void gsp__exec_wait_zero(gsp_exec *ex, _Atomic size_t *counter);
/* Tell blocked waiters that something finished. */
void gsp__exec_notify(gsp_exec *ex);
/* Any work visible anywhere? (seq_cst; used under mu by would-be sleepers and the scaler) */
bool gsp__exec_any_work(gsp_exec *ex);
/* The worker thread's body (exec.c). */
void *gsp__exec_worker_main(void *arg);

/* exec_scale.c: slots, starting and joining workers, the scaler thread. */
int gsp__exec_slots_alloc(gsp_exec *ex);
void gsp__exec_slots_free(gsp_exec *ex);
/* Start a worker in a free slot; mu held. GSP_OK, GSP_ENOSPC (all busy) or GSP_ESYS. */
int gsp__exec_start_worker_locked(gsp_exec *ex);
/* May this idle worker exit now? Decides and books it; mu held. */
bool gsp__exec_may_retire_locked(gsp_exec *ex, gsp__worker *w);
int gsp__exec_scaler_start(gsp_exec *ex);
/* Stop the scaler, then stop and join every worker (drain or cancel as flagged). */
void gsp__exec_stop_all(gsp_exec *ex);

/* exec_stats.c */
int gsp__exec_metrics_init(gsp_exec *ex, const gsp_exec_config *cfg);
void gsp__exec_workers_changed(gsp_exec *ex);
/* Record one task's queue wait and run time (only when ex->timing). */
void gsp__exec_record(gsp_exec *ex, uint64_t enq_ns, uint64_t start_ns, uint64_t end_ns);

static inline void gsp__stat_inc(_Atomic uint64_t *c) {
  atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + 1, memory_order_relaxed);
}

#endif
