/*
 * io_hook.c - I/O tracking: counts, bytes and a latency histogram per
 * file (path) and per call for read, write, pread, pwrite, readv, writev,
 * open, openat, close, fsync, fdatasync, send and recv, as the program
 * calls them. The hooks are reached through LD_PRELOAD (preload_io.c
 * exports them under the C library's names) or through the GOT slots
 * gsp__io_inproc_start patches; each calls the C library's own function
 * (dlsym, resolved once).
 *
 * Sampled timing. Counts and bytes are exact: every call adds to them.
 * Timing a call costs two TSC reads (about 19 ns on this VM's EPYC, 3-4%
 * of a 4 KiB page-cache pread), so, as sampling profilers do, only a
 * sample of the calls is timed: about one in N (g_sample, 1 = every
 * call) per (thread, path, call) cell, and the first call of each cell
 * always (so every row has a time, and a call made once is timed). The
 * gap to the next timed call is drawn uniformly from 1..2N-1 (mean N) by
 * the cell's own xorshift generator, seeded from the TSC: a random gap,
 * not a fixed period, so a pattern that repeats with a period (a slow
 * call then a fast one on the same fd) is not aliased onto one phase.
 * An untimed call reads no clock: it decrements the cell's skip counter
 * and adds to count and bytes. Per cell the timed calls give the
 * histogram (their own count, "timed", about count/N) and their sum of
 * ticks; the cell's total time is estimated as ticks * count / timed
 * (the ratio estimator: the mean of the timed calls times the calls;
 * exact when every call is timed, about ticks * N otherwise), per thread,
 * then summed. p50/p99 come from the timed calls' histogram.
 *
 * Data layout. Paths are interned once (open/openat, or the first call on
 * an fd opened before tracking started, named from /proc/self/fd: a pipe
 * shows as "pipe:[N]") into g_paths[] (MAX_PATHS names, found through an
 * open-addressing hash table, both under a spinlock taken only when a
 * path is interned; overflow shares index 0, "(other)"); g_fd_path[fd]
 * maps an fd to its path index + 1. Each thread has its own io_thread
 * block (rows[path]: NCALLS io_stat cells, made on first use), rows and
 * block from mmap, so a hook never calls malloc and is safe in a signal
 * handler. Cells are written by their thread alone with relaxed load +
 * store (plain moves: no lock-prefixed instruction on the hot path);
 * blocks are pushed on g_io_threads with one CAS when a thread first does
 * I/O, never freed, summed when a report asks (gsp__io_rows), zeroed when
 * an in-process profile starts. Interned paths are kept across profiles;
 * fd -> path entries are cleared before a close (the number may be reused
 * at once) and when an in-process profile starts (closes made while no
 * profile ran were not seen).
 *
 * The hot path of a hook (one static inline helper per call shape, so
 * the entry points are a line or a few each and compile to the hand-written
 * code): tracking on and this thread not guarded (a global and a TLS
 * load), the fd's path (an array load), the thread's row (a TLS load and
 * an array load), the cell's skip counter; then the real call; then count
 * and bytes. Ticks become ns at the end, from the (TSC, CLOCK_MONOTONIC)
 * pairs taken at start and at finish (invariant TSC assumed).
 *
 * pread and pwrite in line. On this kind of VM a function that makes a
 * system call returns with a mispredicted return (the kernel leaves the
 * return stack full of its own entries): about 8 ns for each call level
 * that returns after the system call, and the hook that calls the C
 * library's pread adds one level (measured: a wrapper that only calls
 * pread costs 7-10 ns, one that makes the system call itself and touches
 * the same data as the hook about 1 ns). So when what the hook would
 * call is the C library's own pread or pwrite (not another interposer's,
 * not the program's own), the hook makes the system call itself
 * (io_raw.h) as the C library does: pthread_testcancel first (a pending
 * cancel is acted on, as at any cancellation point), errno on failure.
 * Only these two: they fail at once (ESPIPE) on pipes, sockets and
 * terminals, so a cancel arriving during the call waits only for a
 * bounded call to return, and then for the next cancellation point (an
 * order the program could see anyway); read, write and the others, which
 * may block on a pipe until a cancel wakes them, keep calling the C
 * library.
 *
 * The C library's internal I/O (stdio's buffered reads and writes) does
 * not pass through these entry points and is not seen; the read and
 * write of the program itself are.
 *
 * Output (preload) at exit: $GSP_PROF_DIR/io.<pid>.txt, a table per path
 * and call (count, timed, bytes, total, mean, p50/p99), its title line
 * naming N; or one line saying why I/O was not tracked.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stddef.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <pthread.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>
#include <x86intrin.h>

#include "io_raw.h"
#include "prof_int.h"

#define MAX_PATHS 1024
#define HASH_SLOTS 2048 /* power of two, at least 2 * MAX_PATHS */
#define MAX_FDS 65536
#define NBUCK 40
#define DEFAULT_SAMPLE 16

