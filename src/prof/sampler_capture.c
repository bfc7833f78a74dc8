/*
 * sampler_capture.c - what the sampling signal's handler does in the signal and
 * timer sources, and how the collector turns it into a call stack.
 *
 * The handler only captures. It copies the interrupted thread's ip, sp
 * and bp from the signal context, and a window of CAP_WINDOW bytes of its
 * stack from sp upwards, into a slot of a queue mapped before sampling
 * starts (the timer and perf signal sources); the collector thread later
 * walks that copy as the perf ring's samples are walked (sampler_unwind.c: the frame-pointer chain
 * found in the copy, spliced with a DWARF unwind of the same copy). No unwinder runs in the sampled
 * thread: no lock, no allocation, no thread-local storage, and one system call, process_vm_readv on
 * our own pid, which copies the window and stops at the first page that is not mapped (the top of a
 * thread's stack is often less than a window above sp), where a plain read would fault. The remote
 * ranges are cut at page boundaries, so the count returned is exactly the readable part even on a
 * kernel that does not split an iovec. Where the call is refused (a seccomp filter) the sample is
 * the pc alone.
 *
 * On the perf signal source a sample is the kernel's: the handler reads
 * every sample record of the event's one-page buffer (the signal may
 * come late, after the thread moved on, with several records waiting, or
 * find none that an earlier handler took) into a slot each, weight 1,
 * with the record's ip and chain. The context goes with the last record
 * only when its ip is the record's, and the collector keeps the copy
 * only when the frame-pointer chain found in it agrees with the kernel's
 * (copy_agrees): a sample is never moved to where the thread was at
 * delivery. Samples whose context was left out count in g_late. A page
 * whose first record is another thread's (a stale signal naming a reused
 * fd number) is left for that thread; without a context (the drain when
 * an event closes) the page is taken whoever's it is.
 *
 * Window size, measured (docs/prof.md, "Signal and timer sources"): the
 * whole DWARF walk of the samples of the programs tried needed under
 * 2 KiB of stack; the copy costs about 2.3 us for 2 KiB and 7.5 us for
 * 16 KiB here (a page pinned per 4 KiB). With the kernel's chain (the
 * perf signal source), which gives the frames above the copy, the window
 * is 4 KiB; without (the timer source, whose signals come at most at the
 * 250 Hz tick) 16 KiB, and deeper stacks end at the window (flagged
 * GSP__SAMPLE_BAD_UNWIND when no outermost frame was reached).
 *
 * Queue: Vyukov's bounded multi-producer, single-consumer queue (a
 * sequence number per slot, one CAS on the tail to claim a slot, a
 * release store of its seq to publish it), slots in an anonymous mapping
 * made by gsp__cap_open (collector thread), published to the handler by
 * a release store of g_live, and unmapped by gsp__cap_close only after
 * the caller has stopped the handler from claiming slots and waited for
 * handlers in flight. Invariant: slot i's seq is pos + 1 when
 * it holds the sample for position pos, pos + nslots when free for it.
 * A full queue drops the sample (the caller counts it).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/perf_event.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <ucontext.h>
#include <unistd.h>

#include "sampler_int.h"

#define CAP_WINDOW 16384u
#define CAP_WINDOW_CHAINED 4096u /* with the kernel's chain for the frames above */
#define CAP_PAGE 4096u /* the smallest page: ranges cut here are cut at any page size's bound */
#define CAP_IOV (CAP_WINDOW / CAP_PAGE + 1u)
#define CAP_MIN_SLOTS 64u
#define CAP_MAX_SLOTS 1024u

typedef struct cap_slot {
  _Atomic uint64_t seq;
  uint32_t weight;
  uint32_t len; /* bytes of stack copied */
  uint32_t nk;  /* entries in kc: the kernel's chain (signal source), 0 if none */
  uint64_t ip, sp, bp;
  uint64_t kc[GSP__PROF_MAX_DEPTH + 1];
  unsigned char stack[CAP_WINDOW];
} cap_slot;

static cap_slot *g_slots;
static _Atomic(cap_slot *) g_live; /* g_slots once set up, for the handler; NULL when closed */
static size_t g_map_len;
static uint32_t g_nslots; /* a power of two */
static _Atomic uint64_t g_tail;
static uint64_t g_head;
static pid_t g_pid; /* ours, for process_vm_readv (set at open: a fork child opens again) */
static _Atomic int g_readv_ok = 1;
static _Atomic uint64_t g_late; /* perf samples whose capture was not the sample's */

