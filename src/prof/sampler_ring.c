/*
 * sampler_ring.c - signal-free CPU sampling: a perf event per thread on
 * the software task-clock (the thread's CPU time, hrtimer-driven, so hz
 * samples per CPU-second are what is delivered), writing its samples into
 * a ring buffer mapped into the process. Nothing runs in the sampled
 * thread: the kernel takes the sample in the timer interrupt and the
 * collector thread reads the rings.
 *
 * A sample (sample_type IP | TID | TIME | CALLCHAIN | REGS_USER |
 * STACK_USER; user space only: exclude_kernel, exclude_callchain_kernel)
 * carries the kernel's frame-pointer chain, the user registers ip, sp, bp,
 * and a copy of the STACK_COPY bytes above sp. sampler_unwind.c walks the
 * copy with DWARF CFI to recover the frames the frame-pointer chain
 * misses (a leaf without a frame pointer loses its caller there) and
 * splices the two.
 *
 * Ring layout (perf_event_open(2)): one control page (data_head written
 * by the kernel, data_tail by us) then 2^n data pages, sized for about
 * 50 ms of samples at the rate asked (8..256 pages; smaller when the
 * locked-memory limit refuses the mapping). The kernel wakes a poll()er
 * when half the ring is filled (the default watermark), so the collector
 * sleeps until there is work or its period ends. A full ring loses
 * samples, which the kernel reports in PERF_RECORD_LOST (counted). Next
 * to each ring, a watcher event (see open_watcher) wakes the collector
 * as soon as the thread creates a thread or exits.
 * Records may wrap around the end of the data area: each is copied to a
 * scratch buffer before it is parsed, and every length in it is checked
 * against the record's size. Collector thread only (the scratch buffer
 * and the rings are its own).
 */
#define _GNU_SOURCE
#include <asm/perf_regs.h>
#include <errno.h>
#include <linux/perf_event.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "sampler_int.h"

#define STACK_COPY 2048u
#define REC_MAX 65536u
#define MIN_PAGES 8u
#define MAX_PAGES 256u

static unsigned char g_rec[REC_MAX];
static uint64_t g_kc[GSP__PROF_MAX_DEPTH + 1];

static size_t page_size(void) { return (size_t)sysconf(_SC_PAGESIZE); }

/* Data pages (a power of two) for about 50 ms of samples at hz. */
static size_t data_pages(unsigned hz, unsigned max_depth) {
  size_t rec = 96 + 8 * ((size_t)max_depth + 2) + STACK_COPY;
  size_t want = ((size_t)hz / 20 + 2) * rec, pages = MIN_PAGES;
  while (pages * page_size() < want && pages < MAX_PAGES) pages *= 2;
  return pages;
}

static void fill_attr(struct perf_event_attr *a, unsigned hz, unsigned max_depth) {
  memset(a, 0, sizeof *a);
  a->size = sizeof *a;
  a->type = PERF_TYPE_SOFTWARE;
  a->config = PERF_COUNT_SW_TASK_CLOCK;
  a->sample_period = 1000000000ull / hz;
  a->sample_type = PERF_SAMPLE_IP | PERF_SAMPLE_TID | PERF_SAMPLE_TIME | PERF_SAMPLE_CALLCHAIN |
                   PERF_SAMPLE_REGS_USER | PERF_SAMPLE_STACK_USER;
  a->sample_regs_user =
      (1ull << PERF_REG_X86_BP) | (1ull << PERF_REG_X86_SP) | (1ull << PERF_REG_X86_IP);
  a->sample_stack_user = STACK_COPY;
  a->sample_max_stack = (uint16_t)(max_depth + 1);
  a->disabled = 1;
  a->exclude_kernel = 1;
  a->exclude_hv = 1;
  a->exclude_callchain_kernel = 1;
}

static int try_open(struct perf_event_attr *a, pid_t tid) {
  int fd = (int)syscall(SYS_perf_event_open, a, tid, -1, -1, PERF_FLAG_FD_CLOEXEC);
  if (fd < 0 && errno == EOVERFLOW) { /* above kernel.perf_event_max_stack */
    a->sample_max_stack = 0;
    fd = (int)syscall(SYS_perf_event_open, a, tid, -1, -1, PERF_FLAG_FD_CLOEXEC);
  }
  return fd;
}

