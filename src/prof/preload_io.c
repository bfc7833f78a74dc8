/*
 * preload_io.c - the I/O entry points of libgsperf-preload.so: read,
 * write, pread, pwrite, readv, writev, open, openat, close, fsync,
 * fdatasync, send and recv, exported so that LD_PRELOAD puts them before
 * the C library's, each handing the call to its hook in io_hook.c (which
 * records it while I/O tracking is on and calls the C library's own
 * function). Built only into the preload library: libgsperf itself
 * exports none of these names (in-process, the same hooks are reached by
 * patching the GOT instead).
 *
 * gsp__io_start (called by the preload's constructor with GSP_PROF_IO=1)
 * reads GSP_PROF_IO_SAMPLE, N of "time one call in N" (1..65536; unset or
 * empty: the default, 16). A value that is not a whole number in range
 * is refused: I/O is not tracked, and io.<pid>.txt says so, naming the
 * value (the library never prints; `gsperf profile` reports the line).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "prof_int.h"

#define EXPORT __attribute__((visibility("default")))

void gsp__io_start(void) {
  const char *s = getenv("GSP_PROF_IO_SAMPLE");
  unsigned long v = 0;
  if (s && s[0]) {
    char *end = NULL;
    errno = 0;
    v = strtoul(s, &end, 10);
    if (errno || *end || s[0] < '0' || s[0] > '9' || v < 1 || v > GSP_PROF_IO_SAMPLE_MAX) {
      char why[160];
      snprintf(why, sizeof why, "GSP_PROF_IO_SAMPLE=\"%.64s\" is not a whole number in 1..%u", s,
               GSP_PROF_IO_SAMPLE_MAX);
      gsp__io_refuse(why);
      return;
    }
  }
  gsp__io_begin((unsigned)v);
}

EXPORT ssize_t read(int fd, void *b, size_t n) { return gsp__io_read(fd, b, n); }
EXPORT ssize_t write(int fd, const void *b, size_t n) { return gsp__io_write(fd, b, n); }
EXPORT ssize_t pread(int fd, void *b, size_t n, off_t off) { return gsp__io_pread(fd, b, n, off); }
EXPORT ssize_t pwrite(int fd, const void *b, size_t n, off_t off) {
  return gsp__io_pwrite(fd, b, n, off);
}
EXPORT ssize_t readv(int fd, const struct iovec *v, int n) { return gsp__io_readv(fd, v, n); }
EXPORT ssize_t writev(int fd, const struct iovec *v, int n) { return gsp__io_writev(fd, v, n); }

/* The mode is read only when the flags say one was passed. */
static mode_t mode_arg(int flags, va_list ap) {
  return (flags & (O_CREAT | O_TMPFILE)) ? (mode_t)va_arg(ap, int) : 0;
}

EXPORT int open(const char *path, int flags, ...) {
  va_list ap;
  va_start(ap, flags);
  mode_t mode = mode_arg(flags, ap);
  va_end(ap);
  return gsp__io_open(path, flags, mode);
}

EXPORT int openat(int dirfd, const char *path, int flags, ...) {
  va_list ap;
  va_start(ap, flags);
  mode_t mode = mode_arg(flags, ap);
  va_end(ap);
  return gsp__io_openat(dirfd, path, flags, mode);
}

EXPORT int close(int fd) { return gsp__io_close(fd); }
EXPORT int fsync(int fd) { return gsp__io_fsync(fd); }
EXPORT int fdatasync(int fd) { return gsp__io_fdatasync(fd); }
EXPORT ssize_t send(int fd, const void *b, size_t n, int flags) {
  return gsp__io_send(fd, b, n, flags);
}
EXPORT ssize_t recv(int fd, void *b, size_t n, int flags) { return gsp__io_recv(fd, b, n, flags); }
