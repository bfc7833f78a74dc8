/*
 * heap_scan.c - the reachability scan behind the leak check, for the
 * preload's heap tracking (at exit) and the in-process MEMORY profile
 * (at stop): which tracked blocks can still be reached from the roots.
 *
 * Roots: the writable PT_LOAD segments of every loaded object (except
 * one the caller names: the preload library's own tables), the stack of
 * every live thread from the stack pointer where it was interrupted (not
 * the red zone below it, where dead values linger) to the end of its descriptor (glibc puts a
 * thread's descriptor and static TLS at the top of its stack block, so these are covered too; see
 * scan_thread), the general registers of every thread where it was interrupted (copied from the
 * signal frame; the vector registers are not roots: copies of pointers linger there), and each
 * thread's static TLS block below its thread pointer (for the main
 * thread, whose TLS is elsewhere).
 * Every aligned word of a root that points into a block (interior
 * pointers count, but for the one offset where glibc's next chunk header
 * may lie: see next_chunk_off) marks it, and a marked block's payload is scanned in
 * turn (an explicit work stack). What stays unmarked is unreachable.
 *
 * Stopping the world. The other threads must not move pointers while
 * their stacks are read: each is sent SIG_STOP_SCAN (SIGRTMAX-3) with
 * rt_tgsigqueueinfo and a magic value, and its handler publishes its
 * interrupted registers and its thread pointer in the thread's record, marks it
 * stopped and waits (nanosleep) until the scan is over. A thread that
 * does not answer within STOP_WAIT_MS (it blocks the signal) is left out
 * and counted in threads_missed: what only its stack references may then
 * be reported. The handler, installed on first use and kept, passes any
 * other instance of that signal to the handler installed before.
 *
 * Everything the scan needs is gathered before the world stops (objects'
 * segments through dl_iterate_phdr, which takes the loader's lock; the
 * memory map; the thread list through getdents64), and while it is
 * stopped the scanner only reads memory and makes system calls: no
 * malloc, no lock another thread may hold. Its buffers come from mmap.
 * The caller's quiesce callback takes the tracker's own locks before the
 * world stops, so no thread is stopped half-way through a table update.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

#include "prof_int.h"

#define MAX_THREADS 4096
#define MAX_ROOTS 4096
#define MAPS_MAX ((size_t)4 << 20)
#define STOP_WAIT_MS 500
#define STOP_MAGIC 0x67737073 /* "gsps" */
#define TCB_BYTES 2304        /* glibc's struct pthread on x86-64, rounded up */

enum { T_NONE, T_SIGNALLED, T_STOPPED, T_RESUMED };

typedef struct thr {
  pid_t tid;
  _Atomic int state;
  uintptr_t sp, tp;
  uintptr_t regs[NGREG]; /* general registers where it was interrupted */
} thr;

typedef struct range {
  uintptr_t lo, hi;
} range;

typedef struct scan {
  gsp__blk *blk; /* sorted by address */
  size_t n;
  size_t *work;
  size_t nwork;
  uintptr_t lo, hi; /* of all payloads */
  range *roots;
  size_t nroots;
  uintptr_t skip_base;
  unsigned chunk_bias;
  size_t tls; /* static TLS bytes below a thread pointer */
  char *maps;
  size_t maps_len;
} scan;

static thr *g_thr; /* MAX_THREADS, mmap'ed once, kept */
static _Atomic size_t g_nthr;
static _Atomic int g_stopping;
static struct sigaction g_prev;
static pthread_mutex_t g_scan_mu = PTHREAD_MUTEX_INITIALIZER;

