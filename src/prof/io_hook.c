/*
 * io_hook.c - I/O tracking in the preload library: counts, bytes and a
 * latency histogram per file (path) and per call for read, write, pread,
 * pwrite, readv, writev, open, openat, close, fsync, fdatasync, send and
 * recv, as the program calls them. Built only into libgsperf-preload.so.
 *
 * The hooks are the program's entry points (exported from this library,
 * found first through LD_PRELOAD); each calls the C library's own
 * function (dlsym(RTLD_NEXT), resolved once, lazily), timing it with
 * the TSC (see now_ns). open/openat intern the path (a
 * fixed table of MAX_PATHS names under a spinlock, the overflow sharing
 * one "(other)" entry) and record fd -> path in fd_path[]; a call on an
 * fd opened before tracking started (stdin, a socket, a pipe) names it
 * once from /proc/self/fd (readlink), so a pipe shows as "pipe:[N]".
 * Statistics are per (path, call): count, bytes, total ticks and a
 * histogram of latency in powers of two of ticks. Each thread keeps its
 * own (an io_thread block: one row of NCALLS io_stat per path it used,
 * rows and block from mmap, so a hook never calls malloc and is safe in a
 * signal handler), written by that thread alone with relaxed load + store
 * (plain moves: no lock-prefixed instruction on the hot path); blocks are
 * pushed on g_io_threads with one CAS when a thread first does I/O, never
 * freed, summed when a report asks (gsp__io_rows), zeroed when an
 * in-process profile starts. Interned paths and fd -> path entries are
 * kept across profiles.
 *
 * The C library's internal I/O (stdio's buffered reads and writes) does
 * not pass through these entry points and is not seen; the read and
 * write of the program itself are.
 *
 * Output (preload) at exit: $GSP_PROF_DIR/io.<pid>.txt, a table per path and call
 * (count, bytes, total, mean, p50/p99 from the histogram).
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>
#include <x86intrin.h>

#include "prof_int.h"

#define MAX_PATHS 1024
#define MAX_FDS 65536
#define NBUCK 40

enum {
  C_READ,
  C_WRITE,
  C_PREAD,
  C_PWRITE,
  C_READV,
  C_WRITEV,
  C_OPEN,
  C_OPENAT,
  C_CLOSE,
  C_FSYNC,
  C_FDATASYNC,
  C_SEND,
  C_RECV,
  NCALLS
};
static const char *const k_call[NCALLS] = {"read",      "write", "pread",  "pwrite", "readv",
                                           "writev",    "open",  "openat", "close",  "fsync",
                                           "fdatasync", "send",  "recv"};

typedef struct io_stat {
  _Atomic uint64_t count, bytes, ns;
  _Atomic uint64_t hist[NBUCK];
} io_stat;

static char *g_paths[MAX_PATHS];
static _Atomic uint32_t g_npaths;
static atomic_flag g_path_lock = ATOMIC_FLAG_INIT;
static _Atomic uint32_t g_fd_path[MAX_FDS]; /* path index + 1, 0 = unknown */
static _Atomic int g_on;
static __thread int t_io_guard __attribute__((tls_model("initial-exec")));

typedef struct io_thread {
  struct io_thread *next;
  _Atomic(io_stat *) rows[MAX_PATHS]; /* NCALLS io_stat each, or NULL */
} io_thread;

static _Atomic(io_thread *) g_io_threads;
static __thread io_thread *t_io __attribute__((tls_model("initial-exec")));

typedef ssize_t (*rw_fn)(int, void *, size_t);
typedef ssize_t (*prw_fn)(int, void *, size_t, off_t);
typedef ssize_t (*rwv_fn)(int, const struct iovec *, int);
typedef int (*open_fn)(const char *, int, ...);
typedef int (*openat_fn)(int, const char *, int, ...);
typedef int (*fd_fn)(int);
typedef ssize_t (*sr_fn)(int, void *, size_t, int);

/* The functions the hooks call, by call: resolved lazily with
 * dlsym(RTLD_NEXT) in the preload (the next definition after it), or all
 * at once with dlsym(RTLD_DEFAULT) by gsp__io_inproc_start before any slot
 * points at a hook. */
static void *g_real[NCALLS];

