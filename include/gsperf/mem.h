/*
 * gsperf/mem.h - object pools, arenas, memory-pressure monitor and reclaim.
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
 * Give the calling thread's cached objects back to the depot; then release
 * every slab none of whose objects is live or in a thread cache (running
 * the dtor on each of its constructed objects); slabs with an object out
 * stay. Other threads' caches are left alone (they go back when those
 * threads exit or trim). Costs O(free objects x log slabs) under the
 * pool's lock. Returns the number of slabs released.
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

/* ---- memory pressure and reclaim ------------------------------------------ */
/*
 * Pressure monitor (gsp_mempressure). Each sample reads RSS
 * (<proc_root>/self/statm), heap in use (mallinfo2), the process's memory
 * cgroup (v2: memory.max, memory.current, memory.events; else v1:
 * memory.limit_in_bytes, memory.usage_in_bytes, where >= 2^62 means no
 * limit) and, where present, PSI (<proc_root>/pressure/memory). The
 * effective limit is the smallest of cfg.max_memory_mb, the cgroup limit
 * and physical memory (MemTotal, read at create); usage ratio = RSS /
 * effective limit. The ratio drives a level NORMAL / WARNING / CRITICAL
 * with hysteresis: a level is entered at its threshold and left only when
 * the ratio falls `hysteresis` below it. Each change of level is an event,
 * kept in a bounded history and passed to cfg.on_event.
 *
 * Reclaim ("GC"): hosts register reclaimers. A sample decides whether to
 * reclaim by cfg.gc_strategy (THRESHOLD: usage passed gc_threshold_mb or
 * the level is WARNING or above; PERIODIC: gc_interval_ms passed since the
 * last reclaim; ADAPTIVE: PSI "some avg10" rose by psi_rise points since
 * the previous sample, or, without PSI, as THRESHOLD). CRITICAL always
 * reclaims, whatever the strategy. cfg.mem_strategy sets how much to shed:
 * down to 0.75 (CONSERVATIVE), 0.65 (BALANCED) or 0.5 (AGGRESSIVE) of the
 * effective limit; AGGRESSIVE also calls malloc_trim(0) after the
 * reclaimers, which can take seconds on a large fragmented heap (measured:
 * about 3 s for 200 MB) and runs on the sampling thread.
 *
 * Thread safety: every function may be called from any thread at once,
 * except destroy (last call, no race with any other). The monitor thread
 * (start/stop) and gsp_mempressure_sample_now() may sample at the same
 * time: files are read in parallel, each sample's level update is atomic,
 * and reclaim passes are serialized. gsp_mem_reclaim_cache/_pool are as
 * thread-safe as the cache and pool calls they make (any thread).
 */

typedef struct gsp_mempressure gsp_mempressure;

typedef enum gsp_mem_level {
  GSP_MEM_NORMAL = 0,
  GSP_MEM_WARNING = 1,
  GSP_MEM_CRITICAL = 2,
} gsp_mem_level;

typedef enum gsp_gc_strategy {
  GSP_GC_THRESHOLD = 0,
  GSP_GC_PERIODIC = 1,
  GSP_GC_ADAPTIVE = 2,
} gsp_gc_strategy;

typedef enum gsp_mem_strategy {
  GSP_MEM_BALANCED = 0,     /* default: shed to 0.65 of the limit */
  GSP_MEM_CONSERVATIVE = 1, /* shed to 0.75 */
  GSP_MEM_AGGRESSIVE = 2,   /* shed to 0.5, then malloc_trim(0) */
} gsp_mem_strategy;

