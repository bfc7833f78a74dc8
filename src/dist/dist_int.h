/*
 * dist_int.h - internals shared by dist.c (registry, local runs, life
 * cycle) and dist_mpi.c (the MPI task farm).
 */
#ifndef GSP_DIST_INT_H
#define GSP_DIST_INT_H

#include <stdint.h>

#include "gsperf/dist.h"

#define GSP__DIST_NAME_MAX 64

typedef struct gsp__dist_fn {
  char name[GSP__DIST_NAME_MAX];
  gsp_dist_fn fn;
  void *user;
} gsp__dist_fn;

struct gsp_dist {
  gsp_exec *ex;
  bool own_ex;
  bool mpi;       /* tasks go over MPI */
  bool mpi_owned; /* we called MPI_Init_thread, so we finalise */
  int rank, size;
  unsigned batch, max_attempts;
  gsp__dist_fn *fns;
  size_t nfns, capfns;
};

/* The function registered as name, or NULL. */
const gsp__dist_fn *gsp__dist_find(const gsp_dist *d, const char *name);
/* Run f once on in; on failure *out is freed and cleared. Returns the status. */
int gsp__dist_call(const gsp__dist_fn *f, const void *in, size_t len, void **out, size_t *out_len);
/* Run tasks [0, n) on the pool: up to max_attempts each; fills res (rank = d->rank). */
void gsp__dist_run_local(gsp_dist *d, const gsp__dist_fn *f, size_t n, const gsp_dist_input *in,
                         gsp_dist_result *res, unsigned max_attempts);

/* dist_mpi.c */
/* Start MPI if the mode asks for it; sets d->mpi, rank, size. */
int gsp__dist_mpi_start(gsp_dist *d, gsp_dist_mode mode);
void gsp__dist_mpi_stop(gsp_dist *d);
int gsp__dist_mpi_master(gsp_dist *d, const gsp__dist_fn *f, size_t n, const gsp_dist_input *in,
                         gsp_dist_result *res);
int gsp__dist_mpi_serve(gsp_dist *d);

/* ---- the wire format of the MPI farm (see dist_mpi.c) ---- */

enum { GSP__TAG_WORK = 1, GSP__TAG_RESULT = 2, GSP__TAG_STOP = 3 };
#define GSP__LOST_BATCH UINT32_MAX

typedef struct gsp__wire_hdr {
  uint32_t count; /* items, or GSP__LOST_BATCH */
  uint32_t pad;
  char fn[GSP__DIST_NAME_MAX]; /* WORK: the function's name */
} gsp__wire_hdr;

typedef struct gsp__wire_item {
  uint64_t index, len;
} gsp__wire_item;

typedef struct gsp__wire_res {
  uint64_t index;
  int32_t status;
  uint32_t pad;
  uint64_t len;
} gsp__wire_res;

#endif
