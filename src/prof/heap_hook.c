/*
 * heap_hook.c - heap tracking in the preload library: malloc and friends
 * interposed, live bytes and peak per call site, and at exit the leaks,
 * found by a reachability scan. Built only into libgsperf-preload.so.
 *
 * Blocks. Every block handed out carries a 32-byte header just before
 * it: list links, requested size, site id, the offset back to the block
 * the C library gave (aligned allocations), and a magic number. The real
 * allocator is glibc's (__libc_malloc, __libc_memalign, ...), so no
 * dlsym bootstrap is needed; a pointer whose header lacks the magic (not
 * ours) goes straight to __libc_free / __libc_realloc.
 *
 * Tracking. A tracked block is on one of SHARDS doubly linked lists (by
 * address), each under a tiny spinlock (one lock-prefixed exchange to
 * take it), and counted in its site's statistics (allocations, bytes,
 * live bytes and count, peak live bytes: relaxed atomics). A site is the
 * allocating call stack: the hook's return address, then the frame
 * pointer chain, each step checked to stay on the stack (above the
 * previous frame, within 8 MiB), at most SITE_DEPTH frames; sites live in
 * a fixed open-addressing table claimed by CAS (a full table sends new
 * stacks to site 0, "other"). No syscall and no allocation other than
 * the real allocator's happen in a hook. A thread-local guard makes any
 * allocation made while a hook runs (or while the leak check runs)
 * untracked: it still gets a header, so free never has to guess.
 *
 * Sampling. With GSP_PROF_HEAP_SAMPLE=N (bytes, > 0) a thread tracks one
 * allocation each time N bytes have been allocated on it (like tcmalloc's
 * sampling, without the randomization), for always-on use; with 0 (the
 * default for the leak check) every allocation is tracked.
 *
 * Leaks (every-allocation mode, at exit from the library destructor,
 * after the program's own exit handlers). Tracking stops and the
 * reachability scan of heap_scan.c runs over the tracked blocks: roots
 * are the writable segments of every loaded object except this library
 * (the C library's buffers and the loader's data are reachable from
 * there), and the stacks, registers and TLS of every thread, those still
 * running at exit included (stopped by a signal for the scan). What
 * stays unmarked is a leak, counted on its site (blocks the loader
 * allocated for itself, such as a thread's DTV, excepted).
 *
 * Output: $GSP_PROF_DIR/heap.<pid>.raw, one line per site (see
 * heap_report.c for the format), with heap.<pid>.raw.maps.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <link.h>
#include <malloc.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "heap_sites.h"
#include "prof_int.h"

extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);
extern void __libc_free(void *);

#define HDR 32u
#define MAGIC 0x6a5du
#define SHARDS 64u
#define NSITES GSP__NSITES
#define SITE_DEPTH GSP__SITE_DEPTH

typedef struct hdr {
  struct hdr *next, *prev;
  uint64_t size;
  uint32_t site;  /* 0 = untracked */
  uint16_t off16; /* (user - base) / 16 */
  uint16_t magic;
} hdr;
_Static_assert(sizeof(hdr) == HDR, "header size");

typedef gsp__site site;

typedef struct shard {
  atomic_flag lock;
  hdr head; /* sentinel */
} shard;

static shard g_shards[SHARDS];
static site g_sites[NSITES];
static _Atomic int g_tracking;
static uintptr_t g_self_lo, g_self_hi, g_self_base; /* this library's text / load base */
static uintptr_t g_ld_lo, g_ld_hi;                  /* the dynamic loader's text */
static uint64_t g_sample_bytes;
static __thread int t_guard __attribute__((tls_model("initial-exec")));
static __thread uint64_t t_until_sample __attribute__((tls_model("initial-exec")));

static void lock(shard *s) {
  while (atomic_flag_test_and_set_explicit(&s->lock, memory_order_acquire)) __builtin_ia32_pause();
}
static void unlock(shard *s) { atomic_flag_clear_explicit(&s->lock, memory_order_release); }

