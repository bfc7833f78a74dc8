/*
 * sampler_unwind.c - libunwind for the sampler, loaded when CPU sampling
 * starts (dlopen), so a process profiled for I/O or heap only never maps
 * it.
 *
 * A sample arrives as the registers ip, sp, bp of the sampled thread, a
 * copy of the first bytes of its stack and a frame-pointer chain: the
 * kernel's in the perf ring path (sampler_ring.c), the one found in the
 * copy itself (gsp__unw_fp_chain) in the signal and timer paths, whose
 * handler only copies (sampler_capture.c). Here libunwind's generic
 * unwinder (libunwind-x86_64.so.8) walks the copy with the DWARF CFI of
 * the loaded objects (an address space whose access_mem reads the copy,
 * or the objects' own loaded segments for the unwind tables, and nothing
 * else) and the result is spliced with the chain:
 *
 *   kernel  K = ip, r1, r2, ...   (frame pointers: a leaf that has none,
 *                                  or a function still in its prologue,
 *                                  loses its caller)
 *   DWARF   U = ip, u1, u2, ...   (exact while the copy lasts)
 *
 * U is stepped until two of its return addresses in a row appear in a
 * row in K, from index i; the result is U up to that frame, then K from
 * i. A function with a frame pointer matches at once (u1 == r1, u2 == r2:
 * two steps per sample); a gcc leaf without one a step later (u2 == r1)
 * and gains its caller u1. One matching frame is not enough: a function
 * without a frame pointer further up (a C library function the sampled
 * code called) makes K skip that function's caller after a first frame
 * that agrees. When U reaches the outermost frame first (code
 * without frame pointers, small stacks) U alone is the stack. When
 * neither happens (the copy ended, no CFI), a single matching frame, if
 * one was seen, splices as above; failing that the longer of U and K is
 * kept and the sample is flagged GSP__SAMPLE_BAD_UNWIND.
 *
 * Only the collector thread uses the unwinder (the per-thread cache
 * policy: no lock, no signal masking); the segment table is its too.
 * No unwinder ever runs in a sampled thread or in a signal handler.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <link.h>
#include <libunwind.h>
#include <stdlib.h>
#include <string.h>

#include "sampler_int.h"

#define MAX_SEGS 1024
#define MAX_STEPS GSP__PROF_MAX_DEPTH

static void *sym(void *h, const char *name) { return h ? dlsym(h, name) : NULL; }

/* ---- the frame-pointer chain of a copied stack ---------------------------- */

uint32_t gsp__unw_fp_chain(const gsp__ustack *u, uint64_t *kc, uint32_t max) {
  uint32_t n = 0;
  uint64_t bp = u->bp;
  kc[n++] = u->ip;
  while (n < max && bp >= u->sp && bp - u->sp <= u->len && u->len - (bp - u->sp) >= 16 &&
         (bp & 7) == 0) {
    uint64_t next, ret;
    memcpy(&next, u->stack + (bp - u->sp), sizeof next);
    memcpy(&ret, u->stack + (bp - u->sp) + 8, sizeof ret);
    if (ret == 0) break; /* the outermost frame */
    kc[n++] = ret;
    if (next <= bp) break; /* a chain goes up the stack, or it is not one */
    bp = next;
  }
  return n;
}

/* ---- generic unwinder over copied stacks (ring path) ---------------------- */

typedef struct remote_api {
  unw_addr_space_t (*create)(unw_accessors_t *, int);
  void (*destroy)(unw_addr_space_t);
  unw_accessors_t *(*accessors)(unw_addr_space_t);
  int (*policy)(unw_addr_space_t, unw_caching_policy_t);
  void (*flush)(unw_addr_space_t, unw_word_t, unw_word_t);
  int (*init)(unw_cursor_t *, unw_addr_space_t, void *);
  int (*step)(unw_cursor_t *);
  int (*get_reg)(unw_cursor_t *, unw_regnum_t, unw_word_t *);
  unw_addr_space_t *local_as;
} remote_api;

typedef struct seg {
  uint64_t start, end;
} seg;

static remote_api g_rem;
static int g_rem_loaded; /* 1 usable, -1 failed, 0 not tried */
static unw_addr_space_t g_as;
static seg g_segs[MAX_SEGS];
static size_t g_nsegs;
static unsigned long long g_seg_loads = ~0ull; /* dlpi_adds + dlpi_subs at the last read */

