/*
 * io_int.h - the I/O executor's internals shared by io.c (the executor,
 * submission limits, per-thread rings) and io_read.c (whole-file reads).
 */
#ifndef GSP_EXEC_IO_INT_H
#define GSP_EXEC_IO_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "gsperf/exec.h"

struct io_uring;

struct gsp_io {
  gsp_exec *ex;
  pthread_key_t ring_key; /* the calling I/O thread's ring, freed at thread exit */
  bool uring;             /* io_uring usable (probed at creation, not forced off) */
  unsigned ring_entries;
  size_t chunk;
  size_t max_pending;
  _Atomic size_t pending;
  _Atomic uint64_t uring_reads, pread_reads, failed_reads, bytes_read;
};

/* The calling thread's ring, created on first use; NULL: use pread. */
struct io_uring *gsp__io_ring(gsp_io *io);
/* Read req->path whole, filling req's out fields (io_read.c). */
void gsp__io_read_run(gsp_io *io, gsp_io_read *req);
/* Read up to len bytes at offset 0 through ring in chunks; returns the
   bytes read as one prefix (the caller reads the rest with pread). */
size_t gsp__io_uring_read(gsp_io *io, struct io_uring *ring, int fd, char *dst, size_t len);

#endif
