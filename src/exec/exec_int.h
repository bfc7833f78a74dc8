/*
 * exec_int.h - the pool's internals shared by exec.c (workers, submission,
 * futures, waiting), exec_group.c (groups, parallel-for) and exec_cpus.c.
 */
#ifndef GSP_EXEC_INT_H
#define GSP_EXEC_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "deque.h"
#include "gsperf/exec.h"

enum { GSP__T_PENDING = 0, GSP__T_RUNNING = 1, GSP__T_DONE = 2, GSP__T_CANCELED = 3 };

/* A group's shared state; gsp_exec_group wraps one, parallel-for keeps one on its stack. */
typedef struct gsp__group {
  gsp_exec *ex;
  _Atomic size_t pending; /* spawned and not yet finished or skipped */
  _Atomic int err;        /* first non-zero status, 0 while none */
} gsp__group;

/* A task; a future is the task itself, shared by the pool and the caller. */
struct gsp_exec_future {
  gsp_exec_fn fn;
  void *arg;
  gsp_exec *ex;
  gsp__group *group;            /* NULL unless spawned in a group */
  struct gsp_exec_future *next; /* injection queue link */
  _Atomic int state;            /* GSP__T_* */
  _Atomic int refs;             /* the pool's one, plus the future's */
  int result;                   /* written before state becomes DONE */
};
typedef struct gsp_exec_future gsp__task;

typedef struct gsp__worker {
  gsp__deque dq;
  gsp_exec *ex;
  pthread_t thread;
  uint64_t rng; /* xorshift state for victim choice */
  unsigned id;
} gsp__worker;

struct gsp_exec {
  gsp__worker *w;
  unsigned nworkers;
  unsigned spin_iters;
  /* Injection queue and sleeping workers, under mu. */
  pthread_mutex_t mu;
  pthread_cond_t work_cv;
  gsp__task *inj_head, *inj_tail;
  _Atomic size_t inj_len;
  _Atomic unsigned nsleeping;
  _Atomic bool stopping;
  /* Completion notices for threads blocked in a wait, under done_mu. */
  pthread_mutex_t done_mu;
  pthread_cond_t done_cv;
  _Atomic unsigned nwaiters;
};

/* Allocate a task for fn(arg) with refs references; NULL on ENOMEM. */
gsp__task *gsp__task_new(gsp_exec *ex, gsp_exec_fn fn, void *arg, gsp__group *g, int refs);
/* Queue t: on the calling worker's deque, else the injection queue. */
void gsp__exec_push(gsp_exec *ex, gsp__task *t);
/* True when the calling thread is a worker of ex. */
bool gsp__exec_on_worker(const gsp_exec *ex);
/* Wait until *flag (a size_t counter) is 0, helping when on a worker. */
void gsp__exec_wait_zero(gsp_exec *ex, _Atomic size_t *counter);
/* Tell blocked waiters that something finished. */
void gsp__exec_notify(gsp_exec *ex);

#endif
