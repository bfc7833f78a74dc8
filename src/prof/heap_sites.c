/*
 * heap_sites.c - the allocation-site table of the heap trackers
 * (heap_sites.h).
 *
 * Layout: an open-addressing array of GSP__NSITES sites keyed by a hash
 * of the stack (never 0: 0 marks a free slot), linear probing from
 * hash % (N - 1) + 1 so slot 0 stays the "other" site, at most 64 probes.
 *
 * Invariants: a slot's hash goes from 0 to its stack's hash once (CAS)
 * and never back; its pcs and depth are written before `ready` is set
 * (release) and read only after `ready` is seen (acquire); two stacks
 * with one hash take two slots, told apart by their frames.
 */
#include <string.h>

#include "heap_sites.h"

static uint64_t hash_stack(const uint64_t *pcs, uint32_t n) {
  uint64_t h = 0x9e3779b97f4a7c15ull ^ n;
  for (uint32_t i = 0; i < n; i++) h = (h ^ pcs[i]) * 0x100000001b3ull;
  return h | 1;
}

uint32_t gsp__site_find(gsp__site *table, const uint64_t *pcs, uint32_t n) {
  uint64_t h = hash_stack(pcs, n);
  for (uint32_t probe = 0, j = (uint32_t)(h % (GSP__NSITES - 1)) + 1; probe < 64; probe++) {
    gsp__site *s = &table[j];
    uint64_t cur = atomic_load_explicit(&s->hash, memory_order_acquire);
    if (cur == 0) {
      uint64_t zero = 0;
      if (atomic_compare_exchange_strong(&s->hash, &zero, h)) {
        memcpy(s->pcs, pcs, n * sizeof *pcs);
        s->depth = n;
        atomic_store_explicit(&s->ready, 1, memory_order_release);
        return j;
      }
      cur = zero;
    }
    if (cur == h) {
      while (!atomic_load_explicit(&s->ready, memory_order_acquire)) __builtin_ia32_pause();
      if (s->depth == n && memcmp(s->pcs, pcs, n * sizeof *pcs) == 0) return j;
    }
    j = j + 1 < GSP__NSITES ? j + 1 : 1;
  }
  return 0;
}

void gsp__site_add(gsp__site *s, uint64_t size) {
  atomic_fetch_add_explicit(&s->allocs, 1, memory_order_relaxed);
  atomic_fetch_add_explicit(&s->bytes, size, memory_order_relaxed);
  atomic_fetch_add_explicit(&s->live_count, 1, memory_order_relaxed);
  uint64_t live = atomic_fetch_add_explicit(&s->live, size, memory_order_relaxed) + size;
  uint64_t peak = atomic_load_explicit(&s->peak, memory_order_relaxed);
  while (live > peak && !atomic_compare_exchange_weak_explicit(
                            &s->peak, &peak, live, memory_order_relaxed, memory_order_relaxed)) {
  }
}
