/*
 * sampler.c - CPU sampling: picks the sampling source, follows the
 * process's threads, and hands samples to the collector (prof.c).
 *
 * Sources, in order of preference (gsp__sampler_open; the environment
 * variable GSP_PROF_SAMPLER=ring|signal|timer, or force_timers, picks one
 * on purpose):
 *
 * - ring (sampler_ring.c): a perf event per thread on the task-clock
 *   writing samples (frame-pointer chain, registers, a copy of the top of
 *   the stack) into a ring mapped into the process; the collector reads
 *   the rings and completes the first frames with DWARF CFI
 *   (sampler_unwind.c). No signal, nothing runs in the sampled thread:
 *   the cost per sample is the kernel's timer interrupt and copy.
 * - signal, where the ring is refused (perf_event_mlock_kb, a seccomp
 *   filter on mmap of perf fds) but perf events are allowed: the same
 *   event with a one-page buffer and wakeup_events = 1, its fd set to
 *   send the sampling signal (gsp_prof_sample_signal(), a real-time
 *   signal) to that thread (F_SETOWN_EX F_OWNER_TID, F_SETSIG,
 *   O_ASYNC) on every sample. The kernel writes the sample (ip and its
 *   frame-pointer chain) into the buffer; the handler finds the buffer
 *   from si_fd (g_fdpage, indexed by fd), takes every sample record in
 *   it (one sample of weight 1 each: a late signal may find several, or
 *   none when an earlier handler took them) and hands the buffer back
 *   (data_tail = data_head: plain memory accesses, no syscall). The
 *   thread's registers and a copy of the top of its stack go with the
 *   last record only when they are where the kernel took it
 *   (sampler_capture.c); the collector then unwinds and splices them
 *   with the chain as it does the ring's samples. A thread's buffer is
 *   drained the same way when its event is closed.
 * - timer, where perf events are not allowed at all: a POSIX timer on
 *   each thread's CPU-time clock (the clock id of thread `tid` is
 *   (~tid << 3) | CPUCLOCK_PERTHREAD | CPUCLOCK_SCHED, the encoding
 *   pthread_getcpuclockid uses) delivering the sampling signal to that thread
 *   (SIGEV_THREAD_ID). Its expiry is checked on the scheduler tick (250 Hz
 *   here), so above that a signal stands for several periods: the sample
 *   carries weight 1 + si_overrun and times stay right. The handler
 *   captures as in the signal source. In ring mode a thread whose ring
 *   cannot be made gets a timer too (the capture queue is then mapped).
 *
 * Threads. The collector calls gsp__sampler_scan_threads after each
 * gsp__sampler_wait (at most 50 ms apart; in ring mode also as soon as a
 * sampled thread creates a thread or exits, which its ring's watcher event
 * reports): it lists /proc/self/task, arms a source for each new tid and
 * disarms the sources of tids that are gone (known tids in a small array,
 * collector thread only). A ring is read to its end before it is unmapped
 * (its samples go to the queue below), so neither a thread's exit nor the
 * end of the profile loses samples.
 *
 * Queues. The signal handler only captures: registers and a copy of the
 * top of the stack into the capture queue (sampler_capture.c: no lock,
 * no allocation, one process_vm_readv), unwound by the collector when it
 * pops them. A full queue drops the sample (counted). The handler keeps
 * errno, ignores signals that are not from our sources, and does nothing
 * once sampling is off (it stays installed for the life of the process,
 * so a late signal never meets SIG_DFL). g_in_handler counts handlers in
 * flight: a handler raises it before it reads g_active, and the
 * collector clears g_active before it waits for zero (both sequentially
 * consistent), so after that wait no handler touches a perf page or the
 * capture queue, which can then be unmapped. A second queue, of unwound
 * samples, belongs to the collector alone (it pushes what it reads from
 * the rings and pops from the capture queue, and pops them again for
 * gsp__sampler_pop): a FIFO of QUEUE_SLOTS in static memory, tail - head
 * samples in it, a full one dropping (counted).
 *
 * File descriptors. Every descriptor the sampler opens (perf events, the
 * /proc/self/task directory, kept open and rewound for each scan) is
 * opened by the collector thread, which prof.c gives a file table of its
 * own: the program's descriptor numbers are never taken, even for a
 * moment, and never closed by us (a shell's `close(1); dup2(f, 1)` could
 * otherwise meet an fd we hold at 1). So a fork child holds none of
 * them: gsp__sampler_forget_after_fork only drops the parent's state.
 * Nothing the handler uses lives in a file table.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/perf_event.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "sampler_int.h"

#define QUEUE_SLOTS 2048u
#define TIMER_TOKEN 0x6773707
#define CPUCLOCK_PERTHREAD_SCHED 6
#define MAX_FD 65536
#define CAP_POLL_MS 5u

static gsp__sample g_queue[QUEUE_SLOTS]; /* the collector's alone */
static uint64_t g_tail, g_head;
static _Atomic uint64_t g_dropped;
static _Atomic int g_active;
static _Atomic int g_open;
static _Atomic unsigned g_depth = 64; /* read by the handler */
static unsigned g_hz = 99;
static bool g_handler_installed;
static gsp__src g_mode;
static _Atomic(struct perf_event_mmap_page *) g_fdpage[MAX_FD];
static _Atomic int g_in_handler;
static bool g_cap_open;      /* the capture queue is mapped */
static int g_fdpage_hi = -1; /* highest g_fdpage index ever set */
static long g_page;
static DIR *g_taskdir; /* /proc/self/task, rewound for each scan */
/* In a fork child: the parent's table, poll set and directory stream,
 * kept reachable (for leak checkers) but never used nor freed here. */