static shard *shard_of(const hdr *h) {
  return &g_shards[((uintptr_t)h >> 5) * 0x9e3779b97f4a7c15ull >> 58];
}

/* The allocating stack, frames in this library (the hooks) left out. */
static uint32_t capture_stack(uint64_t *pcs) {
  uint32_t n = 0;
  uintptr_t *fp = __builtin_frame_address(0);
  uintptr_t lo = (uintptr_t)fp, hi = lo + (8u << 20);
  while (n < SITE_DEPTH) {
    uintptr_t next = fp[0], ret = fp[1];
    if (ret < 4096) break;
    if (ret < g_self_lo || ret >= g_self_hi) pcs[n++] = ret;
    if (next <= (uintptr_t)fp || next >= hi || next < lo || (next & 7)) break;
    fp = (uintptr_t *)next;  // NOLINT(performance-no-int-to-ptr): a frame pointer
  }
  return n;
}

/* Bytes a tracked block counts for: its size, or with sampling the
 * interval it stands for when larger (an estimate, as tcmalloc's). */
static uint64_t charge(uint64_t size) { return size > g_sample_bytes ? size : g_sample_bytes; }

static bool should_track(size_t size) {
  if (!atomic_load_explicit(&g_tracking, memory_order_relaxed) || t_guard) return false;
  if (g_sample_bytes == 0) return true;
  if (t_until_sample > size) {
    t_until_sample -= size;
    return false;
  }
  t_until_sample = g_sample_bytes;
  return true;
}

/* Fills the header of a fresh block (base from the C library) and
 * returns the user pointer; tracks it when asked. */
static void *finish(void *base, size_t off, size_t size, bool track) {
  if (!base) return NULL;
  hdr *h = (hdr *)((char *)base + off - HDR);
  h->size = size;
  h->off16 = (uint16_t)(off / 16);
  h->magic = MAGIC;
  h->site = 0;
  h->next = h->prev = NULL;
  if (track) {
    t_guard = 1;
    uint64_t pcs[SITE_DEPTH];
    uint32_t n = capture_stack(pcs);
    uint32_t id = n > 0 ? gsp__site_find(g_sites, pcs, n) : 0;
    h->site = id ? id : UINT32_MAX;
    if (id) gsp__site_add(&g_sites[id], charge(size));
    shard *sh = shard_of(h);
    lock(sh);
    h->next = sh->head.next;
    h->prev = &sh->head;
    sh->head.next->prev = h;
    sh->head.next = h;
    unlock(sh);
    t_guard = 0;
  }
  return (char *)base + off;
}

static hdr *header_of(void *p) {
  hdr *h = (hdr *)((char *)p - HDR);
  return h->magic == MAGIC ? h : NULL;
}

static void untrack(hdr *h) {
  if (h->site == 0) return;
  shard *sh = shard_of(h);
  lock(sh);
  h->prev->next = h->next;
  h->next->prev = h->prev;
  unlock(sh);
  if (h->site != UINT32_MAX) {
    site *s = &g_sites[h->site];
    atomic_fetch_sub_explicit(&s->live, charge(h->size), memory_order_relaxed);
    atomic_fetch_sub_explicit(&s->live_count, 1, memory_order_relaxed);
  }
  h->site = 0;
}

__attribute__((visibility("default"), noinline)) void *malloc(size_t n) {
  if (n > SIZE_MAX - 64) return NULL;
  return finish(__libc_malloc(n + HDR), HDR, n, should_track(n));
}

__attribute__((visibility("default"), noinline)) void free(void *p) {
  if (!p) return;
  hdr *h = header_of(p);
  if (!h) {
    __libc_free(p);
    return;
  }
  untrack(h);
  h->magic = 0;
  __libc_free((char *)p - (size_t)h->off16 * 16);
}