static void *real(int call) {
  void *f = __atomic_load_n(&g_real[call], __ATOMIC_ACQUIRE);
  if (!f) {
    f = dlsym(RTLD_NEXT, k_call[call]);
    __atomic_store_n(&g_real[call], f, __ATOMIC_RELEASE);
  }
  return f;
}
#define REAL(type, name, call) type r_##name = (type)real(call)

/* Calls are timed in TSC ticks (a few ns to read, invariant TSC
 * assumed); ticks become ns at the end, from the (TSC, CLOCK_MONOTONIC)
 * pairs taken at start and at finish. */
static uint64_t now_ns(void) { return __rdtsc(); }

static uint64_t mono_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t g_tsc0, g_ns0;
static double g_ns_per_tick = 1.0;

static uint32_t intern(const char *path) {
  while (atomic_flag_test_and_set_explicit(&g_path_lock, memory_order_acquire)) {
  }
  uint32_t n = atomic_load_explicit(&g_npaths, memory_order_relaxed), i;
  for (i = 1; i < n; i++)
    if (strcmp(g_paths[i], path) == 0) break;
  if (i == n && n < MAX_PATHS) {
    bool was = gsp__iheap_guard(true); /* the profiler's copy, not the program's */
    g_paths[n] = gsp_strdup(path);
    gsp__iheap_guard(was);
    if (g_paths[n]) atomic_store_explicit(&g_npaths, n + 1, memory_order_release);
  }
  if (i == n && (n >= MAX_PATHS || !g_paths[n])) i = 0;
  atomic_flag_clear_explicit(&g_path_lock, memory_order_release);
  return i; /* 0 = "(other)" */
}

static uint32_t path_of_fd(int fd) {
  if (fd < 0 || fd >= MAX_FDS) return 0;
  uint32_t p = atomic_load_explicit(&g_fd_path[fd], memory_order_relaxed);
  if (p) return p - 1;
  char link[64], target[PATH_MAX];
  snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
  ssize_t n = readlink(link, target, sizeof target - 1);
  if (n <= 0) return 0;
  target[n] = '\0';
  p = intern(target);
  atomic_store_explicit(&g_fd_path[fd], p + 1, memory_order_relaxed);
  return p;
}

static void *map_zeroed(size_t n) {
  void *m = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  return m == MAP_FAILED ? NULL : m;
}

/* The calling thread's row for path, made on first use; NULL if no memory. */
__attribute__((noinline, cold)) static io_stat *new_row(uint32_t path) {
  io_thread *t = t_io;
  if (t == NULL) {
    t = map_zeroed(sizeof *t);
    if (t == NULL) return NULL;
    t->next = atomic_load_explicit(&g_io_threads, memory_order_relaxed);
    while (!atomic_compare_exchange_weak_explicit(&g_io_threads, &t->next, t, memory_order_release,
                                                  memory_order_relaxed)) {
    }
    t_io = t;
  }
  io_stat *row = atomic_load_explicit(&t->rows[path], memory_order_relaxed);
  if (row != NULL) return row;
  row = map_zeroed(NCALLS * sizeof *row);
  if (row != NULL) atomic_store_explicit(&t->rows[path], row, memory_order_release);
  return row;
}

/* Owner-only update: a relaxed load and store, no read-modify-write. */
static void bump(_Atomic uint64_t *f, uint64_t v) {
  atomic_store_explicit(f, atomic_load_explicit(f, memory_order_relaxed) + v, memory_order_relaxed);
}

static void record(uint32_t path, int call, uint64_t t0, ssize_t bytes) {
  uint64_t ns = now_ns() - t0;
  io_thread *t = t_io;
  io_stat *row = t ? atomic_load_explicit(&t->rows[path], memory_order_relaxed) : NULL;
  if (__builtin_expect(row == NULL, 0) && (row = new_row(path)) == NULL) return;
  io_stat *s = &row[call];
  bump(&s->count, 1);
  if (bytes > 0) bump(&s->bytes, (uint64_t)bytes);
  bump(&s->ns, ns);
  unsigned b = ns ? 64u - (unsigned)__builtin_clzll(ns) : 0;
  bump(&s->hist[b < NBUCK ? b : NBUCK - 1], 1);
}