_Static_assert(HASH_SLOTS >= 2 * MAX_PATHS && (HASH_SLOTS & (HASH_SLOTS - 1)) == 0,
               "hash table size");
_Static_assert(MAX_PATHS <= 65535, "path indices fit the hash table's uint16_t");

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

/* A cell: what an untimed call touches (count, bytes, skip) is in its
 * first cache line; cells are whole cache lines (rows are page-aligned). */
typedef struct io_stat {
  _Atomic uint64_t count, bytes; /* every call */
  uint32_t skip;                 /* owner only: untimed calls before the next timed one */
  uint32_t pad_;
  uint64_t rng;                  /* owner only: xorshift state, 0 = not seeded */
  _Atomic uint64_t timed, ticks; /* the timed calls: how many, their TSC ticks */
  _Atomic uint64_t hist[NBUCK];  /* timed calls by ticks, in powers of two */
  uint64_t spare_[2];
} io_stat;
_Static_assert(sizeof(io_stat) % 64 == 0, "a cell is whole cache lines");
_Static_assert(offsetof(io_stat, skip) < 64, "an untimed call touches one line");

static char *g_paths[MAX_PATHS];
static uint16_t g_hash[HASH_SLOTS]; /* path index + 1, 0 = empty; under g_path_lock */
static _Atomic uint32_t g_npaths;
static atomic_flag g_path_lock = ATOMIC_FLAG_INIT;
static _Atomic uint32_t g_fd_path[MAX_FDS]; /* path index + 1, 0 = unknown */
static _Atomic int g_on;
static _Atomic uint32_t g_sample = DEFAULT_SAMPLE; /* of the running or last profile */
static char g_refused[192];                        /* preload: why I/O is not tracked */
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
 * points at a hook. g_raw[call]: the hook makes the system call itself
 * (pread and pwrite, when what was resolved is the C library's own: no
 * other interposer or program definition is skipped); written before
 * g_real[call] is published. */
static void *g_real[NCALLS];
static bool g_raw[NCALLS];

/* call's function in the C library itself, or NULL. */
static void *libc_fn(int call) {
  void *h = dlopen("libc.so.6", RTLD_LAZY | RTLD_NOLOAD);
  void *f = h ? dlsym(h, k_call[call]) : NULL;
  if (h) dlclose(h);
  return f;
}

static void set_real(int call, void *f) {
  bool raw = GSP__IO_RAW && (call == C_PREAD || call == C_PWRITE) && f && f == libc_fn(call);
  __atomic_store_n(&g_raw[call], raw, __ATOMIC_RELAXED);
  __atomic_store_n(&g_real[call], f, __ATOMIC_RELEASE);
}

__attribute__((noinline, cold)) static void *resolve(int call) {
  void *f = dlsym(RTLD_NEXT, k_call[call]);
  set_real(call, f);
  return f;
}

static inline void *real(int call) {
  void *f = __atomic_load_n(&g_real[call], __ATOMIC_ACQUIRE);
  return __builtin_expect(f != NULL, 1) ? f : resolve(call);
}

static uint64_t mono_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t g_tsc0, g_ns0;
static double g_ns_per_tick = 1.0;

/* ---- paths ------------------------------------------------------------------ */

static uint32_t str_hash(const char *s) {
  uint32_t h = 2166136261u; /* FNV-1a */
  for (; *s; s++) h = (h ^ (unsigned char)*s) * 16777619u;
  return h;
}

static void path_lock(void) {
  while (atomic_flag_test_and_set_explicit(&g_path_lock, memory_order_acquire))
    __builtin_ia32_pause();
}