/* ThreadSanitizer runs a handler at a later safe point, where the stack
 * has moved on from the saved context: under it a sample is the pc. */
#if defined(__SANITIZE_THREAD__)
static const bool k_copy_stack = false;
#else
static const bool k_copy_stack = true;
#endif

/* Slots for about 50 ms of samples of every CPU at hz, twice over. */
static uint32_t slots_for(unsigned hz) {
  long cpus = sysconf(_SC_NPROCESSORS_ONLN);
  uint64_t want = 2u * (uint64_t)(cpus > 0 ? cpus : 1) * (hz / 20u + 1u);
  uint32_t n = CAP_MIN_SLOTS;
  while (n < want && n < CAP_MAX_SLOTS) n *= 2;
  return n;
}

int gsp__cap_open(unsigned hz) {
  uint32_t n = slots_for(hz);
  size_t len = (size_t)n * sizeof(cap_slot);
  void *mm = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (mm == MAP_FAILED) return GSP_ESYS;
  g_slots = mm;
  g_map_len = len;
  g_nslots = n;
  for (uint32_t i = 0; i < n; i++) atomic_store_explicit(&g_slots[i].seq, i, memory_order_relaxed);
  atomic_store(&g_tail, 0);
  g_head = 0;
  g_pid = getpid();
  atomic_store(&g_readv_ok, 1);
  atomic_store(&g_late, 0);
  atomic_store_explicit(&g_live, g_slots, memory_order_release);
  return GSP_OK;
}

void gsp__cap_close(void) {
  atomic_store(&g_live, NULL);
  if (g_slots) munmap(g_slots, g_map_len);
  g_slots = NULL;
  g_nslots = 0;
}

void gsp__cap_forget(void) {
  gsp__cap_close(); /* the child's own copy of the mapping: no handler uses it */
}

/* A free slot, claimed; NULL when the queue is full or not set up (a
 * timer's signal still pending from an earlier profile). */
