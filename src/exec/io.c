/*
 * io.c - the I/O executor: a scaling gsp_exec of its own for blocking
 * work, a bound on queued work, and one io_uring per I/O thread.
 *
 * Why a separate pool. A CPU pool sizes itself to the CPUs; a task that
 * blocks in read() holds a worker and a CPU's share of the pool idle. The
 * I/O executor has many more threads (default 4 x CPUs), scales between
 * min_threads and threads (a blocked queue makes it grow, idle threads
 * exit), and spins only briefly before sleeping since its tasks are slow
 * anyway. max_pending bounds memory and latency: past it, submissions
 * fail with GSP_EBUSY and the caller decides (back off, run inline).
 *
 * Rings. io_uring is probed once at creation (a ring is set up and torn
 * down); if that fails, or no_uring is set, every read uses pread(). A
 * ring is set up SINGLE_ISSUER | DEFER_TASKRUN where the kernel knows
 * these (completion work runs when its own thread waits), else plain. Each
 * I/O thread creates its own ring on first use and keeps it in a
 * pthread key whose destructor tears it down when the thread exits, so no
 * ring is shared and no lock is taken around submission. A thread whose
 * ring cannot be set up marks itself with a sentinel and uses pread().
 *
 * Every submission is one task; a plain job carries a small wrapper
 * (fn, arg), a file read uses the caller's request as its argument.
 */
#include <liburing.h>
#include <stdlib.h>

#include "exec_int.h"
#include "io_int.h"

enum { MAX_THREADS = 256, DEFAULT_ENTRIES = 16, DEFAULT_PENDING = 65536, IO_SPIN = 4 };

static struct io_uring g_no_ring; /* sentinel: this thread could not set up a ring */

/* A ring used by its creating thread only: let the kernel skip the
   cross-thread machinery (Linux 6.1+); older kernels refuse the flags. */
static int ring_init(unsigned entries, struct io_uring *r) {
  if (io_uring_queue_init(entries, r, IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN) == 0)
    return 0;
  return io_uring_queue_init(entries, r, 0);
}

static void ring_free(void *p) {
  struct io_uring *r = p;
  if (r == NULL || r == &g_no_ring) return;
  io_uring_queue_exit(r);
  gsp_free(r);
}

struct io_uring *gsp__io_ring(gsp_io *io) {
  if (!io->uring) return NULL;
  struct io_uring *r = pthread_getspecific(io->ring_key);
  if (r == &g_no_ring) return NULL;
  if (r != NULL) return r;
  r = gsp_malloc(sizeof(*r));
  if (r != NULL && ring_init(io->ring_entries, r) != 0) {
    gsp_free(r);
    r = NULL;
  }
  pthread_setspecific(io->ring_key, r != NULL ? r : &g_no_ring);
  return r;
}

static bool probe_uring(unsigned entries) {
  struct io_uring r;
  if (ring_init(entries, &r) != 0) return false;
  io_uring_queue_exit(&r);
  return true;
}

static int make_exec(gsp_io *io, const gsp_io_config *cfg) {
  unsigned max = cfg->threads != 0 ? cfg->threads : 4 * gsp_exec_default_workers();
  if (max > MAX_THREADS) max = MAX_THREADS;
  unsigned min = cfg->min_threads != 0 ? cfg->min_threads : 1;
  if (min > max) return GSP_EINVAL;
  gsp_exec_config ec = {.workers = min,
                        .spin_iters = IO_SPIN,
                        .min_workers = min,
                        .max_workers = max,
                        .target_wait_us = 1000,
                        .idle_ms = cfg->idle_ms,
                        .metrics = cfg->metrics,
                        .name = cfg->name != NULL ? cfg->name : "io"};
  if (min == max) ec.max_workers = 0; /* fixed size */
  return gsp_exec_create(&ec, &io->ex);
}