/* Adds path at hash slot h (empty); its index, or 0 when the table is full. */
static uint32_t add_path_locked(const char *path, uint32_t h) {
  uint32_t n = atomic_load_explicit(&g_npaths, memory_order_relaxed);
  if (n == 0 || n >= MAX_PATHS) return 0;
  bool was = gsp__iheap_guard(true); /* the profiler's copy, not the program's */
  char *copy = gsp_strdup(path);
  gsp__iheap_guard(was);
  if (!copy) return 0;
  g_paths[n] = copy;
  g_hash[h] = (uint16_t)(n + 1);
  atomic_store_explicit(&g_npaths, n + 1, memory_order_release);
  return n;
}

/* path's index, interned on first sight; 0 = "(other)". */
static uint32_t intern(const char *path) {
  path_lock();
  uint32_t h = str_hash(path) & (HASH_SLOTS - 1), i;
  for (;; h = (h + 1) & (HASH_SLOTS - 1)) {
    uint32_t v = g_hash[h];
    if (v == 0) {
      i = add_path_locked(path, h);
      break;
    }
    if (strcmp(g_paths[v - 1], path) == 0) {
      i = v - 1;
      break;
    }
  }
  atomic_flag_clear_explicit(&g_path_lock, memory_order_release);
  return i;
}

__attribute__((noinline, cold)) static uint32_t name_fd(int fd) {
  char link[64], target[PATH_MAX];
  snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
  ssize_t n = readlink(link, target, sizeof target - 1);
  if (n <= 0) return 0;
  target[n] = '\0';
  uint32_t p = intern(target);
  atomic_store_explicit(&g_fd_path[fd], p + 1, memory_order_relaxed);
  return p;
}

static inline uint32_t path_of_fd(int fd) {
  if ((unsigned)fd >= MAX_FDS) return 0;
  uint32_t p = atomic_load_explicit(&g_fd_path[fd], memory_order_relaxed);
  return __builtin_expect(p != 0, 1) ? p - 1 : name_fd(fd);
}

/* ---- per-thread cells ------------------------------------------------------- */

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

static inline io_stat *cell(uint32_t path, int call) {
  io_thread *t = t_io;
  io_stat *row = t ? atomic_load_explicit(&t->rows[path], memory_order_relaxed) : NULL;
  if (__builtin_expect(row == NULL, 0) && (row = new_row(path)) == NULL) return NULL;
  return &row[call];
}

/* Owner-only update: a relaxed load and store, no read-modify-write. */
static inline void bump(_Atomic uint64_t *f, uint64_t v) {
  atomic_store_explicit(f, atomic_load_explicit(f, memory_order_relaxed) + v, memory_order_relaxed);
}

/* Untimed calls before the next timed one: uniform in 0..2N-2. */
static uint32_t next_skip(io_stat *s, uint64_t seed) {
  uint32_t n = atomic_load_explicit(&g_sample, memory_order_relaxed);
  if (n <= 1) return 0;
  uint64_t x = s->rng;
  if (x == 0) x = (seed ^ (uintptr_t)s) * 0x9e3779b97f4a7c15ull | 1u;
  x ^= x << 13;
  x ^= x >> 7;
  x ^= x << 17;
  s->rng = x;
  return (uint32_t)(((x >> 32) * (2ull * n - 1)) >> 32);
}

/* One timed call of ticks t1 - t0 into s. */
__attribute__((noinline)) static void record_time(io_stat *s, uint64_t t0, uint64_t t1) {
  uint64_t ticks = t1 - t0;
  unsigned b = ticks ? 64u - (unsigned)__builtin_clzll(ticks) : 0;
  bump(&s->timed, 1);
  bump(&s->ticks, ticks);
  bump(&s->hist[b < NBUCK ? b : NBUCK - 1], 1);
  s->skip = next_skip(s, t1);
}

/* ---- the hot path: one operation ------------------------------------------- */

typedef struct io_op {
  io_stat *s;  /* NULL: not recorded (off, guarded, or no memory) */
  uint64_t t0; /* TSC before the call, when timed */
  bool timed;
} io_op;

static inline bool on(void) {
  return atomic_load_explicit(&g_on, memory_order_relaxed) != 0 && !t_io_guard;
}

void gsp__io_guard(bool guard) { t_io_guard = guard; }

static inline void op_begin(io_op *op, io_stat *s) {
  op->s = s;
  op->timed = false;
  op->t0 = 0;
  if (s == NULL) return;
  if (s->skip != 0) {
    s->skip--;
    return;
  }
  op->timed = true;
  op->t0 = __rdtsc();
}

static inline void op_begin_fd(io_op *op, int fd, int call) {
  op_begin(op, on() ? cell(path_of_fd(fd), call) : NULL);
}