static cap_slot *claim(void) {
  cap_slot *slots = atomic_load_explicit(&g_live, memory_order_acquire);
  if (!slots) return NULL;
  uint64_t pos = atomic_load_explicit(&g_tail, memory_order_relaxed);
  for (;;) {
    cap_slot *s = &slots[pos & (g_nslots - 1)];
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

/* Copies up to want (<= CAP_WINDOW) bytes from sp into dst; the bytes
 * copied. */
static uint32_t copy_window(uint64_t sp, unsigned char *dst, uint32_t want) {
  struct iovec remote[CAP_IOV];
  unsigned n = 0;
  for (uint64_t at = sp, end = sp + want; at < end && n < CAP_IOV; n++) {
    uint64_t next = (at | (CAP_PAGE - 1)) + 1;
    if (next > end) next = end;
    void *base = (void *)(uintptr_t)at; /* NOLINT(performance-no-int-to-ptr) */
    remote[n] = (struct iovec){base, (size_t)(next - at)};
    at = next;
  }
  struct iovec local = {dst, want};
  ssize_t got = process_vm_readv(g_pid, &local, 1, remote, n, 0);
  if (got < 0 && errno != EFAULT) atomic_store_explicit(&g_readv_ok, 0, memory_order_relaxed);
  return got > 0 ? (uint32_t)got : 0;
}

/* 8 bytes at ring offset off (which may wrap) of a data area of size
 * bytes (a power of two). */
static uint64_t ring_u64(const unsigned char *data, uint64_t size, uint64_t off) {
  uint64_t v;
  unsigned char *d = (unsigned char *)&v;
  for (unsigned i = 0; i < 8; i++) d[i] = data[(off + i) & (size - 1)];
  return v;
}

/* The records of a perf page not yet handed back: data_tail to head. */
typedef struct page_view {
  const unsigned char *data;
  uint64_t size, head, tail;
} page_view;

static bool page_open(struct perf_event_mmap_page *pg, page_view *v) {
  v->data = (const unsigned char *)pg + pg->data_offset;
  v->size = pg->data_size;
  v->head = __atomic_load_n(&pg->data_head, __ATOMIC_ACQUIRE);
  v->tail = pg->data_tail;
  return v->size && (v->size & (v->size - 1)) == 0 && v->head - v->tail <= v->size;
}

/* The record at v->tail: its type and size (0 when none or malformed). */
static uint32_t page_peek(const page_view *v, uint32_t *type) {
  if (v->head - v->tail < 8) return 0;
  uint64_t h = ring_u64(v->data, v->size, v->tail);
  uint32_t rsize = (uint16_t)(h >> 48);
  *type = (uint32_t)h;
  return rsize >= 8 && rsize <= v->head - v->tail ? rsize : 0;
}

/* The sample record at off, rsize bytes (PERF_SAMPLE_IP | TID |
 * CALLCHAIN: header, ip, pid/tid, nr, ips[nr]): its ip into *ip and its
 * chain, without the kernel's context markers, into kc (at most max);
 * returns the chain's length. Every length is checked against the
 * record's size. */
static uint32_t rec_chain(const page_view *v, uint64_t off, uint32_t rsize, uint64_t *ip,
                          uint64_t *kc, uint32_t max) {
  *ip = ring_u64(v->data, v->size, off + 8);
  if (rsize < 32) return 0;
  uint64_t nr = ring_u64(v->data, v->size, off + 24);
  if (nr > (rsize - 32u) / 8u) return 0;
  uint32_t nk = 0;
  for (uint64_t i = 0; i < nr && nk < max; i++) {
    uint64_t pc = ring_u64(v->data, v->size, off + 32 + 8 * i);
    if (pc >= (uint64_t)PERF_CONTEXT_MAX) continue;
    if (pc == 0) break;
    kc[nk++] = pc;
  }
  return nk;
}

/* Offset of the last sample record before v->head (v->head if none);
 * adds the samples the kernel reports lost (PERF_RECORD_LOST: header,
 * id, lost) to *lost. */
static uint64_t page_last_sample(page_view v, uint64_t *lost) {
  uint64_t last = v.head;
  uint32_t type, rsize;
  while ((rsize = page_peek(&v, &type)) != 0) {
    if (type == PERF_RECORD_SAMPLE) last = v.tail;
    if (type == PERF_RECORD_LOST && rsize >= 24) *lost += ring_u64(v.data, v.size, v.tail + 16);
    v.tail += rsize;
  }
  return last;
}

static void page_release(void *pg) {
  struct perf_event_mmap_page *p = pg;
  __atomic_store_n(&p->data_tail, __atomic_load_n(&p->data_head, __ATOMIC_ACQUIRE),
                   __ATOMIC_RELEASE);
}

/* The context's registers and stack into s, a sample taken now. */
static void take_context(cap_slot *s, const ucontext_t *uc, uint32_t want) {
  s->ip = (uint64_t)uc->uc_mcontext.gregs[REG_RIP];
  s->sp = (uint64_t)uc->uc_mcontext.gregs[REG_RSP];
  s->bp = (uint64_t)uc->uc_mcontext.gregs[REG_RBP];
  s->len = 0;
  if (k_copy_stack && atomic_load_explicit(&g_readv_ok, memory_order_relaxed))
    s->len = copy_window(s->sp, s->stack, want);
}

static void publish(cap_slot *s, uint64_t pos) {
  atomic_store_explicit(&s->seq, pos + 1, memory_order_release);
}

/* Whether the first sample record of the page is of the calling thread
 * (its pid/tid word, after the header and the ip): a queued signal that
 * outlived its event may name an fd number that now belongs to another
 * thread's event, whose records that thread's own signal takes. */
static bool page_ours(page_view v) {
  uint32_t type, rsize;
  for (; (rsize = page_peek(&v, &type)) != 0; v.tail += rsize)
    if (type == PERF_RECORD_SAMPLE && rsize >= 24)
      return (pid_t)(ring_u64(v.data, v.size, v.tail + 16) >> 32) == (pid_t)syscall(SYS_gettid);
  return true; /* no sample: nothing to take */
}

/* One slot per sample record of the page, weight 1 each, the record's
 * ip and chain; the context uc is copied into the last record's slot
 * only when the record's ip is uc's (the thread has not moved on since).
 * Hands the records read back; returns the samples lost (queue full, or
 * reported lost by the kernel). */
static uint64_t take_page(const ucontext_t *uc, struct perf_event_mmap_page *pg) {
  page_view v;
  uint64_t lost = 0;
  if (!page_open(pg, &v)) {
    page_release(pg);
    return 0;
  }
  if (uc && !page_ours(v)) return 0; /* a stale signal: left for its thread */
  uint64_t last = page_last_sample(v, &lost), rip = 0;
  if (uc) rip = (uint64_t)uc->uc_mcontext.gregs[REG_RIP];
  uint32_t type, rsize;
  for (; (rsize = page_peek(&v, &type)) != 0; v.tail += rsize) {
    if (type != PERF_RECORD_SAMPLE || rsize < 24) continue; /* header, ip, pid/tid at least */
    cap_slot *s = claim();
    if (!s) {
      lost++;
      continue;
    }
    uint64_t pos = atomic_load_explicit(&s->seq, memory_order_relaxed), ip;
    s->weight = 1;
    s->nk = rec_chain(&v, v.tail, rsize, &ip, s->kc, GSP__PROF_MAX_DEPTH + 1);
    s->ip = ip;
    s->sp = s->bp = 0;
    s->len = 0;
    if (v.tail == last && uc && ip == rip) {
      take_context(s, uc, s->nk ? CAP_WINDOW_CHAINED : CAP_WINDOW);
    } else if (v.tail == last && uc) {
      atomic_fetch_add_explicit(&g_late, 1, memory_order_relaxed);
    }
    publish(s, pos);
  }
  __atomic_store_n(&pg->data_tail, v.head, __ATOMIC_RELEASE);
  return lost;
}

uint64_t gsp__cap_take(uint32_t weight, const void *ucv, void *pg) {
  if (pg) return take_page(ucv, pg);
  cap_slot *s = claim();
  if (!s) return weight;
  uint64_t pos = atomic_load_explicit(&s->seq, memory_order_relaxed);
  s->weight = weight;
  s->nk = 0;
  take_context(s, ucv, CAP_WINDOW);
  publish(s, pos);
  return 0;
}

uint64_t gsp__cap_late(void) { return atomic_load_explicit(&g_late, memory_order_relaxed); }

uint32_t gsp__cap_fill(void) {
  if (!g_slots) return 0;
  uint64_t tail = atomic_load_explicit(&g_tail, memory_order_relaxed);
  return tail > g_head ? (uint32_t)(tail - g_head) : 0;
}

uint32_t gsp__cap_slots(void) { return g_nslots; }

/* Whether the copy in u is of the stack the kernel's chain kc[0..nk) was
 * taken from: the frame-pointer chain found in the copy agrees with kc
 * as far as both go (the handler saw the same ip; this catches a thread
 * that came back to it through another caller). */
static bool copy_agrees(const gsp__ustack *u, const uint64_t *kc, uint32_t nk) {
  uint64_t fp[GSP__PROF_MAX_DEPTH + 1];
  uint32_t n = gsp__unw_fp_chain(u, fp, nk < GSP__PROF_MAX_DEPTH ? nk : GSP__PROF_MAX_DEPTH);
  for (uint32_t i = 0; i < n; i++)
    if (fp[i] != kc[i]) return false;
  return true;
}

bool gsp__cap_pop(gsp__sample *out, unsigned max) {
  if (!g_slots) return false;
  cap_slot *s = &g_slots[g_head & (g_nslots - 1)];
  uint64_t seq = atomic_load_explicit(&s->seq, memory_order_acquire);
  if (seq != g_head + 1) return false;
  static uint64_t fp[GSP__PROF_MAX_DEPTH + 1];
  gsp__ustack u = {s->ip, s->sp, s->bp, s->stack, s->len};
  const uint64_t *kc = s->kc;
  uint32_t nk = s->nk;
  if (nk && u.len && !copy_agrees(&u, kc, nk)) {
    u.len = 0; /* the kernel's chain alone */
    atomic_fetch_add_explicit(&g_late, 1, memory_order_relaxed);
  }
  if (nk == 0) { /* no kernel chain: the one in the copy */
    nk = gsp__unw_fp_chain(&u, fp, max < GSP__PROF_MAX_DEPTH ? max : GSP__PROF_MAX_DEPTH);
    kc = fp;
  }
  out->weight = s->weight;
  out->flags = 0;
  out->depth = gsp__unw_splice(&u, kc, nk, out->pcs, max, &out->flags);
  if (out->depth == 0) out->pcs[out->depth++] = s->ip;
  atomic_store_explicit(&s->seq, g_head + g_nslots, memory_order_release);
  g_head++;
  return true;
}