static void *volatile g_parents[3];

typedef enum kind { K_RING, K_SIGNAL, K_TIMER } kind;

typedef struct known_thread {
  pid_t tid;
  kind kind;
  bool seen, hup;
  timer_t timer;  /* K_TIMER */
  int fd;         /* K_SIGNAL */
  void *mm;       /* K_SIGNAL */
  gsp__ring ring; /* K_RING */
} known_thread;

static known_thread *g_known;
static size_t g_nknown, g_known_cap, g_cur;
static struct pollfd *g_pfd;
static size_t g_pfd_cap;
static uint64_t g_threads_total;
static gsp__sample g_scratch; /* collector: a ring's sample on its way to the queue */

/* Weight of the sample this signal stands for; 0 = not ours. *pg: the
 * perf event's buffer when the signal is from one (its records must then
 * be handed back, whatever else happens). */
static uint32_t signal_weight(const siginfo_t *si, void **pg) {
  *pg = NULL;
  if (si->si_code == SI_TIMER)
    return si->si_value.sival_int == TIMER_TOKEN ? 1u + (uint32_t)si->si_overrun : 0;
  if (si->si_fd < 0 || si->si_fd >= MAX_FD) return 0;
  *pg = atomic_load_explicit(&g_fdpage[si->si_fd], memory_order_acquire);
  return *pg ? 1 : 0;
}

static void on_sigprof(int sig, siginfo_t *si, void *uc) {
  (void)sig;
  int saved = errno;
  atomic_fetch_add(&g_in_handler, 1);
  void *pg;
  uint32_t w = signal_weight(si, &pg);
  if (w && atomic_load(&g_active)) {
    uint64_t lost = gsp__cap_take(w, uc, pg);
    if (lost) atomic_fetch_add_explicit(&g_dropped, lost, memory_order_relaxed);
  } /* else a perf buffer is left as it is: disarm takes what it holds */
  atomic_fetch_sub_explicit(&g_in_handler, 1, memory_order_release);
  errno = saved;
}

/* Waits until no handler runs; after g_active was cleared, none will
 * touch a perf page or the capture queue again. */
static void wait_handlers(void) {
  while (atomic_load(&g_in_handler) != 0) sched_yield();
}

/* Not SIGPROF: a program may handle that one itself (GNU sort removes its
 * temporary files and dies on it). Real-time signals low in the range are
 * the C library's and the ones programs pick first; this one is high. */
int gsp_prof_sample_signal(void) { return SIGRTMAX - 7; }

