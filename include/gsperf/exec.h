/*
 * gsperf/exec.h - a work-stealing thread pool: futures, task groups,
 * parallel-for and batch map, two priority classes, auto-scaling between
 * a minimum and a maximum number of workers, statistics, drain or cancel
 * shutdown; and a separate I/O executor for blocking work and whole-file
 * reads (io_uring where the kernel allows, pread otherwise).
 *
 * A pool owns N worker threads. Each worker has its own Chase-Lev deque; a
 * task submitted from inside a task of the same pool goes to the running
 * worker's deque (LIFO for the owner, stolen FIFO by idle workers), a task
 * submitted from any other thread goes to that thread's own submission
 * slot in the pool (a deque the workers steal from in batches; a few
 * slots per pool, claimed on a thread's first submission and given back
 * when the thread exits), or to a shared injection queue when every slot
 * is taken. Idle workers steal from random victims, spin briefly
 * (bounded), then sleep on a condition variable until work arrives.
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
 * except gsp_exec_destroy() and gsp_exec_shutdown(), which must be the
 * last call on the pool and must not race with submissions from threads
 * outside the pool. The same holds for gsp_io and gsp_io_destroy().
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

struct gsp_metrics;

/* A task: runs once on a worker, returns 0 or a status carried to waiters. */
typedef int (*gsp_exec_fn)(void *arg);
/* One chunk [begin, end) of a parallel-for; returns 0 or a status. */
typedef int (*gsp_exec_range_fn)(void *user, size_t begin, size_t end);

typedef struct gsp_exec_config {
  unsigned workers;    /* workers at start; 0 = the CPUs this process may use
                          (affinity mask and cgroup CPU quota, see
                          gsp_exec_default_workers), clamped to
                          [min_workers, max_workers] when scaling */
  unsigned spin_iters; /* steal attempts an idle worker makes before it
                          sleeps; 0 = 64 (about 20-40 us here) */
  /*
   * Auto-scaling: 0 (the default) keeps `workers` fixed. Otherwise the pool
   * runs between min_workers (0 = 1) and max_workers: a scaler thread adds
   * a worker when queued work has waited target_wait_us with no worker
   * idle (tasks that block make the pool grow), and a worker idle for
   * idle_ms exits while more than min_workers run. At most 1024.
   */
  unsigned min_workers;
  unsigned max_workers;
  uint32_t target_wait_us; /* 0 = 4000 */
  uint32_t idle_ms;        /* 0 = 2000 */
  /*
   * Statistics export: when non-NULL, the pool registers its metrics in
   * this registry labelled pool=<name> (name NULL = "default"; copied by
   * the registry) and stamps every task for the queue-wait and run-time
   * histograms (see src/exec/exec_stats.c for the names). The registry
   * must outlive the pool.
   */
  struct gsp_metrics *metrics;
  const char *name;
} gsp_exec_config;

/* Priority classes: a latency task starts before every queued throughput task. */
typedef enum gsp_exec_priority {
  GSP_EXEC_THROUGHPUT = 0, /* the default: work-stealing deques, batched injection */
  GSP_EXEC_LATENCY = 1,    /* one FIFO every worker checks first */
} gsp_exec_priority;

/* How gsp_exec_shutdown() treats queued tasks. */
typedef enum gsp_exec_shutdown_mode {
  GSP_EXEC_DRAIN = 0,  /* run everything queued, and what it spawns */
  GSP_EXEC_CANCEL = 1, /* drop what has not started: futures report GSP_ECANCELED */
} gsp_exec_shutdown_mode;

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
 * Every worker stays until no task runs and nothing is queued, so tasks
 * spawned during the drain still run side by side as before it.
 * Futures stay readable after it (waits return at once) and must still be
 * released by their owners. Groups must be destroyed before. NULL-safe.
 * Must not be called from a task of the pool.
 */
GSP_API void gsp_exec_destroy(gsp_exec *ex);

/*
 * Shut down and free the pool. GSP_EXEC_DRAIN is gsp_exec_destroy().
 * GSP_EXEC_CANCEL lets running tasks finish but drops every task that has
 * not started, including tasks those spawn meanwhile: their futures report
 * GSP_ECANCELED and their groups GSP_ECANCELED. Same rules as
 * gsp_exec_destroy(). NULL-safe.
 */
GSP_API void gsp_exec_shutdown(gsp_exec *ex, gsp_exec_shutdown_mode mode);