static bool load_remote(void) {
  if (g_rem_loaded != 0) return g_rem_loaded > 0;
  void *h = dlopen("libunwind-x86_64.so.8", RTLD_NOW | RTLD_LOCAL);
  remote_api a;
  *(void **)&a.create = sym(h, "_Ux86_64_create_addr_space");
  *(void **)&a.destroy = sym(h, "_Ux86_64_destroy_addr_space");
  *(void **)&a.accessors = sym(h, "_Ux86_64_get_accessors");
  *(void **)&a.policy = sym(h, "_Ux86_64_set_caching_policy");
  *(void **)&a.flush = sym(h, "_Ux86_64_flush_cache");
  *(void **)&a.init = sym(h, "_Ux86_64_init_remote");
  *(void **)&a.step = sym(h, "_Ux86_64_step");
  *(void **)&a.get_reg = sym(h, "_Ux86_64_get_reg");
  a.local_as = sym(h, "_Ux86_64_local_addr_space");
  bool ok = a.create && a.destroy && a.accessors && a.policy && a.flush && a.init && a.step &&
            a.get_reg && a.local_as;
  if (ok) g_rem = a;
  g_rem_loaded = ok ? 1 : -1;
  return ok;
}

static bool in_segments(uint64_t addr) {
  size_t lo = 0, hi = g_nsegs;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (addr < g_segs[mid].start) {
      hi = mid;
    } else if (addr + 8 > g_segs[mid].end) {
      lo = mid + 1;
    } else {
      return true;
    }
  }
  return false;
}

static int access_mem(unw_addr_space_t as, unw_word_t addr, unw_word_t *val, int write, void *arg) {
  (void)as;
  const gsp__ustack *u = arg;
  if (write) return -UNW_EINVAL;
  if (addr >= u->sp && addr - u->sp + 8 <= u->len) {
    memcpy(val, u->stack + (addr - u->sp), sizeof *val);
    return 0;
  }
  if (!in_segments(addr)) return -UNW_EINVAL; /* stack beyond the copy, or junk */
  /* an address in this process's own loaded objects */
  memcpy(val, (const void *)(uintptr_t)addr, sizeof *val); /* NOLINT(performance-no-int-to-ptr) */
  return 0;
}

static int access_reg(unw_addr_space_t as, unw_regnum_t reg, unw_word_t *val, int write,
                      void *arg) {
  (void)as;
  const gsp__ustack *u = arg;
  if (write) return -UNW_EINVAL;
  switch (reg) {
    case UNW_X86_64_RIP:
      *val = u->ip;
      return 0;
    case UNW_X86_64_RSP:
      *val = u->sp;
      return 0;
    case UNW_X86_64_RBP:
      *val = u->bp;
      return 0;
    default:
      return -UNW_EBADREG;
  }
}

static int access_fpreg(unw_addr_space_t as, unw_regnum_t reg, unw_fpreg_t *val, int write,
                        void *arg) {
  (void)as;
  (void)reg;
  (void)val;
  (void)write;
  (void)arg;
  return -UNW_EBADREG;
}

static int add_segments(struct dl_phdr_info *info, size_t size, void *arg) {
  (void)size;
  *(unsigned long long *)arg = info->dlpi_adds + info->dlpi_subs;
  for (int i = 0; i < info->dlpi_phnum && g_nsegs < MAX_SEGS; i++) {
    const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
    if (ph->p_type != PT_LOAD) continue; /* these never overlap */
    if (!(ph->p_flags & PF_R)) continue;
    uint64_t start = info->dlpi_addr + ph->p_vaddr;
    g_segs[g_nsegs++] = (seg){start, start + ph->p_memsz};
  }
  return 0;
}

static int cmp_seg(const void *a, const void *b) {
  const seg *x = a, *y = b;
  return x->start < y->start ? -1 : x->start > y->start;
}

static int count_loads(struct dl_phdr_info *info, size_t size, void *arg) {
  (void)size;
  *(unsigned long long *)arg = info->dlpi_adds + info->dlpi_subs;
  return 1;
}

void gsp__unw_remote_refresh(void) {
  if (!g_as) return;
  unsigned long long loads = 0;
  dl_iterate_phdr(count_loads, &loads);
  if (loads == g_seg_loads) return;
  g_nsegs = 0;
  dl_iterate_phdr(add_segments, &loads);
  qsort(g_segs, g_nsegs, sizeof g_segs[0], cmp_seg);
  g_seg_loads = loads;
  g_rem.flush(g_as, 0, 0); /* cached rules of unloaded objects */
}

