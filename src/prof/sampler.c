/*
 * sampler.c - CPU sampling: per-thread CPU-time sampling sources, the
 * SIGPROF handler, and the lock-free ring between the handler and the
 * collector.
 *
 * Sources. Preferred: a perf event per thread on the software task-clock
 * (the thread's CPU time; hrtimer-driven, so 997 Hz gives 997 samples per
 * CPU-second), with a one-page ring buffer and wakeup_events = 1, and the
 * fd set to send SIGPROF to that thread (F_SETOWN_EX F_OWNER_TID,
 * F_SETSIG, O_ASYNC) on every sample. The handler finds the event's
 * buffer from si_fd (g_fdpage, indexed by fd) and marks the buffer read
 * (data_tail = data_head: two plain memory accesses, no syscall), so the
 * next sample has room and signals again. Fallback, where perf events
 * are not allowed: POSIX CPU-time timers, below; those are checked on the
 * scheduler tick (250 Hz here), so above 250 Hz a signal stands for
 * several periods, which the kernel reports in si_overrun: each sample
 * carries weight 1 + si_overrun, so times stay right, but the effective
 * rate is capped by the tick.
 *
 * Timers. Each thread gets a POSIX timer on its own CPU-time clock (the
 * clock id of thread `tid` is (~tid << 3) | CPUCLOCK_PERTHREAD |
 * CPUCLOCK_SCHED, the encoding pthread_getcpuclockid uses) that delivers
 * SIGPROF to that very thread (SIGEV_THREAD_ID) every 1/hz seconds of CPU
 * the thread burns. Unlike setitimer(ITIMER_PROF), whose expiry is checked
 * on the scheduler tick (250 Hz here), these are hrtimer-driven, so 1 kHz
 * really is 1 kHz, and each sample stands for the same CPU time. The
 * collector thread calls gsp__sampler_scan_threads every few milliseconds:
 * it lists /proc/self/task, arms a timer for each new tid and deletes the
 * timers of tids that are gone (known tids in a small array, collector
 * thread only).
 *
 * Handler. It only captures: libunwind's unw_backtrace from the handler
 * walks through the signal frame with DWARF CFI rules cached per IP, so a
 * leaf function without a frame pointer (gcc omits it) still yields its
 * caller; the frames above the interrupted pc are dropped. Should the
 * interrupted pc not be found, a cursor started from the signal context
 * (unw_init_local2 with UNW_INIT_SIGNAL_FRAME) walks instead. libunwind runs with the per-thread
 * cache policy, which takes no lock and does not allocate; it does read
 * the loaded objects through dl_iterate_phdr, whose lock is recursive (a
 * sample taken inside the dynamic loader on the same thread does not
 * deadlock). No other call is made. The handler keeps errno, ignores
 * signals that are not from our timers (si_code != SI_TIMER), and does
 * nothing once sampling is switched off (the handler stays installed for
 * the life of the process, so a late signal never meets SIG_DFL).
 *
 * Ring. A bounded multi-producer queue (Vyukov's: a sequence number per
 * slot) of RING_SLOTS samples in static memory. A producer claims a slot
 * with one CAS on the tail, unwinds straight into it and publishes it with
 * a release store of its sequence; a full ring drops the sample (counted).
 * The one consumer (the collector) reads slots in order and hands them
 * back with a release store. Invariant: slot i's seq is pos+1 when it holds
 * the sample for position pos, pos+RING_SLOTS when free for that position.
 */
#define _GNU_SOURCE
#define UNW_LOCAL_ONLY
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libunwind.h>
#include <linux/perf_event.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "prof_int.h"

#define RING_SLOTS 2048u
#define TIMER_TOKEN 0x6773707
#define CPUCLOCK_PERTHREAD_SCHED 6
#define MAX_FD 65536

