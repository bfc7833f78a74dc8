/* sampler_int.h - internals shared by the sampler's files: sampler.c (the
 * sources, the signal handler, the queue), sampler_capture.c (what the
 * handler captures and how the collector unwinds it), sampler_ring.c
 * (perf events with a memory-mapped ring per thread) and sampler_unwind.c
 * (libunwind, loaded when CPU sampling starts). Collector-thread-only unless a
 * function says otherwise. */
#ifndef GSP_SAMPLER_INT_H
#define GSP_SAMPLER_INT_H

#include "prof_int.h"

/* Where samples come from. */
typedef enum gsp__src {
  GSP__SRC_NONE = 0,
  GSP__SRC_RING,   /* perf event + mmap'd ring per thread, read by the collector */
  GSP__SRC_SIGNAL, /* perf event signalling the thread; the handler copies its stack */
  GSP__SRC_TIMER,  /* POSIX CPU-time timer signalling the thread */
} gsp__src;

/* The source chosen by the last gsp__sampler_open (NONE when closed). */
gsp__src gsp__sampler_mode(void);

/* What must be done on the caller's thread before the collector calls
 * gsp__sampler_open: installs the sampling signal's handler. GSP_ESYS when it
 * cannot be installed. Idempotent. */
int gsp__sampler_prepare(void);

/* ---- sampler_unwind.c ---------------------------------------------------- */

/* The first frames of a sampled thread, as the kernel copied them. */
typedef struct gsp__ustack {
  uint64_t ip, sp, bp;
  const unsigned char *stack; /* bytes from sp upwards */
  uint64_t len;
} gsp__ustack;

/* Loads libunwind's generic unwinder and makes an address space reading
 * copied stacks; false when not available (samples keep the kernel's
 * frame-pointer chain). */
bool gsp__unw_remote_begin(void);
void gsp__unw_remote_end(void);
/* In a fork child: drop the parent's address space without touching it
 * (its lock may have been held by the parent's collector). */
void gsp__unw_remote_forget(void);
/* Rereads the loaded objects' segments (the memory the unwinder may read
 * outside a copied stack) when objects were loaded or unloaded. */
void gsp__unw_remote_refresh(void);
/* Splices the kernel's chain kc[0..nk) (kc[0] the pc, then return
 * addresses found through frame pointers) with a DWARF unwind of the
 * first frames from u; writes at most max pcs to out and returns their
 * number. */
uint32_t gsp__unw_splice(const gsp__ustack *u, const uint64_t *kc, uint32_t nk, uint64_t *out,
                         uint32_t max, uint32_t *flags);
/* The frame-pointer chain found in u's copy (kc[0] = u->ip, then the
 * return addresses while the frame records lie in the copy and go up the
 * stack); at most max entries, returns their number (>= 1). */
uint32_t gsp__unw_fp_chain(const gsp__ustack *u, uint64_t *kc, uint32_t max);

/* ---- sampler_capture.c ---------------------------------------------------
 * The signal and timer sources' queue of captured stacks. */

/* Maps the queue, sized for hz; GSP_ESYS when the mapping fails. */
int gsp__cap_open(unsigned hz);
/* Unmaps it: the caller has made sure no handler can claim a slot. */
void gsp__cap_close(void);
/* In a fork child: drops the copy of the parent's queue. */
void gsp__cap_forget(void);
/* Async-signal-safe, any thread. A timer's signal (pg NULL): captures
 * the context uc (a ucontext_t) into a slot with this weight. A perf
 * event's (pg its struct perf_event_mmap_page): one slot of weight 1 for
 * each sample record the kernel wrote there (several when the signal came
 * late), with that record's ip and frame-pointer chain; the context uc is
 * added to the last record's slot only when its ip is the record's (a
 * signal delivered after the thread moved on would otherwise put the
 * sample where the thread is at delivery); uc may be NULL (the collector
 * draining a page). The records are handed back in any case. Returns the
 * sampling periods lost: queue full, or reported lost by the kernel. */
uint64_t gsp__cap_take(uint32_t weight, const void *uc, void *pg);
/* Perf samples kept without their capture because it was not taken where
 * the kernel's sample was (in the handler: another ip; at unwinding: the
 * copy's frame-pointer chain disagrees with the kernel's), since the last
 * gsp__cap_open. Any thread. */
uint64_t gsp__cap_late(void);
/* The next captured sample, unwound, into out (at most max pcs); false
 * when none is waiting. Collector thread only. */
bool gsp__cap_pop(gsp__sample *out, unsigned max);
/* Samples waiting, and the queue's size. */
uint32_t gsp__cap_fill(void);
uint32_t gsp__cap_slots(void);

/* ---- sampler_ring.c ------------------------------------------------------ */

typedef struct gsp__ring {
  int fd;
  void *mm;       /* control page + data pages */
  size_t len;     /* of mm */
  unsigned depth; /* frames kept per sample */
  uint64_t lost;
  int wfd;   /* the thread's clone/exit watcher, -1 if none */
  void *wmm; /* its two pages */
} gsp__ring;

/* Opens and enables a task-clock event for tid sampling hz times per
 * CPU-second into a ring; GSP_ESYS when perf events or the mapping are
 * refused. */
int gsp__ring_open(gsp__ring *r, pid_t tid, unsigned hz, unsigned max_depth);
void gsp__ring_disable(gsp__ring *r);
void gsp__ring_close(gsp__ring *r);
/* Closes the fds only (the mapping is gone or never was). */
void gsp__ring_forget(gsp__ring *r);
/* The next sample of r into out; false when r holds no more. */
bool gsp__ring_next(gsp__ring *r, gsp__sample *out);
/* Marks the watcher's records read (it woke the collector). */
void gsp__ring_watch_reset(gsp__ring *r);
/* Samples the kernel reported lost since the last call. */
uint64_t gsp__ring_take_lost(gsp__ring *r);

#endif