static inline void op_end(io_op *op, ssize_t r) {
  io_stat *s = op->s;
  if (s == NULL) return;
  if (op->timed) record_time(s, op->t0, __rdtsc());
  bump(&s->count, 1);
  if (r > 0) bump(&s->bytes, (uint64_t)r);
}

/* ---- the hooks: one helper per call shape ------------------------------------ */

static inline ssize_t rw_call(int call, int fd, void *b, size_t n) {
  rw_fn f = (rw_fn)real(call);
  io_op op;
  op_begin_fd(&op, fd, call);
  ssize_t r = f(fd, b, n);
  op_end(&op, r);
  return r;
}

/* pread or pwrite as the C library makes it (a cancellation point: a
 * pending cancel is acted on before the call; errno set on failure), but
 * in line. Only for these two: they fail at once (ESPIPE) on pipes,
 * sockets and terminals, so a cancel that arrives during the call waits
 * for it to return (bounded) and then for the next cancellation point, an
 * order the program could see anyway. */
static inline __attribute__((always_inline)) ssize_t raw_prw(int call, int fd, void *b, size_t n,
                                                             off_t off) {
  pthread_testcancel();
  long r = gsp__io_raw_syscall4(call == C_PREAD ? SYS_pread64 : SYS_pwrite64, fd, (long)b, (long)n,
                                (long)off);
  if (__builtin_expect(r < 0 && r > -4096, 0)) {
    errno = (int)-r;
    return -1;
  }
  return r;
}

static inline ssize_t prw_call(int call, int fd, void *b, size_t n, off_t off) {
  prw_fn f = (prw_fn)real(call);
  io_op op;
  op_begin_fd(&op, fd, call);
  ssize_t r = __atomic_load_n(&g_raw[call], __ATOMIC_RELAXED) ? raw_prw(call, fd, b, n, off)
                                                              : f(fd, b, n, off);
  op_end(&op, r);
  return r;
}

static inline ssize_t rwv_call(int call, int fd, const struct iovec *v, int n) {
  rwv_fn f = (rwv_fn)real(call);
  io_op op;
  op_begin_fd(&op, fd, call);
  ssize_t r = f(fd, v, n);
  op_end(&op, r);
  return r;
}

static inline ssize_t sr_call(int call, int fd, void *b, size_t n, int flags) {
  sr_fn f = (sr_fn)real(call);
  io_op op;
  op_begin_fd(&op, fd, call);
  ssize_t r = f(fd, b, n, flags);
  op_end(&op, r);
  return r;
}

static inline int fd_call(int call, int fd) {
  fd_fn f = (fd_fn)real(call);
  io_op op;
  op_begin_fd(&op, fd, call);
  int r = f(fd);
  op_end(&op, 0);
  return r;
}

/* open (dirfd unused) and openat: the path is interned before the call,
 * so that the cell, and whether to time the call, are known. */
static int open_call(int call, int dirfd, const char *path, int flags, mode_t mode) {
  void *f = real(call);
  bool track = on();
  uint32_t p = track && path ? intern(path) : 0;
  io_op op;
  op_begin(&op, track ? cell(p, call) : NULL);
  int fd =
      call == C_OPEN ? ((open_fn)f)(path, flags, mode) : ((openat_fn)f)(dirfd, path, flags, mode);
  if (track && (unsigned)fd < MAX_FDS)
    atomic_store_explicit(&g_fd_path[fd], p + 1, memory_order_relaxed);
  op_end(&op, 0);
  return fd;
}

ssize_t gsp__io_read(int fd, void *b, size_t n) { return rw_call(C_READ, fd, b, n); }
ssize_t gsp__io_write(int fd, const void *b, size_t n) {
  return rw_call(C_WRITE, fd, (void *)b, n);
}
ssize_t gsp__io_pread(int fd, void *b, size_t n, off_t off) {
  return prw_call(C_PREAD, fd, b, n, off);
}
ssize_t gsp__io_pwrite(int fd, const void *b, size_t n, off_t off) {
  return prw_call(C_PWRITE, fd, (void *)b, n, off);
}
ssize_t gsp__io_readv(int fd, const struct iovec *v, int n) { return rwv_call(C_READV, fd, v, n); }
ssize_t gsp__io_writev(int fd, const struct iovec *v, int n) {
  return rwv_call(C_WRITEV, fd, v, n);
}
ssize_t gsp__io_send(int fd, const void *b, size_t n, int flags) {
  return sr_call(C_SEND, fd, (void *)b, n, flags);
}
ssize_t gsp__io_recv(int fd, void *b, size_t n, int flags) {
  return sr_call(C_RECV, fd, b, n, flags);
}
int gsp__io_fsync(int fd) { return fd_call(C_FSYNC, fd); }
int gsp__io_fdatasync(int fd) { return fd_call(C_FDATASYNC, fd); }