static gsp__sample g_ring[RING_SLOTS];
static _Atomic uint64_t g_tail;
static uint64_t g_head;
static _Atomic uint64_t g_dropped;
static _Atomic int g_active;
static _Atomic int g_open;
static _Atomic unsigned g_depth = 64; /* read by the handler */
static unsigned g_hz = 99;
static bool g_handler_installed;
static bool g_perf; /* sources are perf events (else POSIX timers) */
static _Atomic(struct perf_event_mmap_page *) g_fdpage[MAX_FD];
static _Atomic int g_in_handler;
static long g_page;

typedef struct known_thread {
  pid_t tid;
  timer_t timer;
  int fd; /* perf event, -1 with timers */
  void *mm;
  bool seen;
} known_thread;

static known_thread *g_known;
static size_t g_nknown, g_known_cap;
static uint64_t g_threads_total;

static gsp__sample *claim_slot(void) {
  uint64_t pos = atomic_load_explicit(&g_tail, memory_order_relaxed);
  for (;;) {
    gsp__sample *s = &g_ring[pos & (RING_SLOTS - 1)];
    uint64_t seq = atomic_load_explicit(&s->seq, memory_order_acquire);
    int64_t diff = (int64_t)(seq - pos);
    if (diff == 0) {
      if (atomic_compare_exchange_weak_explicit(&g_tail, &pos, pos + 1, memory_order_relaxed,
                                                memory_order_relaxed))
        return s;
    } else if (diff < 0) {
      return NULL;
    } else {
      pos = atomic_load_explicit(&g_tail, memory_order_relaxed);
    }
  }
}

/* The slow, general path: libunwind's cursor from the signal context. */
static uint32_t capture_cursor(gsp__sample *s, void *uc, uint32_t max) {
  unw_cursor_t cur;
  uint32_t n = 0;
  if (unw_init_local2(&cur, (unw_context_t *)uc, UNW_INIT_SIGNAL_FRAME) < 0) {
    s->flags = GSP__SAMPLE_BAD_UNWIND;
    return 0;
  }
  int r = 0;
  do {
    unw_word_t ip = 0;
    if (unw_get_reg(&cur, UNW_REG_IP, &ip) < 0 || ip == 0) break;
    s->pcs[n++] = ip;
  } while (n < max && (r = unw_step(&cur)) > 0);
  if (n < max && r < 0) s->flags = GSP__SAMPLE_BAD_UNWIND;
  return n;
}

/* The fast path: unw_backtrace (libunwind's cached per-IP frame rules,
 * about 50 ns for 14 frames here against 8 us for a cursor walk) from
 * the handler itself, through the signal frame; the frames above the
 * interrupted pc (the handler's own) are dropped. 0 when the interrupted
 * pc is not among the first frames (then the cursor path runs). */
static uint32_t capture_fast(gsp__sample *s, uint64_t rip, uint32_t max) {
  void *buf[GSP__PROF_MAX_DEPTH + 8];
  int n = unw_backtrace(buf, (int)max + 8);
  int first = -1;
  for (int i = 0; i < n && i < 8 && first < 0; i++)
    if ((uint64_t)(uintptr_t)buf[i] == rip) first = i;
  if (first < 0) return 0;
  uint32_t k = 0;
  for (int i = first; i < n && k < max; i++) s->pcs[k++] = (uint64_t)(uintptr_t)buf[i];
  return k;
}

/* ThreadSanitizer defers signals to a safe point, where the thread has
 * run on from the context the kernel saved, inside TSan's runtime: no
 * walk from there is right (and libunwind's can fault), so under TSan a
 * sample is the saved pc alone. */
#if defined(__SANITIZE_THREAD__)
static const bool k_unwind = false;
#else
static const bool k_unwind = true;
#endif

static void capture(gsp__sample *s, void *uc) {
  uint32_t max = atomic_load_explicit(&g_depth, memory_order_relaxed);
  uint64_t rip = (uint64_t)((ucontext_t *)uc)->uc_mcontext.gregs[REG_RIP];
  s->flags = 0;
  uint32_t n = k_unwind ? capture_fast(s, rip, max) : 0;
  if (n == 0 && k_unwind) n = capture_cursor(s, uc, max);
  if (n == 0) s->pcs[n++] = rip;
  s->depth = n;
}