bool gsp__unw_remote_begin(void) {
  if (g_as) return true;
  if (!load_remote()) return false;
  unw_accessors_t acc = *g_rem.accessors(*g_rem.local_as);
  acc.access_mem = access_mem;
  acc.access_reg = access_reg;
  acc.access_fpreg = access_fpreg;
  acc.resume = NULL;
  acc.get_proc_name = NULL;
  g_as = g_rem.create(&acc, 0);
  if (!g_as) return false;
  g_rem.policy(g_as, UNW_CACHE_PER_THREAD);
  g_seg_loads = ~0ull;
  gsp__unw_remote_refresh();
  return true;
}

void gsp__unw_remote_end(void) {
  if (g_as) g_rem.destroy(g_as);
  g_as = NULL;
}

/* In a fork child: the parent's address space, kept reachable (for leak
 * checkers) but never used nor freed here. */
static void *volatile g_parent_as;

void gsp__unw_remote_forget(void) {
  g_parent_as = g_as;
  g_as = NULL;
}

/* Index of pc in kc[1..nk), or 0. */
static uint32_t find_in(const uint64_t *kc, uint32_t nk, uint64_t pc) {
  for (uint32_t i = 1; i < nk; i++)
    if (kc[i] == pc) return i;
  return 0;
}

static uint32_t copy_out(uint64_t *out, uint32_t n, const uint64_t *src, uint32_t len,
                         uint32_t max) {
  for (uint32_t i = 0; i < len && n < max; i++) out[n++] = src[i];
  return n;
}

/* DWARF-unwinds u into uw (uw[0] = ip) until two consecutive return
 * addresses are found consecutively in kc, or one is kc's last; returns the
 * number of uw frames to keep and in *from the index in kc to go on from
 * (0 when no such match). Two, not one: a function without a frame
 * pointer further up (a C library call) makes the chain skip its caller
 * there, after a first frame that agrees. When the walk ends before a
 * match is confirmed, an unconfirmed one is used. *end: the walk reached
 * the outermost frame. */
static uint32_t walk(const gsp__ustack *u, const uint64_t *kc, uint32_t nk, uint64_t *uw,
                     uint32_t max, uint32_t *from, bool *end) {
  unw_cursor_t cur;
  uint32_t n = 0, prev = 0, cand = 0, cand_n = 0;
  *from = 0;
  *end = false;
  if (g_rem.init(&cur, g_as, (void *)u) < 0) return 0;
  uw[n++] = u->ip;
  while (n < max) {
    int r = g_rem.step(&cur);
    unw_word_t ip = 0;
    if (r == 0) *end = true;
    if (r <= 0 || g_rem.get_reg(&cur, UNW_REG_IP, &ip) < 0 || ip == 0) break;
    uw[n++] = ip;
    if (prev && prev + 1 < nk && kc[prev + 1] == ip) { /* confirmed */
      *from = prev;
      return n - 2;
    }
    prev = find_in(kc, nk, ip);
    if (prev) {
      cand = prev;
      cand_n = n - 1;
    }
    if (prev && prev == nk - 1) break; /* nothing left in kc to confirm it with */
  }
  if (cand && !*end) *from = cand;
  return cand && !*end ? cand_n : n;
}

uint32_t gsp__unw_splice(const gsp__ustack *u, const uint64_t *kc, uint32_t nk, uint64_t *out,
                         uint32_t max, uint32_t *flags) {
  if (!g_as || u->len == 0 || max < 2) return copy_out(out, 0, kc, nk, max);
  uint64_t uw[MAX_STEPS];
  uint32_t from;
  bool end;
  uint32_t n = walk(u, kc, nk, uw, max < MAX_STEPS ? max : MAX_STEPS, &from, &end);
  if (from) return copy_out(out, copy_out(out, 0, uw, n, max), kc + from, nk - from, max);
  if (end || n >= max) return copy_out(out, 0, uw, n, max);
  *flags |= GSP__SAMPLE_BAD_UNWIND;
  return n > nk ? copy_out(out, 0, uw, n, max) : copy_out(out, 0, kc, nk, max);
}