/* User time only (exclude_kernel), as perf_event_paranoid 2 requires of
 * an unprivileged process: a period that ends in the kernel gives no
 * sample. (With the privilege, kernel periods could be charged to the
 * system call's user stack; they are not, so that a profile means the
 * same whoever runs it.) */
static int open_event(pid_t tid, unsigned hz, unsigned max_depth) {
  struct perf_event_attr a;
  fill_attr(&a, hz, max_depth);
  return try_open(&a, tid);
}

/* The watcher: a dummy event of the same thread with task records on
 * and a one-byte watermark, so the thread's clone (PERF_RECORD_FORK) or
 * exit wakes a poll()er at once. Best effort: without it new threads are
 * found by the periodic scan. */
static void open_watcher(gsp__ring *r, pid_t tid) {
  struct perf_event_attr a;
  memset(&a, 0, sizeof a);
  a.size = sizeof a;
  a.type = PERF_TYPE_SOFTWARE;
  a.config = PERF_COUNT_SW_DUMMY;
  a.task = 1;
  a.watermark = 1;
  a.wakeup_watermark = 1;
  a.exclude_kernel = 1;
  a.exclude_hv = 1;
  r->wfd = (int)syscall(SYS_perf_event_open, &a, tid, -1, -1, PERF_FLAG_FD_CLOEXEC);
  if (r->wfd < 0) return;
  r->wmm = mmap(NULL, 2 * page_size(), PROT_READ | PROT_WRITE, MAP_SHARED, r->wfd, 0);
  if (r->wmm != MAP_FAILED) return;
  r->wmm = NULL;
  close(r->wfd);
  r->wfd = -1;
}

void gsp__ring_watch_reset(gsp__ring *r) {
  struct perf_event_mmap_page *mp = r->wmm;
  if (mp)
    __atomic_store_n(&mp->data_tail, __atomic_load_n(&mp->data_head, __ATOMIC_ACQUIRE),
                     __ATOMIC_RELEASE);
}

int gsp__ring_open(gsp__ring *r, pid_t tid, unsigned hz, unsigned max_depth) {
  memset(r, 0, sizeof *r);
  r->wfd = -1;
  r->depth = max_depth;
  r->fd = open_event(tid, hz, max_depth);
  if (r->fd < 0) return GSP_ESYS;
  /* Halve the ring while the locked-memory limit refuses it. */
  for (size_t pages = data_pages(hz, max_depth); pages >= 2; pages /= 2) {
    size_t len = (pages + 1) * page_size();
    void *mm = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, r->fd, 0);
    if (mm != MAP_FAILED) {
      r->mm = mm;
      r->len = len;
      break;
    }
  }
  if (!r->mm || ioctl(r->fd, PERF_EVENT_IOC_ENABLE, 0) != 0) {
    gsp__ring_close(r);
    return GSP_ESYS;
  }
  open_watcher(r, tid);
  return GSP_OK;
}

void gsp__ring_disable(gsp__ring *r) {
  if (r->fd >= 0) ioctl(r->fd, PERF_EVENT_IOC_DISABLE, 0);
}

void gsp__ring_close(gsp__ring *r) {
  if (r->mm) munmap(r->mm, r->len);
  if (r->wmm) munmap(r->wmm, 2 * page_size());
  gsp__ring_forget(r);
}

void gsp__ring_forget(gsp__ring *r) {
  if (r->fd >= 0) close(r->fd);
  if (r->wfd >= 0) close(r->wfd);
  r->mm = r->wmm = NULL;
  r->fd = r->wfd = -1;
}

uint64_t gsp__ring_take_lost(gsp__ring *r) {
  uint64_t n = r->lost;
  r->lost = 0;
  return n;
}

/* Copies len bytes at ring offset off (which may wrap) to dst. */
static void copy_ring(void *dst, const unsigned char *data, uint64_t size, uint64_t off,
                      size_t len) {
  size_t at = (size_t)(off & (size - 1)), first = len < size - at ? len : size - at;
  memcpy(dst, data + at, first);
  memcpy((unsigned char *)dst + first, data, len - first);
}