__attribute__((visibility("default"), noinline)) void *calloc(size_t n, size_t sz) {
  if (sz && n > (SIZE_MAX - 64) / sz) {
    errno = ENOMEM;
    return NULL;
  }
  return finish(__libc_calloc(1, n * sz + HDR), HDR, n * sz, should_track(n * sz));
}

static void *aligned(size_t align, size_t n) {
  if (align <= 16) return malloc(n);
  if (align & (align - 1) || align > (1u << 20) || n > SIZE_MAX - 2 * align) return NULL;
  return finish(__libc_memalign(align, n + align), align, n, should_track(n));
}

__attribute__((visibility("default"), noinline)) void *realloc(void *p, size_t n) {
  if (!p) return malloc(n);
  if (n == 0) {
    free(p);
    return NULL;
  }
  hdr *h = header_of(p);
  if (!h) return __libc_realloc(p, n);
  void *q = h->off16 == HDR / 16 ? malloc(n) : aligned((size_t)h->off16 * 16, n);
  if (!q) return NULL;
  memcpy(q, p, h->size < n ? h->size : n);
  free(p);
  return q;
}

__attribute__((visibility("default"), noinline)) int posix_memalign(void **out, size_t a,
                                                                    size_t n) {
  if (a < sizeof(void *) || (a & (a - 1))) return EINVAL;
  void *p = aligned(a, n);
  if (!p) return ENOMEM;
  *out = p;
  return 0;
}

__attribute__((visibility("default"), noinline)) void *aligned_alloc(size_t a, size_t n) {
  return aligned(a, n);
}

__attribute__((visibility("default"), noinline)) void *memalign(size_t a, size_t n) {
  return aligned(a, n);
}

__attribute__((visibility("default"), noinline)) void *valloc(size_t n) {
  return aligned((size_t)sysconf(_SC_PAGESIZE), n);
}

__attribute__((visibility("default"), noinline)) size_t malloc_usable_size(void *p) {
  hdr *h = p ? header_of(p) : NULL;
  return h ? h->size : 0;
}

static void text_range(struct dl_phdr_info *info, uintptr_t *lo, uintptr_t *hi) {
  for (int i = 0; i < info->dlpi_phnum; i++) {
    const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
    if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_X)) continue;
    *lo = info->dlpi_addr + ph->p_vaddr;
    *hi = *lo + ph->p_memsz;
  }
}

/* This library's text (frames to leave out of stacks) and the loader's
 * (blocks it allocates for itself, such as a thread's DTV, kept in
 * its stack cache, are not the program's leaks). */
static int find_ranges(struct dl_phdr_info *info, size_t size, void *arg) {
  (void)size;
  (void)arg;
  if (info->dlpi_addr == g_self_base) text_range(info, &g_self_lo, &g_self_hi);
  if (info->dlpi_name && strstr(info->dlpi_name, "/ld-linux")) text_range(info, &g_ld_lo, &g_ld_hi);
  return 0;
}

void gsp__heap_guard(bool on) { t_guard = on; }

void gsp__heap_start(uint64_t sample_bytes) {
  Dl_info di;
  struct link_map *lm = NULL;
  if (dladdr1((void *)gsp__heap_start, &di, (void **)&lm, RTLD_DL_LINKMAP) && lm) {
    g_self_base = lm->l_addr;
    dl_iterate_phdr(find_ranges, NULL);
  }
  for (unsigned i = 0; i < SHARDS; i++)
    g_shards[i].head.next = g_shards[i].head.prev = &g_shards[i].head;
  g_sample_bytes = sample_bytes;
  atomic_store(&g_tracking, 1);
}

/* ---- leak check (heap_scan.c does the scan) ----------------------------- */

static void quiesce(void *u, bool on) {
  (void)u;
  for (unsigned i = 0; i < SHARDS; i++) {
    if (on)
      lock(&g_shards[i]);
    else
      unlock(&g_shards[i]);
  }
}