/* The number of worker threads running now (it moves when scaling). */
GSP_API unsigned gsp_exec_workers(const gsp_exec *ex);

/* A snapshot of the pool's statistics (counters are totals since creation). */
typedef struct gsp_exec_stats {
  uint64_t tasks_run;    /* taken by a worker (run, skipped or dropped) */
  uint64_t tasks_stolen; /* of those, stolen from another worker */
  uint64_t workers_grown, workers_shrunk;
  unsigned workers, peak_workers, min_workers, max_workers;
  size_t queued; /* from outside the pool, not started yet (workers' deques not counted) */
} gsp_exec_stats;

/* Fill *out. Errors: GSP_EINVAL. Counters may lag running workers slightly. */
GSP_API int gsp_exec_stats_get(gsp_exec *ex, gsp_exec_stats *out);

/*
 * Submit fn(arg). If out is non-NULL a future is returned in *out; the
 * caller owns it and must release it with gsp_exec_future_release() (the
 * task runs either way). Errors: GSP_EINVAL (ex or fn NULL), GSP_ENOMEM,
 * GSP_ESTATE (destroy has begun and the caller is not one of the pool's
 * tasks).
 */
GSP_API int gsp_exec_submit(gsp_exec *ex, gsp_exec_fn fn, void *arg, gsp_exec_future **out);
/*
 * As gsp_exec_submit() in a priority class. A GSP_EXEC_LATENCY task goes
 * to a FIFO that every worker checks before its own deque, so it starts
 * as soon as a worker finishes its current task. gsp_exec_submit() is
 * GSP_EXEC_THROUGHPUT. Errors: as gsp_exec_submit(), GSP_EINVAL for an
 * unknown class.
 */
GSP_API int gsp_exec_submit_prio(gsp_exec *ex, gsp_exec_priority prio, gsp_exec_fn fn, void *arg,
                                 gsp_exec_future **out);

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
 * largest chunk; 0 picks one automatically (about 8 chunks per worker,
 * the seed's batch_execution). Near the end chunks shrink (a share of what
 * is left, down to one index: guided self-scheduling), so the participants
 * finish together. The first chunk to fail stops chunks not yet
 * started and its status is returned. Never fails for lack of memory: if
 * helpers cannot be spawned the caller runs every chunk itself.
 * Errors: GSP_EINVAL (ex or fn NULL), or the first chunk's error.
 */
GSP_API int gsp_exec_parallel_for(gsp_exec *ex, size_t n, size_t grain, gsp_exec_range_fn fn,
                                  void *user);

/*
 * Batch map (the seed's batch_execution): fn(user, i, in_i, out_i) for
 * every i in [0, n), on the workers and the calling thread. in_i is
 * (const char *)b->in + i * b->in_size (NULL when b->in is NULL), out_i
 * likewise in b->out. Every item is attempted whatever the others return;
 * item i's status goes to b->status[i] when b->status is non-NULL.
 *
 * Chunking is automatic (guided self-scheduling): each participant claims
 * remaining / (2 * participants) items at a time, so early chunks are big
 * (few atomic operations) and the tail is cut fine (no worker idles while
 * another finishes a big chunk); b->min_chunk (0 = 1) and b->max_chunk
 * (0 = no limit) bound a claim.
 *
 * Returns GSP_OK when every item returned 0, else the status of the
 * lowest-indexed failing item; *nfailed (may be NULL) gets the count of
 * failed items. b may be NULL (no in, out or status). Errors: GSP_EINVAL
 * (ex or fn NULL). Never fails for lack of memory (the caller then runs
 * every chunk itself). Helps when called from a task of the pool.
 */
typedef int (*gsp_exec_map_fn)(void *user, size_t i, const void *in, void *out);

typedef struct gsp_exec_batch {
  const void *in; /* n items of in_size bytes, or NULL */
  size_t in_size;
  void *out; /* n items of out_size bytes, or NULL */
  size_t out_size;
  int *status; /* n statuses, or NULL */
  size_t min_chunk, max_chunk;
} gsp_exec_batch;

GSP_API int gsp_exec_map(gsp_exec *ex, size_t n, gsp_exec_map_fn fn, void *user,
                         const gsp_exec_batch *b, size_t *nfailed);

/* ---- the I/O executor ---------------------------------------------- */