static int install_handler(void) {
  if (g_handler_installed) return GSP_OK;
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_sigaction = on_sigprof;
  sa.sa_flags = SA_SIGINFO | SA_RESTART;
  sigemptyset(&sa.sa_mask);
  if (sigaction(gsp_prof_sample_signal(), &sa, NULL) != 0) return GSP_ESYS;
  g_handler_installed = true;
  return GSP_OK;
}

static void sample_copy(gsp__sample *dst, const gsp__sample *src) {
  dst->weight = src->weight;
  dst->depth = src->depth;
  dst->flags = src->flags;
  memcpy(dst->pcs, src->pcs, src->depth * sizeof src->pcs[0]);
}

/* Pushes a sample the collector holds into its queue (dropped if full). */
static void queue_push(const gsp__sample *src) {
  if (g_tail - g_head == QUEUE_SLOTS) {
    atomic_fetch_add_explicit(&g_dropped, 1, memory_order_relaxed);
    return;
  }
  sample_copy(&g_queue[g_tail++ & (QUEUE_SLOTS - 1)], src);
}

static bool queue_pop(gsp__sample *out) {
  if (g_head == g_tail) return false;
  sample_copy(out, &g_queue[g_head++ & (QUEUE_SLOTS - 1)]);
  return true;
}

/* ---- sources -------------------------------------------------------------- */

static int arm_timer(pid_t tid, timer_t *out) {
  struct sigevent sev;
  memset(&sev, 0, sizeof sev);
  sev.sigev_notify = SIGEV_THREAD_ID;
  sev.sigev_signo = gsp_prof_sample_signal();
  sev.sigev_value.sival_int = TIMER_TOKEN;
  sev._sigev_un._tid = tid;
  clockid_t clk = (clockid_t)((~(unsigned)tid << 3) | CPUCLOCK_PERTHREAD_SCHED);
  if (timer_create(clk, &sev, out) != 0) return GSP_ESYS;
  long period = 1000000000L / (long)g_hz;
  struct itimerspec its = {{period / 1000000000L, period % 1000000000L},
                           {period / 1000000000L, period % 1000000000L}};
  if (timer_settime(*out, 0, &its, NULL) != 0) {
    timer_delete(*out);
    return GSP_ESYS;
  }
  return GSP_OK;
}

static int perf_signal_to(int fd, pid_t tid) {
  struct f_owner_ex own = {F_OWNER_TID, tid};
  if (fcntl(fd, F_SETOWN_EX, &own) != 0 || fcntl(fd, F_SETSIG, gsp_prof_sample_signal()) != 0)
    return GSP_ESYS;
  int fl = fcntl(fd, F_GETFL);
  if (fl < 0 || fcntl(fd, F_SETFL, fl | O_ASYNC | O_NONBLOCK) != 0) return GSP_ESYS;
  return GSP_OK;
}

static int arm_signal(pid_t tid, int *fd_out, void **mm_out) {
  struct perf_event_attr a;
  memset(&a, 0, sizeof a);
  a.size = sizeof a;
  a.type = PERF_TYPE_SOFTWARE;
  a.config = PERF_COUNT_SW_TASK_CLOCK;
  a.sample_period = 1000000000ull / g_hz;
  a.sample_type = PERF_SAMPLE_IP | PERF_SAMPLE_TID | PERF_SAMPLE_CALLCHAIN;
  a.sample_max_stack = (uint16_t)(atomic_load(&g_depth) + 1);
  a.wakeup_events = 1;
  a.disabled = 1;
  a.exclude_kernel = 1;
  a.exclude_hv = 1;
  a.exclude_callchain_kernel = 1;
  int fd = (int)syscall(SYS_perf_event_open, &a, tid, -1, -1, PERF_FLAG_FD_CLOEXEC);
  if (fd < 0 && errno == EOVERFLOW) { /* above kernel.perf_event_max_stack */
    a.sample_max_stack = 0;
    fd = (int)syscall(SYS_perf_event_open, &a, tid, -1, -1, PERF_FLAG_FD_CLOEXEC);
  }
  if (fd < 0) return GSP_ESYS;
  void *mm = fd < MAX_FD ? mmap(NULL, (size_t)g_page * 2, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)
                         : MAP_FAILED;
  if (mm == MAP_FAILED || perf_signal_to(fd, tid) != GSP_OK) {
    if (mm != MAP_FAILED) munmap(mm, (size_t)g_page * 2);
    close(fd);
    return GSP_ESYS;
  }
  if (fd > g_fdpage_hi) g_fdpage_hi = fd;
  atomic_store(&g_fdpage[fd], (struct perf_event_mmap_page *)mm);
  ioctl(fd, PERF_EVENT_IOC_ENABLE, 0);
  *fd_out = fd;
  *mm_out = mm;
  return GSP_OK;
}

