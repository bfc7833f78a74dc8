/*
 * gsperf/mem.h - object pools and arenas.
 *
 * Object pool (gsp_pool): fixed-size objects, handed out and taken back at
 * the cost of a few plain loads and stores. Each thread that uses a pool
 * gets its own cache of free objects (two magazines of `batch` objects), so
 * an alloc or a free that the cache can serve touches only that thread's
 * memory and uses no lock and no lock-prefixed instruction. Whole magazines
 * move between the thread caches and the pool's shared depot under one
 * mutex taken once per `batch` objects; that is also how frees made on a
 * thread other than the allocating one (producer/consumer) find their way
 * back: the consumer's full magazines go to the depot, the producer takes
 * them from there. Objects are carved from large slabs, which are
 * pre-faulted when they are made (gsp_pool_reserve() makes them ahead of
 * time, off the hot path).
 *
 * An optional constructor runs once when an object is first carved from a
 * slab, and the destructor once when the pool releases it (trim, destroy):
 * an object keeps its constructed state while it sits free in the pool, so
 * a host must return objects in a state fit for reuse.
 *
 * At destroy, objects never returned (a leak in the host's use of the pool)
 * are counted, reported through gsp_log (WARN, module "mem") and in the
 * final statistics, and their memory is released with the rest.
 *
 * Thread safety (pools): gsp_pool_alloc, gsp_pool_free, gsp_pool_trim,
 * gsp_pool_reserve and gsp_pool_stats_get may be called from any thread at
 * once. gsp_pool_destroy must be the last call on the pool and must not race
 * with any other call on it; threads that used the pool may still be alive,
 * and may exit at any time, before, during or after the destroy. When a
 * thread exits, its cache goes back to the pool (its objects stay
 * allocated to the pool, not leaked). An object may be freed on any thread.
 *
 * Arena (gsp_arena): bump allocation from a list of chunks, with marks to
 * free everything allocated after a point (nested scopes) and a reset that
 * frees everything. An arena is NOT thread-safe by design: one thread at a
 * time (the caller serializes), which is what makes an allocation a
 * pointer bump.
 *
 * Ownership: memory from a pool or arena belongs to it; pool objects go
 * back with gsp_pool_free, arena memory with a reset or the destroy.
 */
#ifndef GSPERF_MEM_H
#define GSPERF_MEM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gsperf/common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- object pools -------------------------------------------------------- */

typedef struct gsp_pool gsp_pool;

/*
 * Constructor and destructor of pooled objects, both optional. They run on
 * the thread calling alloc (ctor) or trim/destroy (dtor), with the pool's
 * internal lock held: they must not call into the same pool.
 */
typedef void (*gsp_pool_obj_fn)(void *obj, void *user);

typedef struct gsp_pool_stats {
  uint64_t live;       /* objects allocated and not yet freed */
  uint64_t cached;     /* objects carved and free (depot and thread caches) */
  uint64_t peak;       /* high-water mark of objects out of the depot (live or
                          in a thread cache): the pool's working set, in objects */
  uint64_t refills;    /* a thread cache was empty and went to the depot */
  uint64_t flushes;    /* a thread cache was full and gave a batch to the depot */
  uint64_t misses;     /* refills the depot could not serve from free objects
                          (new objects were carved from a slab) */
  uint64_t slabs;      /* slabs held now */
  uint64_t slab_bytes; /* bytes of those slabs */
  uint64_t leaked;     /* final statistics only: objects never returned */
} gsp_pool_stats;

typedef struct gsp_pool_config {
  size_t obj_size;             /* required, > 0 */
  size_t align;                /* power of two; 0 = 16 */
  unsigned batch;              /* objects per magazine; 0 = 64 */
  size_t slab_bytes;           /* bytes per slab; 0 = 256 KiB (at least 2 batches) */
  size_t reserve;              /* objects to carve-ready at create; 0 = none */
  gsp_pool_obj_fn ctor;        /* may be NULL */
  gsp_pool_obj_fn dtor;        /* may be NULL */
  void *user;                  /* passed to ctor and dtor */
  const char *name;            /* copied; used in log messages; NULL = "pool" */
  gsp_pool_stats *final_stats; /* if non-NULL, destroy writes the final
                                  statistics here (with `leaked`) */
} gsp_pool_config;

