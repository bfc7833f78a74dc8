/*
 * arena.c - bump allocation with marks (nested scopes) and reset.
 *
 * Design. An arena is a stack of chunks from gsp_malloc; only the newest
 * ("cur") is allocated from, by rounding its fill offset up to the
 * requested alignment and adding the size: one add, one mask, one compare
 * and one store on the fast path. When cur cannot fit a request, a new chunk
 * is pushed: a spare chunk large enough if there is one, else a new one of
 * chunk_bytes (or of the request's own size when larger). What is left at
 * the end of the old chunk is wasted until the next reset.
 *
 * A mark is (chunk, offset). Resetting to a mark pops every chunk pushed
 * after the mark's chunk onto the spare list and sets that chunk's offset
 * back, which frees everything allocated since the mark; marks taken later
 * are invalid from then on, so marks nest like scopes. Spare chunks are
 * reused by growth and freed by trim or destroy: a request loop that resets
 * each iteration stops calling gsp_malloc after the first iteration.
 *
 * Statistics. `used` is used_before (the offsets of the chunks under cur)
 * plus cur's offset. It only grows between resets, so the peak is exact if
 * it is taken just before each reset and at each reading.
 *
 * Not thread-safe by design (see mem.h): no locks, no atomics.
 */
#include <stdint.h>
#include <string.h>

#include "gsperf/mem.h"

#define DEFAULT_CHUNK ((size_t)64 * 1024)
#define DEFAULT_ALIGN 16u

typedef struct chunk {
  struct chunk *prev; /* the chunk under this one (cur list) or next spare */
  size_t size;        /* bytes of data */
  size_t used;        /* fill offset into data */
  _Alignas(16) unsigned char data[];
} chunk;

struct gsp_arena {
  chunk *cur;
  chunk *spare;
  size_t chunk_bytes;
  uint64_t used_before;
  uint64_t peak;
  uint64_t reserved;
  uint64_t nchunks;
  uint64_t allocs;
};

int gsp_arena_create(const gsp_arena_config *cfg, gsp_arena **out) {
  if (out == NULL) return GSP_EINVAL;
  *out = NULL;
  gsp_arena *a = gsp_calloc(1, sizeof *a);
  if (a == NULL) return GSP_ENOMEM;
  a->chunk_bytes = cfg != NULL && cfg->chunk_bytes != 0 ? cfg->chunk_bytes : DEFAULT_CHUNK;
  *out = a;
  return GSP_OK;
}

static void free_list(gsp_arena *a, chunk *c) {
  while (c != NULL) {
    chunk *prev = c->prev;
    a->reserved -= c->size;
    a->nchunks--;
    gsp_free(c);
    c = prev;
  }
}

void gsp_arena_destroy(gsp_arena *a) {
  if (a == NULL) return;
  free_list(a, a->cur);
  free_list(a, a->spare);
  gsp_free(a);
}

static uint64_t used_now(const gsp_arena *a) {
  return a->used_before + (a->cur != NULL ? a->cur->used : 0);
}

static void note_peak(gsp_arena *a) {
  uint64_t u = used_now(a);
  if (u > a->peak) a->peak = u;
}

/* A spare chunk of at least need bytes, unlinked, or NULL. */
static chunk *take_spare(gsp_arena *a, size_t need) {
  for (chunk **pp = &a->spare; *pp != NULL; pp = &(*pp)->prev) {
    chunk *c = *pp;
    if (c->size >= need) {
      *pp = c->prev;
      return c;
    }
  }
  return NULL;
}

static chunk *new_chunk(gsp_arena *a, size_t need) {
  size_t size = need > a->chunk_bytes ? need : a->chunk_bytes;
  if (size > SIZE_MAX - sizeof(chunk)) return NULL;
  chunk *c = gsp_malloc(sizeof(chunk) + size);
  if (c == NULL) return NULL;
  c->size = size;
  a->reserved += size;
  a->nchunks++;
  return c;
}

/* Try to carve size bytes aligned to align from cur. */
static void *bump(chunk *c, size_t size, size_t align) {
  uintptr_t base = (uintptr_t)c->data;
  uintptr_t at = (base + c->used + align - 1) & ~(uintptr_t)(align - 1);
  size_t off = (size_t)(at - base);
  if (off > c->size || c->size - off < size) return NULL;
  c->used = off + size;
  return c->data + off;
}

/* Kept out of line so the fast path below needs no stack frame. */
__attribute__((noinline)) static void *alloc_grow(gsp_arena *a, size_t size, size_t align) {
  if (align == 0 || (align & (align - 1)) != 0 || size > SIZE_MAX / 2 - align) return NULL;
  size_t need = size + align;
  chunk *c = take_spare(a, need);
  if (c == NULL) c = new_chunk(a, need);
  if (c == NULL) return NULL;
  note_peak(a);
  if (a->cur != NULL) a->used_before += a->cur->used;
  c->used = 0;
  c->prev = a->cur;
  a->cur = c;
  a->allocs++;
  return bump(c, size, align);
}

void *gsp_arena_alloc(gsp_arena *a, size_t size, size_t align) {
  if (align == 0) align = DEFAULT_ALIGN;
  chunk *c = a->cur;
  if (__builtin_expect(c != NULL && (align & (align - 1)) == 0, 1)) {
    void *p = bump(c, size, align);
    if (__builtin_expect(p != NULL, 1)) {
      a->allocs++;
      return p;
    }
  }
  return alloc_grow(a, size, align);
}

gsp_arena_mark gsp_arena_mark_get(const gsp_arena *a) {
  return (gsp_arena_mark){a->cur, a->cur != NULL ? a->cur->used : 0};
}

void gsp_arena_reset_to(gsp_arena *a, gsp_arena_mark m) {
  note_peak(a);
  while (a->cur != NULL && a->cur != (chunk *)m.chunk_) {
    chunk *c = a->cur;
    a->cur = c->prev;
    if (a->cur != NULL) a->used_before -= a->cur->used;
    c->prev = a->spare;
    a->spare = c;
  }
  if (a->cur != NULL && m.off_ <= a->cur->used) a->cur->used = m.off_;
}

void gsp_arena_reset(gsp_arena *a) { gsp_arena_reset_to(a, (gsp_arena_mark){NULL, 0}); }

size_t gsp_arena_trim(gsp_arena *a) {
  size_t n = 0;
  for (chunk *c = a->spare; c != NULL; c = c->prev) n++;
  free_list(a, a->spare);
  a->spare = NULL;
  return n;
}

void gsp_arena_stats_get(const gsp_arena *a, gsp_arena_stats *out) {
  uint64_t u = used_now(a);
  *out = (gsp_arena_stats){
      .used = u,
      .peak = u > a->peak ? u : a->peak,
      .reserved = a->reserved,
      .chunks = a->nchunks,
      .allocs = a->allocs,
  };
}