static void *map_zero(size_t n) {
  void *m = mmap(NULL, n ? n : 1, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  return m == MAP_FAILED ? NULL : m;
}

static void unmap(void *p, size_t n) {
  if (p) munmap(p, n ? n : 1);
}

static int sig_stop(void) { return SIGRTMAX - 3; }

static uintptr_t thread_pointer(void) {
  uintptr_t tp;
  __asm__("mov %%fs:0, %0" : "=r"(tp));
  return tp;
}

/* ---- stopping the world --------------------------------------------------- */

static void chain(int sig, siginfo_t *si, void *uc) {
  if (g_prev.sa_flags & SA_SIGINFO) {
    if (g_prev.sa_sigaction) g_prev.sa_sigaction(sig, si, uc);
  } else if (g_prev.sa_handler != SIG_DFL && g_prev.sa_handler != SIG_IGN) {
    g_prev.sa_handler(sig);
  }
}

static void on_stop(int sig, siginfo_t *si, void *uc) {
  if (si->si_code != SI_QUEUE || si->si_value.sival_int != STOP_MAGIC) {
    chain(sig, si, uc);
    return;
  }
  int saved = errno;
  const ucontext_t *ctx = uc;
  pid_t tid = (pid_t)syscall(SYS_gettid);
  size_t n = atomic_load_explicit(&g_nthr, memory_order_acquire);
  for (size_t i = 0; i < n; i++) {
    thr *t = &g_thr[i];
    if (t->tid != tid || atomic_load_explicit(&t->state, memory_order_acquire) != T_SIGNALLED)
      continue;
    memcpy(t->regs, ctx->uc_mcontext.gregs, sizeof t->regs);
    t->sp = (uintptr_t)ctx->uc_mcontext.gregs[REG_RSP];
    t->tp = thread_pointer();
    atomic_store_explicit(&t->state, T_STOPPED, memory_order_release);
    struct timespec ts = {0, 20000};
    while (atomic_load_explicit(&g_stopping, memory_order_acquire)) nanosleep(&ts, NULL);
    atomic_store_explicit(&t->state, T_RESUMED, memory_order_release);
    break;
  }
  errno = saved;
}

static int install_handler(void) {
  static bool installed;
  if (installed) return GSP_OK;
  if (!g_thr && !(g_thr = map_zero(MAX_THREADS * sizeof *g_thr))) return GSP_ENOMEM;
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_sigaction = on_stop;
  sa.sa_flags = SA_SIGINFO | SA_RESTART;
  sigfillset(&sa.sa_mask);
  if (sigaction(sig_stop(), &sa, &g_prev) != 0) return GSP_ESYS;
  installed = true;
  return GSP_OK;
}

/* Lists the process's threads but the caller into g_thr (state NONE). */
static void list_threads(void) {
  char buf[8192];
  size_t n = 0;
  pid_t self = (pid_t)syscall(SYS_gettid);
  int fd = open("/proc/self/task", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return;
  long got;
  while ((got = syscall(SYS_getdents64, fd, buf, sizeof buf)) > 0) {
    for (long off = 0; off < got;) {
      struct dirent64 *d = (struct dirent64 *)(buf + off);
      off += d->d_reclen;
      long tid = strtol(d->d_name, NULL, 10);
      if (tid <= 0 || tid == self || n >= MAX_THREADS) continue;
      g_thr[n++] = (thr){.tid = (pid_t)tid, .state = T_NONE};
    }
  }
  close(fd);
  atomic_store_explicit(&g_nthr, n, memory_order_release);
}

static bool send_stop(pid_t tid) {
  siginfo_t si;
  memset(&si, 0, sizeof si);
  si.si_signo = sig_stop();
  si.si_code = SI_QUEUE;
  si.si_pid = getpid();
  si.si_uid = getuid();
  si.si_value.sival_int = STOP_MAGIC;
  return syscall(SYS_rt_tgsigqueueinfo, getpid(), tid, sig_stop(), &si) == 0;
}

static uint64_t ms_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Returns the number of threads that did not stop. */
static size_t stop_world(void) {
  size_t n = atomic_load(&g_nthr), missed = 0;
  atomic_store(&g_stopping, 1);
  for (size_t i = 0; i < n; i++) {
    atomic_store(&g_thr[i].state, T_SIGNALLED);
    if (!send_stop(g_thr[i].tid)) atomic_store(&g_thr[i].state, T_NONE); /* gone */
  }
  uint64_t until = ms_now() + STOP_WAIT_MS;
  struct timespec ts = {0, 50000};
  for (size_t i = 0; i < n; i++) {
    while (atomic_load(&g_thr[i].state) == T_SIGNALLED && ms_now() < until) nanosleep(&ts, NULL);
    int expect = T_SIGNALLED;
    if (atomic_compare_exchange_strong(&g_thr[i].state, &expect, T_NONE)) missed++;
  }
  return missed;
}

static void resume_world(void) {
  size_t n = atomic_load(&g_nthr);
  atomic_store(&g_stopping, 0);
  struct timespec ts = {0, 20000};
  for (size_t i = 0; i < n; i++)
    while (atomic_load(&g_thr[i].state) == T_STOPPED) nanosleep(&ts, NULL);
}

/* ---- roots ----------------------------------------------------------------- */

static int add_object(struct dl_phdr_info *info, size_t size, void *arg) {
  (void)size;
  scan *s = arg;
  if (s->skip_base && info->dlpi_addr == s->skip_base) return 0;
  for (int i = 0; i < info->dlpi_phnum && s->nroots < MAX_ROOTS; i++) {
    const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
    if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_W)) continue;
    uintptr_t lo = info->dlpi_addr + ph->p_vaddr;
    s->roots[s->nroots++] = (range){lo, lo + ph->p_memsz};
  }
  return 0;
}

