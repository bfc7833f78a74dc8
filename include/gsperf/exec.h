/*
 * gsperf/exec.h - a work-stealing thread pool: futures, task groups and
 * parallel-for.
 *
 * A pool owns N worker threads. Each worker has its own Chase-Lev deque; a
 * task submitted from inside a task of the same pool goes to the running
 * worker's deque (LIFO for the owner, stolen FIFO by idle workers), a task
 * submitted from any other thread goes to a shared injection queue. Idle
 * workers steal from random victims, spin briefly (bounded), then sleep on
 * a condition variable until work arrives.
 *
 * Waiting (on a future, a group, a parallel-for) from inside a task never
 * blocks its worker: the worker runs other tasks until the awaited work is
 * done, so recursive fork-join (fib) cannot deadlock however few workers
 * there are. A consequence: the waiting task's stack holds the frames of
 * the tasks it runs meanwhile.
 *
 * Task functions return an int status (0 = success); the status is
 * carried back to whoever waits. Tasks run on a worker thread with no
 * gsperf lock held; they may submit, spawn and wait.
 *
 * Thread safety: every function may be called from any thread at once,
 * except gsp_exec_destroy(), which must be the last call on the pool and
 * must not race with submissions from threads outside the pool.
 * All memory comes from gsp_malloc().
 */
#ifndef GSPERF_EXEC_H
#define GSPERF_EXEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gsperf/common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A task: runs once on a worker, returns 0 or a status carried to waiters. */
typedef int (*gsp_exec_fn)(void *arg);
/* One chunk [begin, end) of a parallel-for; returns 0 or a status. */
typedef int (*gsp_exec_range_fn)(void *user, size_t begin, size_t end);

typedef struct gsp_exec_config {
  unsigned workers;    /* 0 = the CPUs this process may use (affinity mask and
                          cgroup CPU quota, see gsp_exec_default_workers) */
  unsigned spin_iters; /* steal attempts an idle worker makes before it
                          sleeps; 0 = 64 (about 20-40 us here) */
} gsp_exec_config;

typedef struct gsp_exec gsp_exec;
typedef struct gsp_exec_future gsp_exec_future;
typedef struct gsp_exec_group gsp_exec_group;

/*
 * The number of CPUs this process may use: the sched_getaffinity() count,
 * lowered to ceil(quota / period) when a cgroup (v2 cpu.max or v1
 * cpu.cfs_quota_us) limits CPU time. At least 1.
 */
GSP_API unsigned gsp_exec_default_workers(void);

/*
 * Create a pool and start its workers. cfg may be NULL (all defaults).
 * Errors: GSP_EINVAL (out NULL, more than 1024 workers), GSP_ENOMEM,
 * GSP_ESYS (a thread could not be started). On error nothing is left.
 */
GSP_API int gsp_exec_create(const gsp_exec_config *cfg, gsp_exec **out);

/*
 * Graceful shutdown: every task already submitted (and every task those
 * spawn) runs to completion, then the workers exit and the pool is freed.
 * Futures stay readable after it (waits return at once) and must still be
 * released by their owners. Groups must be destroyed before. NULL-safe.
 * Must not be called from a task of the pool.
 */
GSP_API void gsp_exec_destroy(gsp_exec *ex);

/* The number of worker threads. */
GSP_API unsigned gsp_exec_workers(const gsp_exec *ex);

/*
 * Submit fn(arg). If out is non-NULL a future is returned in *out; the
 * caller owns it and must release it with gsp_exec_future_release() (the
 * task runs either way). Errors: GSP_EINVAL (ex or fn NULL), GSP_ENOMEM,
 * GSP_ESTATE (destroy has begun and the caller is not one of the pool's
 * tasks).
 */
GSP_API int gsp_exec_submit(gsp_exec *ex, gsp_exec_fn fn, void *arg, gsp_exec_future **out);

/*
 * Wait until the task has finished or was canceled. Returns 0 and the
 * task's return value in *result (may be NULL) if it ran, GSP_ECANCELED if
 * it was canceled before it started. Inside a task of the pool, the
 * worker runs other tasks while it waits.
 */
GSP_API int gsp_exec_future_wait(gsp_exec_future *f, int *result);
/* As gsp_exec_future_wait(), giving up with GSP_ETIMEDOUT after timeout_ms. */
GSP_API int gsp_exec_future_wait_for(gsp_exec_future *f, uint64_t timeout_ms, int *result);
/*
 * Cancel the task if it has not started: returns 0 and the task will never
 * run (waits return GSP_ECANCELED); GSP_EBUSY if it is running or done.
 */
GSP_API int gsp_exec_future_cancel(gsp_exec_future *f);
/* True once the task has finished or was canceled. */
GSP_API bool gsp_exec_future_done(const gsp_exec_future *f);
/* Release the caller's reference; does not cancel. NULL-safe. */
GSP_API void gsp_exec_future_release(gsp_exec_future *f);

/*
 * Task groups: spawn any number of tasks, wait for all of them. The first
 * task to fail (return non-zero) sets the group's error; tasks of the
 * group that have not started by then are skipped (they count as done).
 * The error is sticky until the group is destroyed.
 *
 * A group may be used from several threads at once; destroy must be the
 * last call on it.
 */
GSP_API int gsp_exec_group_create(gsp_exec *ex, gsp_exec_group **out);
/* Spawn fn(arg) in the group. Errors: GSP_EINVAL, GSP_ENOMEM, GSP_ESTATE. */
GSP_API int gsp_exec_group_spawn(gsp_exec_group *g, gsp_exec_fn fn, void *arg);
/*
 * Wait until every spawned task has finished or was skipped; returns 0 or
 * the first error. Helps inside a task, as gsp_exec_future_wait().
 */
GSP_API int gsp_exec_group_wait(gsp_exec_group *g);
/* Wait for the group's tasks, then free it. NULL-safe. */
GSP_API void gsp_exec_group_destroy(gsp_exec_group *g);

/*
 * Run fn(user, begin, end) over chunks that cover [0, n) exactly once, on
 * the workers and the calling thread, and wait for all. grain is the
 * chunk size; 0 picks one automatically (about 8 chunks per worker, the
 * seed's batch_execution). The first chunk to fail stops chunks not yet
 * started and its status is returned. Never fails for lack of memory: if
 * helpers cannot be spawned the caller runs every chunk itself.
 * Errors: GSP_EINVAL (ex or fn NULL), or the first chunk's error.
 */
GSP_API int gsp_exec_parallel_for(gsp_exec *ex, size_t n, size_t grain, gsp_exec_range_fn fn,
                                  void *user);

#ifdef __cplusplus
}
#endif

#endif /* GSPERF_EXEC_H */