typedef struct cursor {
  const unsigned char *p, *end;
} cursor;

static bool take(cursor *c, uint64_t *v) {
  if ((size_t)(c->end - c->p) < sizeof *v) return false;
  memcpy(v, c->p, sizeof *v);
  c->p += sizeof *v;
  return true;
}

/* The kernel's chain without its context markers; the ip when empty. */
static uint32_t kernel_chain(cursor *c, uint64_t ip) {
  uint64_t nr, v = 0;
  uint32_t nk = 0;
  if (!take(c, &nr) || nr > (uint64_t)(c->end - c->p) / 8) return 0;
  for (uint64_t i = 0; i < nr; i++) {
    take(c, &v);
    if (v >= (uint64_t)PERF_CONTEXT_MAX || nk > GSP__PROF_MAX_DEPTH) continue;
    if (v == 0) break; /* the outermost frame's null return address */
    g_kc[nk++] = v;
  }
  if (nk == 0) g_kc[nk++] = ip;
  return nk;
}

/* Registers (bp, sp, ip: ascending bit order) and the stack copy. */
static bool user_stack(cursor *c, gsp__ustack *u) {
  uint64_t abi, size, dyn;
  if (!take(c, &abi)) return false;
  if (abi != PERF_SAMPLE_REGS_ABI_NONE &&
      (!take(c, &u->bp) || !take(c, &u->sp) || !take(c, &u->ip)))
    return false;
  if (!take(c, &size)) return false;
  if (size == 0) return true;
  if (size > (uint64_t)(c->end - c->p)) return false;
  const unsigned char *stack = c->p;
  c->p += size;
  if (!take(c, &dyn)) return false;
  if (abi == PERF_SAMPLE_REGS_ABI_NONE) return true; /* no registers: the copy is useless */
  u->stack = stack;
  u->len = dyn < size ? dyn : size;
  return true;
}

static bool parse_sample(const unsigned char *rec, size_t len, unsigned max, gsp__sample *out) {
  cursor c = {rec + sizeof(struct perf_event_header), rec + len};
  uint64_t ip, tid, time;
  if (!take(&c, &ip) || !take(&c, &tid) || !take(&c, &time)) return false;
  uint32_t nk = kernel_chain(&c, ip);
  gsp__ustack u = {ip, 0, 0, NULL, 0};
  if (nk == 0 || !user_stack(&c, &u)) return false;
  out->flags = 0;
  out->weight = 1;
  out->depth = gsp__unw_splice(&u, g_kc, nk, out->pcs, max, &out->flags);
  if (out->depth == 0) out->pcs[out->depth++] = ip;
  return true;
}

bool gsp__ring_next(gsp__ring *r, gsp__sample *out) {
  if (!r->mm) return false;
  struct perf_event_mmap_page *mp = r->mm;
  const unsigned char *data = (const unsigned char *)r->mm + mp->data_offset;
  uint64_t size = mp->data_size;
  uint64_t head = __atomic_load_n(&mp->data_head, __ATOMIC_ACQUIRE), tail = mp->data_tail;
  bool got = false;
  while (!got && tail != head) {
    struct perf_event_header h;
    copy_ring(&h, data, size, tail, sizeof h);
    if (h.size < sizeof h || h.size > head - tail) {
      tail = head; /* cannot happen with a sane kernel: drop the rest */
      break;
    }
    copy_ring(g_rec, data, size, tail, h.size);
    tail += h.size;
    if (h.type == PERF_RECORD_SAMPLE) {
      got = parse_sample(g_rec, h.size, r->depth, out);
    } else if (h.type == PERF_RECORD_LOST && h.size >= sizeof h + 16) {
      uint64_t lost;
      memcpy(&lost, g_rec + sizeof h + 8, sizeof lost);
      r->lost += lost;
    }
  }
  __atomic_store_n(&mp->data_tail, tail, __ATOMIC_RELEASE);
  return got;
}