/* The fd's path is forgotten before the real close: once closed, its
 * number may be reused by another thread's open at any moment. */
int gsp__io_close(int fd) {
  fd_fn f = (fd_fn)real(C_CLOSE);
  io_op op;
  op_begin_fd(&op, fd, C_CLOSE);
  if ((unsigned)fd < MAX_FDS) atomic_store_explicit(&g_fd_path[fd], 0, memory_order_relaxed);
  int r = f(fd);
  op_end(&op, 0);
  return r;
}

/* The mode is read only when the flags say one was passed. */
int gsp__io_open(const char *path, int flags, ...) {
  mode_t mode = 0;
  if (flags & (O_CREAT | O_TMPFILE)) {
    va_list ap;
    va_start(ap, flags);
    mode = (mode_t)va_arg(ap, int);
    va_end(ap);
  }
  return open_call(C_OPEN, AT_FDCWD, path, flags, mode);
}

int gsp__io_openat(int dirfd, const char *path, int flags, ...) {
  mode_t mode = 0;
  if (flags & (O_CREAT | O_TMPFILE)) {
    va_list ap;
    va_start(ap, flags);
    mode = (mode_t)va_arg(ap, int);
    va_end(ap);
  }
  return open_call(C_OPENAT, dirfd, path, flags, mode);
}

/* ---- start, stop and report ------------------------------------------- */

static void start(unsigned sample) {
  static char other[] = "(other)";
  atomic_store(&g_sample, sample ? sample : DEFAULT_SAMPLE);
  g_tsc0 = __rdtsc();
  g_ns0 = mono_ns();
  g_paths[0] = other;
  uint32_t zero = 0;
  atomic_compare_exchange_strong(&g_npaths, &zero, 1); /* paths are kept across profiles */
  atomic_store(&g_on, 1);
}

void gsp__io_begin(unsigned sample) { start(sample); }

void gsp__io_refuse(const char *why) { snprintf(g_refused, sizeof g_refused, "%s", why); }

unsigned gsp__io_sample(void) { return atomic_load(&g_sample); }

/* Zeroes every thread's rows (hooks off: no thread writes them). */
static void reset_threads(void) {
  for (io_thread *t = atomic_load_explicit(&g_io_threads, memory_order_acquire); t; t = t->next)
    for (uint32_t p = 0; p < MAX_PATHS; p++) {
      io_stat *row = atomic_load_explicit(&t->rows[p], memory_order_acquire);
      if (row) memset(row, 0, NCALLS * sizeof *row);
    }
}

/* fd -> path entries are forgotten at an in-process start: fds closed
 * while no profile ran (no hook saw the close) may have been reused since;
 * each is named again from /proc/self/fd at its first call. */
static void forget_fds(void) {
  for (unsigned fd = 0; fd < MAX_FDS; fd++)
    atomic_store_explicit(&g_fd_path[fd], 0, memory_order_relaxed);
}

static void stop(void) {
  if (!atomic_exchange(&g_on, 0)) return;
  uint64_t t1 = __rdtsc(), n1 = mono_ns();
  if (t1 > g_tsc0 && n1 > g_ns0) g_ns_per_tick = (double)(n1 - g_ns0) / (double)(t1 - g_tsc0);
}

int gsp__io_inproc_start(unsigned sample) {
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
  if (sample > GSP_PROF_IO_SAMPLE_MAX) return GSP_EINVAL;
  for (int c = 0; c < NCALLS; c++) {
    void *f = dlsym(RTLD_DEFAULT, k_call[c]);
    if (!f) return GSP_ENOTSUP;
    set_real(c, f);
  }
  reset_threads();
  forget_fds();
  start(sample);
  int rv = gsp__got_patch(GSP__GOT_IO, fns, sizeof fns / sizeof fns[0]);
  if (rv != GSP_OK) atomic_store(&g_on, 0);
  return rv;
}

void gsp__io_inproc_stop(void) {
  gsp__got_unpatch(GSP__GOT_IO);
  stop();
}