/* Reads what is left in a ring into the queue (its thread is gone or
 * sampling stops), so the collector's next drain still sees it. */
static void ring_flush(gsp__ring *r) {
  while (gsp__ring_next(r, &g_scratch)) queue_push(&g_scratch);
  atomic_fetch_add_explicit(&g_dropped, gsp__ring_take_lost(r), memory_order_relaxed);
}

/* The handler may be reading a buffer it found through g_fdpage: clear
 * the entry, wait until no handler runs, then unmap. */
static void disarm(known_thread *k) {
  switch (k->kind) {
    case K_TIMER:
      timer_delete(k->timer);
      return;
    case K_RING:
      gsp__ring_disable(&k->ring);
      ring_flush(&k->ring);
      gsp__ring_close(&k->ring);
      return;
    case K_SIGNAL:
      ioctl(k->fd, PERF_EVENT_IOC_DISABLE, 0);
      if (k->fd < MAX_FD) atomic_store(&g_fdpage[k->fd], NULL);
      wait_handlers();
      /* samples whose signal will now be ignored: kept, without a capture */
      if (g_cap_open) atomic_fetch_add(&g_dropped, gsp__cap_take(1, NULL, k->mm));
      munmap(k->mm, (size_t)g_page * 2);
      close(k->fd);
      return;
  }
}

/* Maps the capture queue on first need (collector thread, before any
 * source that signals is armed). */
static int cap_ensure(void) {
  if (g_cap_open) return GSP_OK;
  if (gsp__cap_open(g_hz) != GSP_OK) return GSP_ESYS;
  g_cap_open = true;
  return GSP_OK;
}

/* Arms the source of the open mode for tid; GSP_ESYS if none could be. */
static int arm(known_thread *k) {
  if (g_mode == GSP__SRC_SIGNAL) {
    k->kind = K_SIGNAL;
    return arm_signal(k->tid, &k->fd, &k->mm);
  }
  if (g_mode == GSP__SRC_RING &&
      gsp__ring_open(&k->ring, k->tid, g_hz, atomic_load(&g_depth)) == GSP_OK) {
    k->kind = K_RING;
    return GSP_OK;
  }
  if (cap_ensure() != GSP_OK) return GSP_ESYS; /* (ring mode: this thread falls back to a timer) */
  k->kind = K_TIMER;
  return arm_timer(k->tid, &k->timer);
}

static gsp__src probe(gsp__src want) {
  known_thread k = {.tid = (pid_t)syscall(SYS_gettid), .fd = -1};
  gsp__src got = GSP__SRC_TIMER;
  if (want == GSP__SRC_RING && gsp__ring_open(&k.ring, k.tid, g_hz, 1) == GSP_OK) {
    gsp__ring_close(&k.ring);
    got = GSP__SRC_RING;
  } else if (want != GSP__SRC_TIMER && arm_signal(k.tid, &k.fd, &k.mm) == GSP_OK) {
    k.kind = K_SIGNAL;
    disarm(&k);
    got = GSP__SRC_SIGNAL;
  }
  return got;
}

static gsp__src choose(bool force_timers) {
  const char *env = getenv("GSP_PROF_SAMPLER");
  gsp__src want = GSP__SRC_RING;
  if (force_timers || (env && strcmp(env, "timer") == 0)) want = GSP__SRC_TIMER;
  if (env && strcmp(env, "signal") == 0 && !force_timers) want = GSP__SRC_SIGNAL;
  return probe(want);
}

int gsp__sampler_prepare(void) { return install_handler(); }