/* One sample. Byte counts; 0 where the source is absent. */
typedef struct gsp_mem_sample {
  uint64_t t_ns;        /* cfg.clock time of the sample */
  uint64_t rss_bytes;   /* statm resident * page size */
  uint64_t heap_bytes;  /* mallinfo2 uordblks + hblkhd */
  int cgroup_version;   /* 0 = no memory cgroup found, 1 or 2 */
  uint64_t cg_limit;    /* 0 = no limit ("max", or v1 >= 2^62) */
  uint64_t cg_usage;    /* memory.current / memory.usage_in_bytes */
  uint64_t cg_high;     /* v2 memory.events "high" */
  uint64_t cg_max;      /* v2 memory.events "max" */
  uint64_t cg_oom_kill; /* v2 memory.events "oom_kill" */
  uint64_t phys_bytes;  /* MemTotal */
  uint64_t limit_bytes; /* effective limit */
  double ratio;         /* rss_bytes / limit_bytes */
  bool psi_present;
  double psi_some_avg10; /* percent */
  double psi_full_avg10;
  gsp_mem_level level; /* after this sample */
  unsigned errors;     /* files or fields that could not be read */
} gsp_mem_sample;

typedef struct gsp_mem_event {
  uint64_t t_ns;
  gsp_mem_level from, to;
  uint64_t rss_bytes, limit_bytes;
  double ratio;
} gsp_mem_event;

/* Called on the sampling thread (the monitor's, or the caller of
 * sample_now), with no monitor lock held. ev is valid during the call. */
typedef void (*gsp_mem_event_fn)(void *user, const gsp_mem_event *ev);

/*
 * A reclaimer: free what it can, about bytes_wanted (0 = whatever is cheap),
 * and return an estimate of the bytes freed. Runs on the sampling thread
 * with the monitor's reclaim lock held (reclaim passes are serialized): it
 * must not call gsp_mempressure_add_reclaimer or sample_now on the same
 * monitor. Reclaimers run in registration order; below CRITICAL the pass
 * stops once the estimates reach bytes_wanted.
 */
typedef size_t (*gsp_mem_reclaim_fn)(void *user, gsp_mem_level level, size_t bytes_wanted);

typedef struct gsp_mempressure_config {
  uint64_t max_memory_mb;           /* 0 = no configured cap */
  double memory_warning_threshold;  /* 0 = 0.8 */
  double memory_critical_threshold; /* 0 = 0.9; must be > warning */
  double hysteresis;                /* 0 = 0.05 (ratio points) */
  unsigned interval_ms;             /* monitor thread period; 0 = 1000 */
  gsp_gc_strategy gc_strategy;
  gsp_mem_strategy mem_strategy;
  uint64_t gc_threshold_mb;  /* THRESHOLD: also reclaim above this RSS; 0 = off */
  unsigned gc_interval_ms;   /* PERIODIC; 0 = 60000 */
  double psi_rise;           /* ADAPTIVE; 0 = 1.0 percentage point */
  unsigned history;          /* events kept; 0 = 64 */
  const char *proc_root;     /* copied; NULL = "/proc" */
  const char *cgroup_root;   /* copied; NULL = "/sys/fs/cgroup" */
  gsp_mem_event_fn on_event; /* may be NULL */
  void *event_user;
  struct gsp_metrics *metrics; /* optional, registered at create (monitors
                                  on one registry share them; the last
                                  sample wins): gauges gsp_mem_rss_bytes,
                                  _heap_bytes, _limit_bytes (effective),
                                  _usage_ratio, _pressure_level (0/1/2), and,
                                  only while present, _psi_some_avg10,
                                  _cgroup_limit_bytes, _cgroup_usage_bytes;
                                  counters gsp_mem_reclaims_total,
                                  gsp_mem_reclaimed_bytes_total (reclaimers'
                                  estimates) and the events
                                  gsp_mem_level_changes_total{level=
                                  "normal"|"warning"|"critical"} */
  gsp_clock clock;             /* zero = gsp_now_ns() */
} gsp_mempressure_config;

typedef struct gsp_mempressure_stats {
  uint64_t samples;
  uint64_t sample_errors;   /* samples with at least one unreadable source */
  uint64_t events;          /* level changes */
  uint64_t reclaims;        /* reclaim passes */
  uint64_t reclaimed_bytes; /* sum of reclaimer estimates */
  uint64_t trims;           /* malloc_trim calls */
} gsp_mempressure_stats;