static size_t count(void *u) {
  (void)u;
  size_t n = 0;
  for (unsigned i = 0; i < SHARDS; i++)
    for (hdr *h = g_shards[i].head.next; h != &g_shards[i].head; h = h->next) n++;
  return n;
}

static size_t gather(void *u, gsp__blk *out, size_t cap) {
  (void)u;
  size_t n = 0;
  for (unsigned i = 0; i < SHARDS; i++)
    for (hdr *h = g_shards[i].head.next; h != &g_shards[i].head && n < cap; h = h->next)
      out[n++] = (gsp__blk){(uintptr_t)h + HDR, h->size, h->site, 0};
  return n;
}

static void verdict(void *u, const gsp__blk *b, size_t n) {
  (void)u;
  for (size_t i = 0; i < n; i++) {
    if (b[i].mark || b[i].site == UINT32_MAX) continue;
    site *st = &g_sites[b[i].site];
    if (st->pcs[0] >= g_ld_lo && st->pcs[0] < g_ld_hi) continue;
    st->leaks++;
    st->leak_bytes += b[i].size;
  }
}

static void find_leaks(void) {
  gsp__reach_ops ops = {quiesce, count, gather, verdict, NULL, g_self_base, HDR};
  gsp__reach_stats st;
  gsp__heap_reach(&ops, &st);
}

/* Appends str (without its NUL) to line (async-signal-safe). */
static size_t put_str(char *line, size_t n, const char *str) {
  while (*str) line[n++] = *str++;
  return n;
}

/* Appends v in base 10 or 16 to line (async-signal-safe). */
static size_t put_num(char *line, size_t n, uint64_t v, unsigned base) {
  char tmp[24];
  size_t k = 0;
  do {
    tmp[k++] = "0123456789abcdef"[v % base];
    v /= base;
  } while (v);
  while (k) line[n++] = tmp[--k];
  return n;
}

/* The sites in the heap file format (heap_report.c), formatted by hand:
 * this runs in a fatal-signal handler too. */
int gsp__heap_write_sites(int fd, bool leaks_checked) {
  char line[64 + 10 * 24 + SITE_DEPTH * 20];
  size_t n = put_str(line, 0, "gsperf-heap 1 sample ");
  n = put_num(line, n, g_sample_bytes, 10);
  n = put_str(line, n, leaks_checked ? " leaks 1\n" : " leaks 0\n");
  if (write(fd, line, n) != (ssize_t)n) return GSP_EIO;
  for (unsigned i = 1; i < NSITES; i++) {
    site *s = &g_sites[i];
    if (!atomic_load(&s->ready)) continue;
    uint64_t v[8] = {s->allocs, s->bytes, s->live,       s->live_count,
                     s->peak,   s->leaks, s->leak_bytes, s->depth};
    n = 0;
    for (int k = 0; k < 8; k++) {
      if (k) line[n++] = ' ';
      n = put_num(line, n, v[k], 10);
    }
    for (uint32_t d = 0; d < s->depth; d++) {
      line[n++] = ' ';
      n = put_num(line, n, s->pcs[d], 16);
    }
    line[n++] = '\n';
    if (write(fd, line, n) != (ssize_t)n) return GSP_EIO;
  }
  return GSP_OK;
}

void gsp__heap_finish(const char *dir) {
  if (!atomic_exchange(&g_tracking, 0)) return;
  t_guard = 1;
  bool check = g_sample_bytes == 0;
  if (check) find_leaks();
  char path[PATH_MAX], tmp[PATH_MAX + 8], maps[PATH_MAX + 8];
  snprintf(path, sizeof path, "%s/heap.%ld.raw", dir, (long)getpid());
  snprintf(tmp, sizeof tmp, "%s.tmp", path);
  snprintf(maps, sizeof maps, "%s.maps", path);
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd >= 0) {
    int rv = gsp__heap_write_sites(fd, check);
    if (close(fd) == 0 && rv == GSP_OK) rename(tmp, path);
    gsp__maps_save(maps);
  }
}