/* Weight of the sample this signal stands for; 0 = not ours. */
static uint32_t signal_weight(const siginfo_t *si) {
  if (si->si_code == SI_TIMER)
    return si->si_value.sival_int == TIMER_TOKEN ? 1u + (uint32_t)si->si_overrun : 0;
  if (si->si_fd < 0 || si->si_fd >= MAX_FD) return 0;
  struct perf_event_mmap_page *pg =
      atomic_load_explicit(&g_fdpage[si->si_fd], memory_order_acquire);
  if (!pg) return 0;
  uint64_t head = __atomic_load_n(&pg->data_head, __ATOMIC_ACQUIRE);
  __atomic_store_n(&pg->data_tail, head, __ATOMIC_RELEASE);
  return 1;
}

static void on_sigprof(int sig, siginfo_t *si, void *uc) {
  (void)sig;
  int saved = errno;
  atomic_fetch_add_explicit(&g_in_handler, 1, memory_order_acquire);
  uint32_t w = signal_weight(si);
  if (w && atomic_load_explicit(&g_active, memory_order_relaxed)) {
    gsp__sample *s = claim_slot();
    if (!s) {
      atomic_fetch_add_explicit(&g_dropped, 1, memory_order_relaxed);
    } else {
      uint64_t pos = atomic_load_explicit(&s->seq, memory_order_relaxed);
      capture(s, uc);
      s->weight = w;
      atomic_store_explicit(&s->seq, pos + 1, memory_order_release);
    }
  }
  atomic_fetch_sub_explicit(&g_in_handler, 1, memory_order_release);
  errno = saved;
}

static int install_handler(void) {
  if (g_handler_installed) return GSP_OK;
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_sigaction = on_sigprof;
  sa.sa_flags = SA_SIGINFO | SA_RESTART;
  sigemptyset(&sa.sa_mask);
  if (sigaction(SIGPROF, &sa, NULL) != 0) return GSP_ESYS;
  g_handler_installed = true;
  return GSP_OK;
}

static int arm_perf(pid_t tid, int *fd_out, void **mm_out);
static void disarm(known_thread *k);

/* Perf events work here if one can be opened for the calling thread. */
static bool perf_works(void) {
  int fd;
  void *mm;
  if (arm_perf((pid_t)syscall(SYS_gettid), &fd, &mm) != GSP_OK) return false;
  known_thread k = {0, 0, fd, mm, false};
  disarm(&k);
  return true;
}

int gsp__sampler_open(unsigned hz, unsigned max_depth, bool force_timers) {
  int expected = 0;
  if (!atomic_compare_exchange_strong(&g_open, &expected, 1)) return GSP_EBUSY;
  for (uint32_t i = 0; i < RING_SLOTS; i++) atomic_store(&g_ring[i].seq, i);
  atomic_store(&g_tail, 0);
  g_head = 0;
  atomic_store(&g_dropped, 0);
  g_hz = hz;
  atomic_store(&g_depth, max_depth);
  g_threads_total = 0;
  unw_set_caching_policy(unw_local_addr_space, UNW_CACHE_PER_THREAD);
  g_page = sysconf(_SC_PAGESIZE);
  int rv = install_handler();
  if (rv != GSP_OK) {
    atomic_store(&g_open, 0);
    return rv;
  }
  g_perf = !force_timers && perf_works();
  atomic_store(&g_active, 1);
  return GSP_OK;
}

bool gsp__sampler_uses_perf(void) { return g_perf; }

/* The handler may be reading a buffer it found through g_fdpage: clear
 * the entry, wait until no handler runs, then unmap. */
static void disarm(known_thread *k) {
  if (k->fd < 0) {
    timer_delete(k->timer);
    return;
  }
  ioctl(k->fd, PERF_EVENT_IOC_DISABLE, 0);
  if (k->fd < MAX_FD) atomic_store(&g_fdpage[k->fd], NULL);
  while (atomic_load(&g_in_handler) != 0) sched_yield();
  munmap(k->mm, (size_t)g_page * 2);
  close(k->fd);
}