static bool on(void) {
  return atomic_load_explicit(&g_on, memory_order_relaxed) != 0 && !t_io_guard;
}

void gsp__io_guard(bool guard) { t_io_guard = guard; }

/* ---- the hooks ----------------------------------------------------------- */

ssize_t gsp__io_read(int fd, void *b, size_t n) {
  REAL(rw_fn, read, C_READ);
  if (!on()) return r_read(fd, b, n);
  uint64_t t0 = now_ns();
  ssize_t r = r_read(fd, b, n);
  record(path_of_fd(fd), C_READ, t0, r);
  return r;
}

ssize_t gsp__io_write(int fd, const void *b, size_t n) {
  REAL(rw_fn, write, C_WRITE);
  if (!on()) return r_write(fd, (void *)b, n);
  uint64_t t0 = now_ns();
  ssize_t r = r_write(fd, (void *)b, n);
  record(path_of_fd(fd), C_WRITE, t0, r);
  return r;
}

ssize_t gsp__io_pread(int fd, void *b, size_t n, off_t off) {
  REAL(prw_fn, pread, C_PREAD);
  if (!on()) return r_pread(fd, b, n, off);
  uint64_t t0 = now_ns();
  ssize_t r = r_pread(fd, b, n, off);
  record(path_of_fd(fd), C_PREAD, t0, r);
  return r;
}

ssize_t gsp__io_pwrite(int fd, const void *b, size_t n, off_t off) {
  REAL(prw_fn, pwrite, C_PWRITE);
  if (!on()) return r_pwrite(fd, (void *)b, n, off);
  uint64_t t0 = now_ns();
  ssize_t r = r_pwrite(fd, (void *)b, n, off);
  record(path_of_fd(fd), C_PWRITE, t0, r);
  return r;
}

ssize_t gsp__io_readv(int fd, const struct iovec *v, int n) {
  REAL(rwv_fn, readv, C_READV);
  if (!on()) return r_readv(fd, v, n);
  uint64_t t0 = now_ns();
  ssize_t r = r_readv(fd, v, n);
  record(path_of_fd(fd), C_READV, t0, r);
  return r;
}

ssize_t gsp__io_writev(int fd, const struct iovec *v, int n) {
  REAL(rwv_fn, writev, C_WRITEV);
  if (!on()) return r_writev(fd, v, n);
  uint64_t t0 = now_ns();
  ssize_t r = r_writev(fd, v, n);
  record(path_of_fd(fd), C_WRITEV, t0, r);
  return r;
}

static int opened(const char *path, int call, uint64_t t0, int fd) {
  uint32_t p = path ? intern(path) : 0;
  if (fd >= 0 && fd < MAX_FDS) atomic_store_explicit(&g_fd_path[fd], p + 1, memory_order_relaxed);
  record(p, call, t0, 0);
  return fd;
}

int gsp__io_open(const char *path, int flags, ...) {
  REAL(open_fn, open, C_OPEN);
  mode_t mode = 0;
  if (flags & (O_CREAT | O_TMPFILE)) {
    va_list ap;
    va_start(ap, flags);
    mode = (mode_t)va_arg(ap, int);
    va_end(ap);
  }
  if (!on()) return r_open(path, flags, mode);
  uint64_t t0 = now_ns();
  return opened(path, C_OPEN, t0, r_open(path, flags, mode));
}

int gsp__io_openat(int dirfd, const char *path, int flags, ...) {
  REAL(openat_fn, openat, C_OPENAT);
  mode_t mode = 0;
  if (flags & (O_CREAT | O_TMPFILE)) {
    va_list ap;
    va_start(ap, flags);
    mode = (mode_t)va_arg(ap, int);
    va_end(ap);
  }
  if (!on()) return r_openat(dirfd, path, flags, mode);
  uint64_t t0 = now_ns();
  return opened(path, C_OPENAT, t0, r_openat(dirfd, path, flags, mode));
}

static int fd_call(fd_fn f, int call, int fd) {
  if (!on()) return f(fd);
  uint32_t p = path_of_fd(fd);
  uint64_t t0 = now_ns();
  int r = f(fd);
  record(p, call, t0, 0);
  return r;
}