/*
 * A separate pool for blocking work (file and network I/O, calls that
 * sleep), so it never occupies the CPU pool's workers. It is a gsp_exec
 * of its own that scales between min_threads and threads (idle threads
 * exit), spins little before sleeping, and bounds how much work may be
 * queued. Its futures are ordinary gsp_exec_future objects.
 *
 * Whole-file reads go through io_uring (liburing) when the kernel allows
 * it: each I/O thread owns a ring and reads a file in chunks of
 * chunk_bytes with up to ring_entries reads in flight. When io_uring is
 * unavailable (old kernel, seccomp, io_uring_disabled) or no_uring is set,
 * the same calls use pread(); the results are identical.
 */
typedef struct gsp_io gsp_io;

typedef struct gsp_io_config {
  unsigned threads;            /* most threads; 0 = 4 x gsp_exec_default_workers(), at most 256 */
  unsigned min_threads;        /* 0 = 1 */
  size_t max_pending;          /* submitted and not finished, at most; 0 = 65536 */
  unsigned ring_entries;       /* io_uring depth per thread; 0 = 16 */
  size_t chunk_bytes;          /* bytes per read request; 0 = 1 MiB */
  uint32_t idle_ms;            /* an idle thread above min_threads exits after this; 0 = 2000 */
  bool no_uring;               /* force the pread() path */
  struct gsp_metrics *metrics; /* as gsp_exec_config.metrics; name NULL = "io" */
  const char *name;
} gsp_io_config;

/* Errors: GSP_EINVAL, GSP_ENOMEM, GSP_ESYS. cfg may be NULL. */
GSP_API int gsp_io_create(const gsp_io_config *cfg, gsp_io **out);
/* Drain everything submitted, stop the threads, free. NULL-safe. */
GSP_API void gsp_io_destroy(gsp_io *io);
/* True when whole-file reads use io_uring (probed at creation). */
GSP_API bool gsp_io_uses_uring(const gsp_io *io);

/*
 * Run blocking fn(arg) on an I/O thread. Errors: GSP_EINVAL, GSP_ENOMEM,
 * GSP_EBUSY (max_pending reached), GSP_ESTATE (destroy has begun).
 */
GSP_API int gsp_io_submit(gsp_io *io, gsp_exec_fn fn, void *arg, gsp_exec_future **out);

/*
 * A whole-file read request, owned by the caller and untouched by it from
 * submission until completion (the future is done, or `done` was called).
 *
 * In: path; buf and cap for a caller buffer, or buf NULL to have a buffer
 * allocated (gsp_malloc, size + 1 bytes, NUL-terminated; the caller frees
 * `data` with gsp_free); done (may be NULL), called on the I/O thread when
 * the read has finished, after which the request belongs to the caller
 * again (done may free it; the future completes after done returns).
 *
 * Out: data (buf, or the allocated buffer; NULL on error), len (bytes
 * read; on GSP_ERANGE the file's size), status: GSP_OK, GSP_ENOENT,
 * GSP_EIO (with the errno in sys_errno), GSP_ENOMEM, GSP_ERANGE (cap too
 * small). The future's result is the same status.
 */
typedef struct gsp_io_read gsp_io_read;
struct gsp_io_read {
  const char *path;
  void *buf;
  size_t cap;
  void (*done)(gsp_io_read *req, void *user);
  void *user;
  void *data;
  size_t len;
  int status;
  int sys_errno;
  gsp_io *io_; /* private */
};

/* Queue req. out may be NULL. Errors: as gsp_io_submit(). */
GSP_API int gsp_io_read_file(gsp_io *io, gsp_io_read *req, gsp_exec_future **out);

/* Totals since creation. A regular file counts as a uring read when the
   ring read any of it, else as a pread read; streams count as pread. */
typedef struct gsp_io_stats {
  uint64_t uring_reads, pread_reads, failed_reads, bytes_read;
  size_t pending; /* submitted and not finished now */
  unsigned threads;
} gsp_io_stats;

/* Fill *out. Errors: GSP_EINVAL. */
GSP_API int gsp_io_stats_get(gsp_io *io, gsp_io_stats *out);

/* The pool that runs io's threads, for statistics (gsp_exec_stats_get) and
   metrics; owned by io and valid until gsp_io_destroy. Submit work through
   gsp_io_submit, not to this pool, or the pending limit is bypassed. NULL
   if io is NULL. Thread-safe. */
GSP_API gsp_exec *gsp_io_exec(const gsp_io *io);

#ifdef __cplusplus
}
#endif

#endif /* GSPERF_EXEC_H */