void gsp__sampler_close(void) {
  atomic_store(&g_active, 0);
  for (size_t i = 0; i < g_nknown; i++) disarm(&g_known[i]);
  gsp_free(g_known);
  g_known = NULL;
  g_nknown = g_known_cap = 0;
  atomic_store(&g_open, 0);
}

static int arm_timer(pid_t tid, timer_t *out) {
  struct sigevent sev;
  memset(&sev, 0, sizeof sev);
  sev.sigev_notify = SIGEV_THREAD_ID;
  sev.sigev_signo = SIGPROF;
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
  if (fcntl(fd, F_SETOWN_EX, &own) != 0 || fcntl(fd, F_SETSIG, SIGPROF) != 0) return GSP_ESYS;
  int fl = fcntl(fd, F_GETFL);
  if (fl < 0 || fcntl(fd, F_SETFL, fl | O_ASYNC | O_NONBLOCK) != 0) return GSP_ESYS;
  return GSP_OK;
}

static int arm_perf(pid_t tid, int *fd_out, void **mm_out) {
  struct perf_event_attr a;
  memset(&a, 0, sizeof a);
  a.size = sizeof a;
  a.type = PERF_TYPE_SOFTWARE;
  a.config = PERF_COUNT_SW_TASK_CLOCK;
  a.sample_period = 1000000000ull / g_hz;
  a.sample_type = PERF_SAMPLE_TID;
  a.wakeup_events = 1;
  a.disabled = 1;
  a.exclude_kernel = 1;
  a.exclude_hv = 1;
  int fd = (int)syscall(SYS_perf_event_open, &a, tid, -1, -1, PERF_FLAG_FD_CLOEXEC);
  if (fd < 0) return GSP_ESYS;
  void *mm = fd < MAX_FD ? mmap(NULL, (size_t)g_page * 2, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)
                         : MAP_FAILED;
  if (mm == MAP_FAILED || perf_signal_to(fd, tid) != GSP_OK) {
    if (mm != MAP_FAILED) munmap(mm, (size_t)g_page * 2);
    close(fd);
    return GSP_ESYS;
  }
  atomic_store(&g_fdpage[fd], (struct perf_event_mmap_page *)mm);
  ioctl(fd, PERF_EVENT_IOC_ENABLE, 0);
  *fd_out = fd;
  *mm_out = mm;
  return GSP_OK;
}

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
  known_thread k = {tid, 0, -1, NULL, true};
  /* A thread that exited since the listing cannot be armed: not an error. */
  int rv = g_perf ? arm_perf(tid, &k.fd, &k.mm) : arm_timer(tid, &k.timer);
  if (rv != GSP_OK) return 0;
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
  DIR *d = opendir("/proc/self/task");
  if (!d) return GSP_ESYS;
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
  closedir(d);
  drop_unseen();
  return rv < 0 ? rv : added;
}

bool gsp__sampler_pop(gsp__sample *out) {
  gsp__sample *s = &g_ring[g_head & (RING_SLOTS - 1)];
  uint64_t seq = atomic_load_explicit(&s->seq, memory_order_acquire);
  if (seq != g_head + 1) return false;
  out->weight = s->weight;
  out->depth = s->depth;
  out->flags = s->flags;
  memcpy(out->pcs, s->pcs, s->depth * sizeof s->pcs[0]);
  atomic_store_explicit(&s->seq, g_head + RING_SLOTS, memory_order_release);
  g_head++;
  return true;
}

uint64_t gsp__sampler_dropped(void) { return atomic_load(&g_dropped); }
uint64_t gsp__sampler_threads(void) { return g_threads_total; }

void gsp__sampler_forget_after_fork(void) {
  /* The child has no timers and no collector: drop the parent's state
   * without touching its timers (timer ids are per process). */
  atomic_store(&g_active, 0);
  g_known = NULL;
  g_nknown = g_known_cap = 0;
  atomic_store(&g_open, 0);
}