int gsp__io_close(int fd) {
  REAL(fd_fn, close, C_CLOSE);
  int r = fd_call(r_close, C_CLOSE, fd);
  if (fd >= 0 && fd < MAX_FDS) atomic_store_explicit(&g_fd_path[fd], 0, memory_order_relaxed);
  return r;
}

int gsp__io_fsync(int fd) {
  REAL(fd_fn, fsync, C_FSYNC);
  return fd_call(r_fsync, C_FSYNC, fd);
}

int gsp__io_fdatasync(int fd) {
  REAL(fd_fn, fdatasync, C_FDATASYNC);
  return fd_call(r_fdatasync, C_FDATASYNC, fd);
}

ssize_t gsp__io_send(int fd, const void *b, size_t n, int flags) {
  REAL(sr_fn, send, C_SEND);
  if (!on()) return r_send(fd, (void *)b, n, flags);
  uint64_t t0 = now_ns();
  ssize_t r = r_send(fd, (void *)b, n, flags);
  record(path_of_fd(fd), C_SEND, t0, r);
  return r;
}

ssize_t gsp__io_recv(int fd, void *b, size_t n, int flags) {
  REAL(sr_fn, recv, C_RECV);
  if (!on()) return r_recv(fd, b, n, flags);
  uint64_t t0 = now_ns();
  ssize_t r = r_recv(fd, b, n, flags);
  record(path_of_fd(fd), C_RECV, t0, r);
  return r;
}

/* ---- start, stop and report ------------------------------------------- */

static void start(void) {
  static char other[] = "(other)";
  g_tsc0 = __rdtsc();
  g_ns0 = mono_ns();
  g_paths[0] = other;
  uint32_t zero = 0;
  atomic_compare_exchange_strong(&g_npaths, &zero, 1); /* paths are kept across profiles */
  atomic_store(&g_on, 1);
}

void gsp__io_start(void) { start(); }

/* Zeroes every thread's rows (hooks off: no thread writes them). */
static void reset_threads(void) {
  for (io_thread *t = atomic_load_explicit(&g_io_threads, memory_order_acquire); t; t = t->next)
    for (uint32_t p = 0; p < MAX_PATHS; p++) {
      io_stat *row = atomic_load_explicit(&t->rows[p], memory_order_acquire);
      if (row) memset(row, 0, NCALLS * sizeof *row);
    }
}

static void stop(void) {
  if (!atomic_exchange(&g_on, 0)) return;
  uint64_t t1 = __rdtsc(), n1 = mono_ns();
  if (t1 > g_tsc0 && n1 > g_ns0) g_ns_per_tick = (double)(n1 - g_ns0) / (double)(t1 - g_tsc0);
}

int gsp__io_inproc_start(void) {
  static const gsp__got_fn fns[] = {
      {"read", (void *)gsp__io_read},           {"write", (void *)gsp__io_write},
      {"pread", (void *)gsp__io_pread},         {"pread64", (void *)gsp__io_pread},
      {"pwrite", (void *)gsp__io_pwrite},       {"pwrite64", (void *)gsp__io_pwrite},
      {"readv", (void *)gsp__io_readv},         {"writev", (void *)gsp__io_writev},
      {"open", (void *)gsp__io_open},           {"open64", (void *)gsp__io_open},
      {"openat", (void *)gsp__io_openat},       {"openat64", (void *)gsp__io_openat},
      {"close", (void *)gsp__io_close},         {"fsync", (void *)gsp__io_fsync},
      {"fdatasync", (void *)gsp__io_fdatasync}, {"send", (void *)gsp__io_send},
      {"recv", (void *)gsp__io_recv},
  };
  if (atomic_load(&g_on)) return GSP_EBUSY;
  for (int c = 0; c < NCALLS; c++) {
    void *f = dlsym(RTLD_DEFAULT, k_call[c]);
    if (!f) return GSP_ENOTSUP;
    __atomic_store_n(&g_real[c], f, __ATOMIC_RELEASE);
  }
  reset_threads();
  start();
  int rv = gsp__got_patch(GSP__GOT_IO, fns, sizeof fns / sizeof fns[0]);
  if (rv != GSP_OK) atomic_store(&g_on, 0);
  return rv;
}

void gsp__io_inproc_stop(void) {
  gsp__got_unpatch(GSP__GOT_IO);
  stop();
}