/* A cell summed over threads; ticks estimated per thread (ticks * count
 * / timed) before the sum. */
typedef struct io_sum {
  uint64_t count, bytes, timed;
  double ticks;
  uint64_t hist[NBUCK];
} io_sum;

static void sum_cell(uint32_t p, int c, io_sum *acc) {
  memset(acc, 0, sizeof *acc);
  for (io_thread *t = atomic_load_explicit(&g_io_threads, memory_order_acquire); t; t = t->next) {
    io_stat *row = atomic_load_explicit(&t->rows[p], memory_order_acquire);
    if (!row) continue;
    const io_stat *s = &row[c];
    uint64_t count = atomic_load_explicit(&s->count, memory_order_relaxed);
    uint64_t timed = atomic_load_explicit(&s->timed, memory_order_relaxed);
    uint64_t ticks = atomic_load_explicit(&s->ticks, memory_order_relaxed);
    acc->count += count;
    acc->bytes += atomic_load_explicit(&s->bytes, memory_order_relaxed);
    acc->timed += timed;
    if (timed) acc->ticks += (double)ticks * ((double)count / (double)timed);
    for (unsigned b = 0; b < NBUCK; b++)
      acc->hist[b] += atomic_load_explicit(&s->hist[b], memory_order_relaxed);
  }
}

/* Quantile q in ns of the timed calls (the middle of its power-of-two
 * bucket of ticks). */
static double hist_q(const io_sum *s, double q, double ns_per_tick) {
  uint64_t want = (uint64_t)(q * (double)s->timed), seen = 0;
  for (unsigned b = 0; b < NBUCK; b++) {
    seen += s->hist[b];
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
      io_sum acc;
      sum_cell(p, c, &acc);
      if (acc.count == 0) continue;
      if (k < cap)
        out[k] = (gsp_prof_io_stat){.path = g_paths[p],
                                    .call = k_call[c],
                                    .count = acc.count,
                                    .bytes = acc.bytes,
                                    .total_ns = (uint64_t)(acc.ticks * npt),
                                    .p50_ns = hist_q(&acc, 0.5, npt),
                                    .p99_ns = hist_q(&acc, 0.99, npt),
                                    .timed = acc.timed};
      k++;
    }
  return k;
}

int gsp__io_write_table(FILE *f, const gsp_prof_io_stat *rows, size_t n, unsigned sample) {
  fprintf(f, "I/O by file and call (latency in us; p50/p99 from power-of-two buckets; ");
  if (sample <= 1)
    fprintf(f, "every call timed)\n");
  else
    fprintf(f, "times from 1 call in %u, estimated)\n", sample);
  fprintf(f, "%-10s %10s %10s %14s %12s %10s %10s %10s  %s\n", "call", "count", "timed", "bytes",
          "total ms", "mean", "p50", "p99", "file");
  for (size_t i = 0; i < n; i++) {
    const gsp_prof_io_stat *r = &rows[i];
    fprintf(f, "%-10s %10llu %10llu %14llu %12.3f %10.2f %10.1f %10.1f  %s\n", r->call,
            (unsigned long long)r->count, (unsigned long long)r->timed,
            (unsigned long long)r->bytes, (double)r->total_ns / 1e6,
            (double)r->total_ns / (double)r->count / 1e3, r->p50_ns / 1e3, r->p99_ns / 1e3,
            r->path);
  }
  return ferror(f) ? GSP_EIO : GSP_OK;
}

static void write_refusal(const char *path) {
  FILE *f = fopen(path, "w");
  if (!f) return;
  fprintf(f, "I/O not tracked: %s\n", g_refused);
  fclose(f);
}

void gsp__io_finish(const char *dir) {
  char path[PATH_MAX];
  snprintf(path, sizeof path, "%s/io.%ld.txt", dir, (long)getpid());
  if (g_refused[0]) {
    write_refusal(path);
    return;
  }
  if (!atomic_load(&g_on)) return;
  stop();
  size_t n = gsp__io_rows(NULL, 0);
  gsp_prof_io_stat *rows = gsp_calloc(n + 1, sizeof *rows);
  FILE *f = rows ? fopen(path, "w") : NULL;
  if (f) {
    size_t got = gsp__io_rows(rows, n);
    gsp__io_write_table(f, rows, got < n ? got : n, atomic_load(&g_sample));
    fclose(f);
  }
  gsp_free(rows);
}
