/*
 * io_read.c - reading a whole file for the I/O executor: io_uring when
 * the thread has a ring, pread() otherwise, one result either way.
 *
 * Regular files. open + fstat give the size; the destination is the
 * caller's buffer (GSP_ERANGE with the size in len when it is too small)
 * or a gsp_malloc'd buffer of size + 1, NUL-terminated. With a ring, the
 * file is read in chunks of `chunk` bytes, up to ring_entries reads in
 * flight per submit-and-wait; completions come back in any order, so the
 * reader keeps only the length of the prefix known complete: the first
 * chunk that fails or comes back short ends the ring phase. Whatever is
 * left after it (all of it without a ring) is read with a pread() loop,
 * which also finds EOF when the file shrank meanwhile. A file that grew
 * is read to the size fstat reported.
 *
 * Files with no size (pipes, /proc): read() until EOF, growing an
 * allocated buffer by doubling, or up to cap for a caller buffer
 * (GSP_ERANGE if more data follows).
 */
#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io_int.h"

enum { STREAM_START = 4096 };

static void fail(gsp_io_read *req, int status, int err) {
  req->status = status;
  req->sys_errno = err;
}

static int errno_status(int err) {
  return err == ENOENT || err == ENOTDIR ? GSP_ENOENT : err == ENOMEM ? GSP_ENOMEM : GSP_EIO;
}

/* Submit reads for [off, off + n*chunk) clipped to len; returns how many. */
static unsigned submit_batch(gsp_io *io, struct io_uring *ring, int fd, char *dst, size_t off,
                             size_t len) {
  unsigned k = 0;
  for (; k < io->ring_entries && off < len; k++) {
    struct io_uring_sqe *sqe = io_uring_get_sqe(ring);
    if (sqe == NULL) break;
    size_t n = len - off < io->chunk ? len - off : io->chunk;
    io_uring_prep_read(sqe, fd, dst + off, (unsigned)n, (uint64_t)off);
    io_uring_sqe_set_data64(sqe, off);
    off += n;
  }
  return k;
}

size_t gsp__io_uring_read(gsp_io *io, struct io_uring *ring, int fd, char *dst, size_t len) {
  size_t done = 0;
  while (done < len) {
    unsigned k = submit_batch(io, ring, fd, dst, done, len);
    if (k == 0 || io_uring_submit_and_wait(ring, k) < 0) return done;
    size_t bad = SIZE_MAX; /* lowest offset whose read fell short */
    for (unsigned i = 0; i < k; i++) {
      struct io_uring_cqe *cqe = NULL;
      if (io_uring_wait_cqe(ring, &cqe) != 0) return done; /* cannot happen with k queued */
      size_t off = (size_t)io_uring_cqe_get_data64(cqe);
      size_t want = len - off < io->chunk ? len - off : io->chunk;
      if ((cqe->res < 0 || (size_t)cqe->res != want) && off < bad) bad = off;
      io_uring_cqe_seen(ring, cqe);
    }
    if (bad != SIZE_MAX) return bad;
    done += (size_t)k * io->chunk;
    if (done > len) done = len;
  }
  return done;
}

/* pread() [off, len) into dst; returns the bytes read before EOF, or -errno. */
static ssize_t pread_rest(int fd, char *dst, size_t off, size_t len) {
  size_t at = off;
  while (at < len) {
    ssize_t r = pread(fd, dst + at, len - at, (off_t)at);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return -errno;
    if (r == 0) break;
    at += (size_t)r;
  }
  return (ssize_t)at;
}

static void read_regular(gsp_io *io, gsp_io_read *req, int fd, size_t size) {
  char *dst = req->buf;
  if (dst != NULL && req->cap < size) {
    req->len = size;
    fail(req, GSP_ERANGE, 0);
    return;
  }
  if (dst == NULL && (dst = gsp_malloc(size + 1)) == NULL) {
    fail(req, GSP_ENOMEM, ENOMEM);
    return;
  }
  struct io_uring *ring = gsp__io_ring(io);
  size_t got = ring != NULL ? gsp__io_uring_read(io, ring, fd, dst, size) : 0;
  ssize_t r = pread_rest(fd, dst, got, size);
  if (r < 0) {
    if (dst != req->buf) gsp_free(dst);
    fail(req, GSP_EIO, (int)-r);
    return;
  }
  req->len = (size_t)r;
  if (dst != req->buf) dst[req->len] = '\0';
  req->data = dst;
  atomic_fetch_add_explicit(got != 0 ? &io->uring_reads : &io->pread_reads, 1,
                            memory_order_relaxed);
}

/* Grow an allocated stream buffer to hold at least need + 1 bytes. */
static char *grow(char *p, size_t *cap, size_t need) {
  size_t c = *cap != 0 ? *cap : STREAM_START;
  while (c < need + 1) c *= 2;
  char *q = gsp_realloc(p, c);
  if (q != NULL) *cap = c;
  return q;
}

static void read_stream(gsp_io *io, gsp_io_read *req, int fd) {
  bool own = req->buf == NULL;
  char *dst = req->buf;
  size_t cap = own ? 0 : req->cap, len = 0;
  for (;;) {
    if (own && len + 1 >= cap) {
      char *q = grow(dst, &cap, len + STREAM_START);
      if (q == NULL) goto out_nomem;
      dst = q;
    }
    size_t room = own ? cap - 1 - len : cap - len;
    char probe;
    ssize_t r = room != 0 ? read(fd, dst + len, room) : read(fd, &probe, 1);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) goto out_errno;
    if (r == 0) break;
    if (room == 0) goto out_range;
    len += (size_t)r;
  }
  if (own) dst[len] = '\0';
  req->data = dst;
  req->len = len;
  atomic_fetch_add_explicit(&io->pread_reads, 1, memory_order_relaxed);
  return;
out_range:
  req->len = len + 1;
  fail(req, GSP_ERANGE, 0);
  return;
out_errno:
  fail(req, GSP_EIO, errno);
  if (own) gsp_free(dst);
  return;
out_nomem:
  fail(req, GSP_ENOMEM, ENOMEM);
  gsp_free(dst);
}

void gsp__io_read_run(gsp_io *io, gsp_io_read *req) {
  req->data = NULL;
  req->len = 0;
  req->status = GSP_OK;
  req->sys_errno = 0;
  int fd = open(req->path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    fail(req, errno_status(errno), errno);
    atomic_fetch_add_explicit(&io->failed_reads, 1, memory_order_relaxed);
    return;
  }
  struct stat st;
  if (fstat(fd, &st) != 0)
    fail(req, GSP_EIO, errno);
  else if (S_ISREG(st.st_mode) && st.st_size > 0)
    read_regular(io, req, fd, (size_t)st.st_size);
  else if (S_ISDIR(st.st_mode))
    fail(req, GSP_EIO, EISDIR);
  else
    read_stream(io, req, fd);
  close(fd);
  if (req->status != GSP_OK)
    atomic_fetch_add_explicit(&io->failed_reads, 1, memory_order_relaxed);
  else
    atomic_fetch_add_explicit(&io->bytes_read, req->len, memory_order_relaxed);
}