/* Sum over threads of (path p, call c) into acc. */
static void sum_cell(uint32_t p, int c, io_stat *acc) {
  memset(acc, 0, sizeof *acc);
  for (io_thread *t = atomic_load_explicit(&g_io_threads, memory_order_acquire); t; t = t->next) {
    io_stat *row = atomic_load_explicit(&t->rows[p], memory_order_acquire);
    if (!row) continue;
    const io_stat *s = &row[c];
    acc->count += atomic_load_explicit(&s->count, memory_order_relaxed);
    acc->bytes += atomic_load_explicit(&s->bytes, memory_order_relaxed);
    acc->ns += atomic_load_explicit(&s->ns, memory_order_relaxed);
    for (unsigned b = 0; b < NBUCK; b++)
      acc->hist[b] += atomic_load_explicit(&s->hist[b], memory_order_relaxed);
  }
}

/* Quantile q in ns (the middle of its power-of-two bucket of ticks). */
static double hist_q(const io_stat *s, double q, uint64_t count, double ns_per_tick) {
  uint64_t want = (uint64_t)(q * (double)count), seen = 0;
  for (unsigned b = 0; b < NBUCK; b++) {
    seen += atomic_load_explicit(&s->hist[b], memory_order_relaxed);
    if (seen > want) return b ? 1.5 * (double)(1ull << (b - 1)) * ns_per_tick : 0.0;
  }
  return 0.0;
}

static double ns_per_tick_now(void) {
  if (!atomic_load(&g_on)) return g_ns_per_tick;
  uint64_t t1 = __rdtsc(), n1 = mono_ns();
  return t1 > g_tsc0 && n1 > g_ns0 ? (double)(n1 - g_ns0) / (double)(t1 - g_tsc0) : 1.0;
}

size_t gsp__io_rows(gsp_prof_io_stat *out, size_t cap) {
  size_t k = 0;
  double npt = ns_per_tick_now();
  uint32_t n = atomic_load(&g_npaths);
  for (uint32_t p = 0; p < n; p++)
    for (int c = 0; c < NCALLS; c++) {
      io_stat acc;
      sum_cell(p, c, &acc);
      uint64_t cnt = acc.count;
      if (cnt == 0) continue;
      if (k < cap)
        out[k] = (gsp_prof_io_stat){g_paths[p],
                                    k_call[c],
                                    cnt,
                                    acc.bytes,
                                    (uint64_t)((double)acc.ns * npt),
                                    hist_q(&acc, 0.5, cnt, npt),
                                    hist_q(&acc, 0.99, cnt, npt)};
      k++;
    }
  return k;
}

int gsp__io_write_table(FILE *f, const gsp_prof_io_stat *rows, size_t n) {
  fprintf(f, "I/O by file and call (latency in us; p50/p99 from power-of-two buckets)\n");
  fprintf(f, "%-10s %10s %14s %12s %10s %10s %10s  %s\n", "call", "count", "bytes", "total ms",
          "mean", "p50", "p99", "file");
  for (size_t i = 0; i < n; i++) {
    const gsp_prof_io_stat *r = &rows[i];
    fprintf(f, "%-10s %10llu %14llu %12.1f %10.1f %10.1f %10.1f  %s\n", r->call,
            (unsigned long long)r->count, (unsigned long long)r->bytes, (double)r->total_ns / 1e6,
            (double)r->total_ns / (double)r->count / 1e3, r->p50_ns / 1e3, r->p99_ns / 1e3,
            r->path);
  }
  return ferror(f) ? GSP_EIO : GSP_OK;
}

void gsp__io_finish(const char *dir) {
  if (!atomic_load(&g_on)) return;
  stop();
  char path[PATH_MAX];
  snprintf(path, sizeof path, "%s/io.%ld.txt", dir, (long)getpid());
  size_t n = gsp__io_rows(NULL, 0);
  gsp_prof_io_stat *rows = gsp_calloc(n + 1, sizeof *rows);
  FILE *f = rows ? fopen(path, "w") : NULL;
  if (f) {
    size_t got = gsp__io_rows(rows, n);
    gsp__io_write_table(f, rows, got < n ? got : n);
    fclose(f);
  }
  gsp_free(rows);
}