static int tls_size_of(struct dl_phdr_info *info, size_t size, void *arg) {
  (void)size;
  for (int i = 0; i < info->dlpi_phnum; i++)
    if (info->dlpi_phdr[i].p_type == PT_TLS)
      *(size_t *)arg += (info->dlpi_phdr[i].p_memsz + 63) & ~(size_t)63;
  return 0;
}

static void read_maps(scan *s) {
  int fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return;
  ssize_t r;
  while (s->maps_len < MAPS_MAX - 1 &&
         (r = read(fd, s->maps + s->maps_len, MAPS_MAX - 1 - s->maps_len)) > 0)
    s->maps_len += (size_t)r;
  close(fd);
  s->maps[s->maps_len] = '\0';
}

/* End of the mapping holding a (0 if none). */
static uintptr_t mapping_end(const scan *s, uintptr_t a) {
  const char *p = s->maps, *end = s->maps + s->maps_len;
  while (p < end) {
    char *q;
    uintptr_t lo = strtoull(p, &q, 16), hi = strtoull(q + 1, &q, 16);
    if (a >= lo && a < hi) return hi;
    p = memchr(q, '\n', (size_t)(end - q));
    if (!p) break;
    p++;
  }
  return 0;
}

/* ---- marking ---------------------------------------------------------------- */

/* Offset, from a block's start, of the header of the glibc chunk that
 * follows it: glibc's chunk for a request r is max(32, (r + 8 + 15) &
 * ~15) bytes and the next one's header starts 16 bytes before the end of
 * that, which can fall inside the block's last 8 bytes. Free-list heads
 * in the C library's data point at such headers; they are no reference
 * to the block. bias: bytes between the chunk's user pointer and the
 * block (the preload's header). */
static uint64_t next_chunk_off(uint64_t size, unsigned bias) {
  uint64_t r = size + bias, c = (r + 8 + 15) & ~(uint64_t)15;
  return (c < 32 ? 32 : c) - 16 - bias;
}

static size_t find_block(const scan *s, uintptr_t v) {
  if (v < s->lo || v >= s->hi) return SIZE_MAX;
  size_t a = 0, b = s->n;
  while (a < b) {
    size_t m = (a + b) / 2;
    if (s->blk[m].addr <= v)
      a = m + 1;
    else
      b = m;
  }
  if (a == 0) return SIZE_MAX;
  const gsp__blk *k = &s->blk[a - 1];
  if (v >= k->addr + (k->size ? k->size : 1)) return SIZE_MAX;
  /* Offset 0 is the block itself (a tiny block lies inside the next
   * chunk's prev_size field): a pointer there is a reference. */
  uint64_t off = next_chunk_off(k->size, s->chunk_bias);
  return off != 0 && v - k->addr == off ? SIZE_MAX : a - 1;
}

__attribute__((no_sanitize("address", "thread"))) static void scan_range(scan *s, uintptr_t lo,
                                                                         uintptr_t hi) {
  for (uintptr_t a = (lo + 7) & ~(uintptr_t)7; a + 8 <= hi; a += 8) {
    size_t i = find_block(s, *(const uintptr_t *)a);  // NOLINT(performance-no-int-to-ptr)
    if (i == SIZE_MAX || s->blk[i].mark) continue;
    s->blk[i].mark = 1;
    s->work[s->nwork++] = i;
  }
}

static void drain_work(scan *s) {
  while (s->nwork > 0) {
    const gsp__blk *b = &s->blk[s->work[--s->nwork]];
    scan_range(s, b->addr, b->addr + b->size);
  }
}

/* A thread's stack from sp up, and its TLS. glibc puts a thread's
 * descriptor (at the thread pointer) and its static TLS (just below) at
 * the top of its stack block, so for such a thread the stack ends at the
 * end of the descriptor: the mapping holding sp may go on (the kernel
 * merges neighbouring anonymous mappings, such as the tracker's own
 * tables, which must not count as roots). The main thread's stack ends
 * where its mapping does, and its TLS is elsewhere. */
