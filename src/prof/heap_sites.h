/*
 * heap_sites.h - the allocation-site table shared by the two heap
 * trackers (the preload's heap_hook.c and the in-process inproc_heap.c):
 * one fixed array of sites per tracker, a site being an allocating stack
 * with its counters.
 *
 * Thread safety: gsp__site_find and gsp__site_add may be called from any
 * thread at once (a slot is claimed by CAS on its hash and published by
 * `ready`; the counters are atomic). No allocation, no system call: both
 * run inside malloc hooks.
 */
#ifndef GSP_PROF_HEAP_SITES_H
#define GSP_PROF_HEAP_SITES_H

#include <stdatomic.h>
#include <stdint.h>

#define GSP__NSITES 16384u /* sites per tracker; slot 0 is "other" (table full) */
#define GSP__SITE_DEPTH 16 /* frames kept per allocating stack */

typedef struct gsp__site {
  _Atomic uint64_t hash; /* 0 free, then the stack hash */
  _Atomic int ready;
  uint32_t depth;
  uint64_t pcs[GSP__SITE_DEPTH];
  _Atomic uint64_t allocs, bytes, live, live_count, peak;
  uint64_t leaks, leak_bytes;
} gsp__site;

/* The slot of table (GSP__NSITES sites) holding the stack pcs[0..n),
 * claimed on first sight; 0 when 64 probes find neither it nor a free
 * slot. */
uint32_t gsp__site_find(gsp__site *table, const uint64_t *pcs, uint32_t n);

/* One more allocation of `size` charged bytes at s: allocs, bytes, live
 * count, live bytes, and the peak of live bytes. */
void gsp__site_add(gsp__site *s, uint64_t size);

#endif
