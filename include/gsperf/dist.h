/*
 * gsperf/dist.h - distributed execution: functions registered by name on
 * every rank, and a master-worker task farm over MPI (Open MPI) that
 * sends batches of tasks to ranks as they free up, gathers the results in
 * submission order and retries a failed task on another rank.
 *
 * The same program runs in two ways. Started without mpirun, gsp_dist
 * runs every task in this process on a gsp_exec pool (the embedded
 * default). Started under `mpirun -np N`, rank 0 is the master: it hands
 * tasks out and collects results; ranks 1..N-1 run them, each on its own
 * pool. Every rank executes the same calls in the same order (create,
 * register, map, destroy), as with MPI collectives; only the master's
 * inputs are used and only the master receives results.
 *
 * Inputs and outputs are byte strings, so they can cross machines; the
 * ranks are assumed to share one architecture (no byte-order
 * conversion). Task functions run on pool threads, never on the thread
 * that calls MPI (MPI_THREAD_FUNNELED is enough).
 *
 * This part is its own library, libgsperf_dist (it links Open MPI); the
 * core library does not depend on MPI.
 *
 * Thread safety: a gsp_dist is used by one thread at a time (the one that
 * created it). Ownership: result data comes from gsp_malloc and belongs
 * to the caller (gsp_dist_results_free frees a whole array).
 */
#ifndef GSPERF_DIST_H
#define GSPERF_DIST_H

#include <stdbool.h>
#include <stddef.h>

#include "gsperf/common.h"
#include "gsperf/exec.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct gsp_dist gsp_dist;

/*
 * A task function: read in[0 .. in_len), set *out to a gsp_malloc'd result
 * (or NULL) and *out_len to its size; return 0 or a GSP_E* status (a
 * failed task's output is discarded). Called on a pool thread of
 * whichever rank runs the task; may be called concurrently.
 */
typedef int (*gsp_dist_fn)(void *user, const void *in, size_t in_len, void **out, size_t *out_len);

typedef enum gsp_dist_mode {
  GSP_DIST_AUTO = 0,  /* MPI when started by mpirun (or MPI is initialised), else local */
  GSP_DIST_LOCAL = 1, /* always this process only */
  GSP_DIST_MPI = 2,   /* MPI; GSP_ENOTSUP if the library was built without it */
} gsp_dist_mode;

typedef struct gsp_dist_config {
  gsp_dist_mode mode;
  gsp_exec *exec;        /* the pool tasks run on; NULL = a pool of the dist's own */
  unsigned batch;        /* tasks per message to a rank; 0 = 16 */
  unsigned max_attempts; /* runs of a failing task before its error stands; 0 = 3 */
} gsp_dist_config;

/* One input: len bytes at data (copied when sent, never kept). */
typedef struct gsp_dist_input {
  const void *data;
  size_t len;
} gsp_dist_input;

/* One result, at the input's index. */
typedef struct gsp_dist_result {
  void *data; /* gsp_malloc'd, or NULL */
  size_t len;
  int status;        /* the task's last return value (0 = success) */
  int rank;          /* the rank that produced this result */
  unsigned attempts; /* how many times the task ran */
} gsp_dist_result;

/*
 * Create. Under MPI this initialises MPI (MPI_Init_thread, FUNNELED) if
 * nobody has, and is collective: every rank must call it. Errors:
 * GSP_EINVAL, GSP_ENOMEM, GSP_ENOTSUP (MPI asked for, not available),
 * GSP_ESYS (MPI failed to start).
 */
GSP_API int gsp_dist_create(const gsp_dist_config *cfg, gsp_dist **out);
/* Collective under MPI; finalises MPI if gsp_dist_create initialised it. NULL-safe. */
GSP_API void gsp_dist_destroy(gsp_dist *d);

/*
 * Register fn under name (at most 63 bytes) on this rank. Every rank must
 * register the same names. Errors: GSP_EINVAL, GSP_EEXIST, GSP_ENOMEM.
 */
GSP_API int gsp_dist_register(gsp_dist *d, const char *name, gsp_dist_fn fn, void *user);

/* This process's rank (0 in local mode) and the number of ranks (1 in local mode). */
GSP_API int gsp_dist_rank(const gsp_dist *d);
GSP_API int gsp_dist_size(const gsp_dist *d);
/* True on rank 0, the one that receives results. */
GSP_API bool gsp_dist_is_master(const gsp_dist *d);
/* True when tasks go over MPI to other ranks. */
GSP_API bool gsp_dist_uses_mpi(const gsp_dist *d);

/*
 * Run the function registered as name over n inputs. Collective under
 * MPI: on the master, in and results (n entries each) are used and
 * results[i] is filled for input i (submission order) whatever rank ran
 * it; the other ranks pass n = 0 and NULLs and serve tasks until the
 * master is done. With one rank, or locally, the master runs everything
 * on its pool. A task that fails is run again, on another rank when
 * there is one, until it succeeds or has run max_attempts times.
 *
 * Returns GSP_OK when every task succeeded, else the status of the
 * lowest-indexed failed task (details in results). Errors: GSP_EINVAL,
 * GSP_ENOENT (name not registered on the master), GSP_ENOMEM, GSP_ESYS
 * (an MPI call failed).
 */
GSP_API int gsp_dist_map(gsp_dist *d, const char *name, size_t n, const gsp_dist_input *in,
                         gsp_dist_result *results);

/* Free the data of n results and clear them. NULL-safe. */
GSP_API void gsp_dist_results_free(gsp_dist_result *results, size_t n);

#ifdef __cplusplus
}
#endif

#endif /* GSPERF_DIST_H */