static void scan_thread(scan *s, uintptr_t sp, uintptr_t tp) {
  uintptr_t top = mapping_end(s, sp);
  bool tls_above = tp > sp && tp < top;
  if (tls_above && tp + TCB_BYTES < top) top = tp + TCB_BYTES;
  if (top > sp) scan_range(s, sp, top);
  if (tp && !tls_above) scan_range(s, tp - s->tls, tp + TCB_BYTES);
  drain_work(s);
}

static void mark_all(scan *s, uintptr_t my_sp) {
  for (size_t i = 0; i < s->nroots; i++) {
    scan_range(s, s->roots[i].lo, s->roots[i].hi);
    drain_work(s);
  }
  size_t n = atomic_load(&g_nthr);
  for (size_t i = 0; i < n; i++) {
    thr *t = &g_thr[i];
    if (atomic_load(&t->state) != T_STOPPED) continue;
    scan_range(s, (uintptr_t)t->regs, (uintptr_t)(t->regs + NGREG));
    scan_thread(s, t->sp, t->tp);
  }
  scan_thread(s, my_sp, thread_pointer());
}

/* ---- sorting (heapsort: no allocation while the world is stopped) ---------- */

static void sift(gsp__blk *b, size_t i, size_t n) {
  for (;;) {
    size_t c = 2 * i + 1;
    if (c >= n) return;
    if (c + 1 < n && b[c + 1].addr > b[c].addr) c++;
    if (b[i].addr >= b[c].addr) return;
    gsp__blk t = b[i];
    b[i] = b[c];
    b[c] = t;
    i = c;
  }
}

static void sort_blocks(gsp__blk *b, size_t n) {
  for (size_t i = n / 2; i-- > 0;) sift(b, i, n);
  for (size_t e = n; e-- > 1;) {
    gsp__blk t = b[0];
    b[0] = b[e];
    b[e] = t;
    sift(b, 0, e);
  }
}

/* ---- the scan ---------------------------------------------------------------- */

static int prepare(scan *s, const gsp__reach_ops *ops) {
  s->roots = map_zero(MAX_ROOTS * sizeof *s->roots);
  s->maps = map_zero(MAPS_MAX);
  if (!s->roots || !s->maps) return GSP_ENOMEM;
  s->skip_base = ops->skip_base;
  s->chunk_bias = ops->chunk_bias;
  dl_iterate_phdr(add_object, s);
  dl_iterate_phdr(tls_size_of, &s->tls);
  read_maps(s);
  return install_handler();
}

static void release(scan *s, size_t cap) {
  unmap(s->roots, MAX_ROOTS * sizeof *s->roots);
  unmap(s->maps, MAPS_MAX);
  unmap(s->blk, cap * sizeof *s->blk);
  unmap(s->work, cap * sizeof *s->work);
}

/* Runs with the tracker quiesced: gathers, stops, marks, resumes, and
 * hands the verdict to the caller. */
static int scan_quiesced(scan *s, const gsp__reach_ops *ops, size_t cap, gsp__reach_stats *st) {
  s->n = ops->gather(ops->user, s->blk, cap);
  sort_blocks(s->blk, s->n);
  if (s->n > 0) {
    s->lo = s->blk[0].addr;
    s->hi = s->blk[s->n - 1].addr + s->blk[s->n - 1].size + 1;
  }
  list_threads();
  st->threads = atomic_load(&g_nthr) + 1;
  st->threads_missed = stop_world();
  volatile uintptr_t here = 0;
  mark_all(s, (uintptr_t)&here);
  resume_world();
  st->blocks = s->n;
  for (size_t i = 0; i < s->n; i++) st->unreachable += !s->blk[i].mark;
  ops->verdict(ops->user, s->blk, s->n);
  return GSP_OK;
}

int gsp__heap_reach(const gsp__reach_ops *ops, gsp__reach_stats *st) {
  scan s;
  memset(&s, 0, sizeof s);
  memset(st, 0, sizeof *st);
  pthread_mutex_lock(&g_scan_mu);
  int rv = prepare(&s, ops);
  size_t cap = 0;
  if (rv == GSP_OK) {
    ops->quiesce(ops->user, true);
    cap = ops->count(ops->user) + 1;
    s.blk = map_zero(cap * sizeof *s.blk);
    s.work = map_zero(cap * sizeof *s.work);
    rv = s.blk && s.work ? scan_quiesced(&s, ops, cap, st) : GSP_ENOMEM;
    ops->quiesce(ops->user, false);
  }
  release(&s, cap);
  pthread_mutex_unlock(&g_scan_mu);
  return rv;
}