int gsp__sampler_open(unsigned hz, unsigned max_depth, bool force_timers) {
  int expected = 0;
  if (!atomic_compare_exchange_strong(&g_open, &expected, 1)) return GSP_EBUSY;
  g_taskdir = opendir("/proc/self/task");
  if (!g_taskdir) {
    atomic_store(&g_open, 0);
    return GSP_ESYS;
  }
  g_tail = g_head = 0;
  atomic_store(&g_dropped, 0);
  g_hz = hz;
  atomic_store(&g_depth, max_depth);
  g_threads_total = 0;
  g_cur = 0;
  g_page = sysconf(_SC_PAGESIZE);
  int rv = install_handler();
  if (rv != GSP_OK) {
    closedir(g_taskdir);
    g_taskdir = NULL;
    atomic_store(&g_open, 0);
    return rv;
  }
  g_mode = choose(force_timers);
  gsp__unw_remote_begin(); /* else: frame-pointer chains only */
  if (g_mode != GSP__SRC_RING && cap_ensure() != GSP_OK) {
    gsp__sampler_close();
    return GSP_ESYS;
  }
  atomic_store(&g_active, 1);
  return GSP_OK;
}

bool gsp__sampler_uses_perf(void) { return g_mode == GSP__SRC_RING || g_mode == GSP__SRC_SIGNAL; }
gsp__src gsp__sampler_mode(void) { return g_mode; }

void gsp__sampler_close(void) {
  atomic_store(&g_active, 0);
  for (size_t i = 0; i < g_nknown; i++) disarm(&g_known[i]);
  wait_handlers();
  /* what is still captured goes to the other queue, drained after this */
  while (g_cap_open && gsp__cap_pop(&g_scratch, atomic_load(&g_depth))) queue_push(&g_scratch);
  if (g_cap_open) gsp__cap_close();
  g_cap_open = false;
  gsp_free(g_known);
  gsp_free(g_pfd);
  g_known = NULL;
  g_pfd = NULL;
  g_nknown = g_known_cap = g_pfd_cap = 0;
  gsp__unw_remote_end();
  closedir(g_taskdir);
  g_taskdir = NULL;
  g_mode = GSP__SRC_NONE;
  atomic_store(&g_open, 0);
}

/* ---- threads -------------------------------------------------------------- */

static known_thread *find_known(pid_t tid) {
  for (size_t i = 0; i < g_nknown; i++)
    if (g_known[i].tid == tid) return &g_known[i];
  return NULL;
}

static int add_known(pid_t tid) {
  if (g_nknown == g_known_cap) {
    size_t cap = g_known_cap ? g_known_cap * 2 : 16;
    known_thread *k = gsp_realloc(g_known, cap * sizeof *k);
    if (!k) return GSP_ENOMEM;
    g_known = k;
    g_known_cap = cap;
  }
  known_thread k = {.tid = tid, .seen = true, .fd = -1};
  /* A thread that exited since the listing cannot be armed: not an error. */
  if (arm(&k) != GSP_OK) return 0;
  g_known[g_nknown++] = k;
  g_threads_total++;
  return 1;
}

static void drop_unseen(void) {
  size_t j = 0;
  for (size_t i = 0; i < g_nknown; i++) {
    if (g_known[i].seen) {
      g_known[j++] = g_known[i];
    } else {
      disarm(&g_known[i]);
    }
  }
  g_nknown = j;
}

int gsp__sampler_scan_threads(pid_t self_tid) {
  DIR *d = g_taskdir;
  if (!d) return GSP_ESYS;
  rewinddir(d);
  for (size_t i = 0; i < g_nknown; i++) g_known[i].seen = false;
  int added = 0, rv = 0;
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    char *end;
    long tid = strtol(e->d_name, &end, 10);
    if (*end != '\0' || tid <= 0 || tid == self_tid) continue;
    known_thread *k = find_known((pid_t)tid);
    if (k) {
      k->seen = true;
    } else if ((rv = add_known((pid_t)tid)) < 0) {
      break;
    } else {
      added += rv;
    }
  }
  drop_unseen();
  gsp__unw_remote_refresh();
  return rv < 0 ? rv : added;
}