int gsp_io_create(const gsp_io_config *cfg, gsp_io **out) {
  static const gsp_io_config defaults = {0};
  if (out == NULL) return GSP_EINVAL;
  if (cfg == NULL) cfg = &defaults;
  if (cfg->threads > MAX_THREADS || cfg->ring_entries > 4096) return GSP_EINVAL;
  gsp_io *io = gsp_calloc(1, sizeof(*io));
  if (io == NULL) return GSP_ENOMEM;
  io->ring_entries = cfg->ring_entries != 0 ? cfg->ring_entries : DEFAULT_ENTRIES;
  io->chunk = cfg->chunk_bytes != 0 ? cfg->chunk_bytes : (size_t)1 << 20;
  io->max_pending = cfg->max_pending != 0 ? cfg->max_pending : DEFAULT_PENDING;
  io->uring = !cfg->no_uring && probe_uring(io->ring_entries);
  int rv = GSP_ESYS;
  if (pthread_key_create(&io->ring_key, ring_free) != 0) goto out_free;
  rv = make_exec(io, cfg);
  if (rv != GSP_OK) goto out_key;
  *out = io;
  return GSP_OK;
out_key:
  pthread_key_delete(io->ring_key);
out_free:
  gsp_free(io);
  return rv;
}

void gsp_io_destroy(gsp_io *io) {
  if (io == NULL) return;
  gsp_exec_destroy(io->ex); /* threads exit: their rings are torn down */
  pthread_key_delete(io->ring_key);
  gsp_free(io);
}

bool gsp_io_uses_uring(const gsp_io *io) { return io != NULL && io->uring; }

/* Reserve a pending slot; false when max_pending is reached. */
static bool reserve(gsp_io *io) {
  if (atomic_fetch_add(&io->pending, 1) < io->max_pending) return true;
  atomic_fetch_sub(&io->pending, 1);
  return false;
}

typedef struct io_job {
  gsp_io *io;
  gsp_exec_fn fn;
  void *arg;
} io_job;

static int run_job(void *p) {
  io_job j = *(io_job *)p;
  gsp_free(p);
  int r = j.fn(j.arg);
  atomic_fetch_sub(&j.io->pending, 1);
  return r;
}

/* The job was canceled before it started: free it, give its slot back. */
static int drop_job(void *p) {
  io_job *j = p;
  atomic_fetch_sub(&j->io->pending, 1);
  gsp_free(j);
  return 0;
}

int gsp_io_submit(gsp_io *io, gsp_exec_fn fn, void *arg, gsp_exec_future **out) {
  if (io == NULL || fn == NULL) return GSP_EINVAL;
  if (!reserve(io)) return GSP_EBUSY;
  io_job *j = gsp_malloc(sizeof(*j));
  int rv = GSP_ENOMEM;
  if (j != NULL) {
    *j = (io_job){io, fn, arg};
    rv = gsp__exec_submit_drop(io->ex, GSP_EXEC_THROUGHPUT, run_job, drop_job, j, out);
    if (rv != GSP_OK) gsp_free(j);
  }
  if (rv != GSP_OK) atomic_fetch_sub(&io->pending, 1);
  return rv;
}

static int run_read(void *p) {
  gsp_io_read *req = p;
  gsp_io *io = req->io_;
  gsp__io_read_run(io, req);
  int status = req->status;
  if (req->done != NULL) req->done(req, req->user); /* req may be gone after this */
  atomic_fetch_sub(&io->pending, 1);
  return status;
}

static int drop_read(void *p) {
  gsp_io_read *req = p;
  atomic_fetch_sub(&req->io_->pending, 1);
  return 0;
}

int gsp_io_read_file(gsp_io *io, gsp_io_read *req, gsp_exec_future **out) {
  if (io == NULL || req == NULL || req->path == NULL) return GSP_EINVAL;
  if (!reserve(io)) return GSP_EBUSY;
  req->io_ = io;
  int rv = gsp__exec_submit_drop(io->ex, GSP_EXEC_THROUGHPUT, run_read, drop_read, req, out);
  if (rv != GSP_OK) atomic_fetch_sub(&io->pending, 1);
  return rv;
}

gsp_exec *gsp_io_exec(const gsp_io *io) { return io != NULL ? io->ex : NULL; }

int gsp_io_stats_get(gsp_io *io, gsp_io_stats *out) {
  if (io == NULL || out == NULL) return GSP_EINVAL;
  out->uring_reads = atomic_load_explicit(&io->uring_reads, memory_order_relaxed);
  out->pread_reads = atomic_load_explicit(&io->pread_reads, memory_order_relaxed);
  out->failed_reads = atomic_load_explicit(&io->failed_reads, memory_order_relaxed);
  out->bytes_read = atomic_load_explicit(&io->bytes_read, memory_order_relaxed);
  out->pending = atomic_load(&io->pending);
  out->threads = gsp_exec_workers(io->ex);
  return GSP_OK;
}