/* Errors: GSP_EINVAL (cfg NULL, obj_size 0, align not a power of two or
 * above 4096), GSP_ENOMEM. */
GSP_API int gsp_pool_create(const gsp_pool_config *cfg, gsp_pool **out);
/* Release every slab (running the dtor on each free constructed object),
 * report leaks (see top). NULL-safe. Objects never returned are not
 * destructed. */
GSP_API void gsp_pool_destroy(gsp_pool *p);
/* The pool's last error message (for a failed reserve); never NULL. */
GSP_API const char *gsp_pool_errmsg(const gsp_pool *p);

/* An object (aligned to cfg.align, contents as the ctor or the last user
 * left them), or NULL when a slab could not be allocated. */
GSP_API void *gsp_pool_alloc(gsp_pool *p);
/* Return an object from this pool. NULL-safe. Never fails. */
GSP_API void gsp_pool_free(gsp_pool *p, void *obj);

/* Make slabs (pre-faulted) until at least n objects can be handed out
 * without allocating. Returns 0 or GSP_ENOMEM. */
GSP_API int gsp_pool_reserve(gsp_pool *p, size_t n);
/*
 * Give the calling thread's cached objects back to the depot; then, if no
 * object of the pool is live or in any thread cache, release every slab
 * (running the dtor on each constructed object). Other threads' caches are
 * left alone (they go back when those threads exit or trim). Returns the
 * number of slabs released.
 */
GSP_API size_t gsp_pool_trim(gsp_pool *p);

/* A snapshot: exact when no other thread is using the pool. */
GSP_API void gsp_pool_stats_get(gsp_pool *p, gsp_pool_stats *out);

/* ---- arenas ------------------------------------------------------------- */

typedef struct gsp_arena gsp_arena;

typedef struct gsp_arena_config {
  size_t chunk_bytes; /* first chunk and growth unit; 0 = 64 KiB. A request
                         larger than this gets a chunk of its own size. */
} gsp_arena_config;

/* A position in an arena, from gsp_arena_mark(). Fields are private. */
typedef struct gsp_arena_mark {
  void *chunk_;
  size_t off_;
} gsp_arena_mark;

typedef struct gsp_arena_stats {
  uint64_t used;     /* bytes handed out and not reset (with alignment padding) */
  uint64_t peak;     /* highest `used` */
  uint64_t reserved; /* bytes of chunks held, spare chunks included */
  uint64_t chunks;   /* chunks held, spare chunks included */
  uint64_t allocs;   /* allocations since create */
} gsp_arena_stats;

/* cfg may be NULL (all defaults). Errors: GSP_ENOMEM. The first chunk is
 * allocated at the first allocation. */
GSP_API int gsp_arena_create(const gsp_arena_config *cfg, gsp_arena **out);
/* Free every chunk. NULL-safe. */
GSP_API void gsp_arena_destroy(gsp_arena *a);

/* size bytes aligned to align (a power of two, 0 = 16), or NULL when out of
 * memory or align is not a power of two. Contents are undefined. */
GSP_API void *gsp_arena_alloc(gsp_arena *a, size_t size, size_t align);

/* The current position, to return to with gsp_arena_reset_to(). */
GSP_API gsp_arena_mark gsp_arena_mark_get(const gsp_arena *a);
/*
 * Free everything allocated after mark m. Marks nest like scopes: resetting
 * to m invalidates every mark taken after m, and every pointer allocated
 * after it. Chunks after m's chunk are kept as spares for reuse.
 */
GSP_API void gsp_arena_reset_to(gsp_arena *a, gsp_arena_mark m);
/* Free everything allocated (chunks are kept as spares). */
GSP_API void gsp_arena_reset(gsp_arena *a);
/* Free the spare chunks; returns how many. */
GSP_API size_t gsp_arena_trim(gsp_arena *a);
GSP_API void gsp_arena_stats_get(const gsp_arena *a, gsp_arena_stats *out);

#ifdef __cplusplus
}
#endif

#endif /* GSPERF_MEM_H */