static size_t poll_set(void) {
  size_t n = 0;
  if (g_mode == GSP__SRC_RING && 2 * g_nknown > g_pfd_cap) {
    struct pollfd *p = gsp_realloc(g_pfd, 2 * g_nknown * sizeof *p);
    if (p) {
      g_pfd = p;
      g_pfd_cap = 2 * g_nknown;
    }
  }
  for (size_t i = 0; g_mode == GSP__SRC_RING && i < g_nknown && n + 2 <= g_pfd_cap; i++) {
    known_thread *k = &g_known[i];
    if (k->kind != K_RING || k->hup) continue;
    g_pfd[n++] = (struct pollfd){.fd = k->ring.fd, .events = POLLIN};
    g_pfd[n++] = (struct pollfd){.fd = k->ring.wfd, .events = POLLIN}; /* -1: ignored */
  }
  return n;
}

/* Sleeps ms in steps of CAP_POLL_MS, returning early when the capture
 * queue is a quarter full (the handler cannot wake anyone: that would be
 * a system call more). */
static void cap_wait(unsigned ms) {
  for (unsigned slept = 0; slept < ms; slept += CAP_POLL_MS) {
    unsigned step = ms - slept < CAP_POLL_MS ? ms - slept : CAP_POLL_MS;
    struct timespec ts = {step / 1000, (long)(step % 1000) * 1000000L};
    nanosleep(&ts, NULL);
    if (g_cap_open && gsp__cap_fill() >= gsp__cap_slots() / 4) return;
  }
}

/* Sleeps ms; in ring mode wakes early when a ring is half full or a
 * thread was created or exited (the collector then scans at once). A ring
 * whose thread has exited polls as hung up for good: it is left out until
 * the next scan drops it. */
void gsp__sampler_wait(unsigned ms) {
  size_t n = poll_set();
  if (n == 0) {
    cap_wait(ms);
    return;
  }
  if (poll(g_pfd, n, (int)ms) <= 0) return;
  for (size_t i = 0, j = 0; i < g_nknown && j < n; i++) {
    known_thread *k = &g_known[i];
    if (k->kind != K_RING || k->hup) continue;
    short rv = g_pfd[j].revents | g_pfd[j + 1].revents;
    if (rv & (POLLHUP | POLLERR)) k->hup = true;
    if (g_pfd[j + 1].revents & POLLIN) gsp__ring_watch_reset(&k->ring);
    j += 2;
  }
}

bool gsp__sampler_pop(gsp__sample *out) {
  if (queue_pop(out)) return true;
  if (g_cap_open && gsp__cap_pop(out, atomic_load(&g_depth))) return true;
  for (size_t n = 0; n < g_nknown; n++, g_cur++) {
    known_thread *k = &g_known[g_cur % g_nknown];
    if (k->kind != K_RING) continue;
    bool got = gsp__ring_next(&k->ring, out);
    atomic_fetch_add_explicit(&g_dropped, gsp__ring_take_lost(&k->ring), memory_order_relaxed);
    if (got) return true;
  }
  return false;
}

uint64_t gsp__sampler_dropped(void) { return atomic_load(&g_dropped); }
uint64_t gsp__sampler_threads(void) { return g_threads_total; }

void gsp__sampler_forget_after_fork(void) {
  /* The child has no timers (they are per process), no ring or signal
   * mappings (perf mappings are not copied), no collector and none of
   * the collector's file descriptors (they were in its own table; the
   * child copied the forking thread's). Nothing is closed: a number from
   * the parent's table may name one of the child's own files. The
   * parent's array and directory stream may have been in the middle of
   * an update: they are dropped without being read or freed. */
  atomic_store(&g_active, 0);
  for (int fd = 0; fd <= g_fdpage_hi && fd < MAX_FD; fd++) atomic_store(&g_fdpage[fd], NULL);
  g_fdpage_hi = -1;
  g_parents[0] = g_known;
  g_parents[1] = g_pfd;
  g_parents[2] = g_taskdir;
  g_known = NULL;
  g_pfd = NULL;
  g_taskdir = NULL;
  g_nknown = g_known_cap = g_pfd_cap = 0;
  gsp__unw_remote_forget();
  if (g_cap_open) gsp__cap_forget();
  g_cap_open = false;
  g_mode = GSP__SRC_NONE;
  atomic_store(&g_open, 0);
}