/*
 * Create a monitor (not started). Reads <proc_root>/meminfo and
 * <proc_root>/self/cgroup to find physical memory and the cgroup
 * directory. Errors: GSP_EINVAL (cfg NULL, thresholds not in (0, 1] or
 * warning >= critical), GSP_EIO (MemTotal unreadable and no
 * max_memory_mb), GSP_EEXIST (a gsp_mem_* metric name registered with
 * another type), GSP_ENOMEM.
 */
GSP_API int gsp_mempressure_create(const gsp_mempressure_config *cfg, gsp_mempressure **out);
/* Stop the thread if running, free everything. NULL-safe. */
GSP_API void gsp_mempressure_destroy(gsp_mempressure *mp);
/* Start the monitor thread (samples at once, then every interval_ms).
 * Errors: GSP_ESTATE (running), GSP_ESYS. */
GSP_API int gsp_mempressure_start(gsp_mempressure *mp);
/* Wake and join the thread; returns at once (a sample in progress ends
 * first). No-op when not running. Must not be called from a callback. */
GSP_API void gsp_mempressure_stop(gsp_mempressure *mp);
/*
 * Take one sample now on the calling thread (state machine, events,
 * reclaim included). out may be NULL. Returns 0, or GSP_EIO / GSP_EFORMAT
 * when a source could not be read or parsed (the sample is still taken
 * from the rest; gsp_mempressure_errmsg names the file and field).
 */
GSP_API int gsp_mempressure_sample_now(gsp_mempressure *mp, gsp_mem_sample *out);
/* The last sample (zeroes before the first). */
GSP_API void gsp_mempressure_last(gsp_mempressure *mp, gsp_mem_sample *out);
GSP_API gsp_mem_level gsp_mempressure_level(gsp_mempressure *mp);
GSP_API void gsp_mempressure_stats_get(gsp_mempressure *mp, gsp_mempressure_stats *out);
/* Copy up to cap events, oldest first; returns how many were copied. */
GSP_API size_t gsp_mempressure_history(gsp_mempressure *mp, gsp_mem_event *out, size_t cap);
/* The last read or parse error ("path: field F why"); "" if none. The
 * string is copied into buf (NUL-terminated, cap > 0). */
GSP_API void gsp_mempressure_errmsg(gsp_mempressure *mp, char *buf, size_t cap);
/* Register a reclaimer; name is copied. Errors: GSP_EINVAL, GSP_ENOMEM. */
GSP_API int gsp_mempressure_add_reclaimer(gsp_mempressure *mp, const char *name,
                                          gsp_mem_reclaim_fn fn, void *user);
/*
 * Unregister the first reclaimer registered under name (names need not be
 * unique; remove once per add). Waits for a reclaim pass in progress to
 * end: when it returns, the reclaimer is not running and will not run
 * again, so its object may be freed. Must not be called from a reclaimer.
 * Errors: GSP_EINVAL (NULL), GSP_ENOENT (no reclaimer of that name).
 */
GSP_API int gsp_mempressure_remove_reclaimer(gsp_mempressure *mp, const char *name);
GSP_API const char *gsp_mem_level_name(gsp_mem_level level);
/* The share of the limit a strategy sheds down to (0.75, 0.65, 0.5). */
GSP_API double gsp_mem_strategy_target(gsp_mem_strategy s);

/*
 * Ready reclaimers; user is the object. They use public APIs only.
 * Cache (user = gsp_cache *): drops expired entries (gsp_cache_expire),
 * then, below CRITICAL, evicts in policy order until bytes_wanted are gone
 * (gsp_cache_shrink); at CRITICAL it evicts everything. Returns the bytes
 * freed.
 * Pool (user = gsp_pool *): gsp_pool_trim, which releases every slab none
 * of whose objects is live or cached by another thread (see
 * gsp_pool_trim). Returns the drop in slab bytes.
 */
GSP_API size_t gsp_mem_reclaim_cache(void *cache, gsp_mem_level level, size_t bytes_wanted);
GSP_API size_t gsp_mem_reclaim_pool(void *pool, gsp_mem_level level, size_t bytes_wanted);

#ifdef __cplusplus
}
#endif

#endif /* GSPERF_MEM_H */
