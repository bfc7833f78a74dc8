/*
 * gsperf/common.h - what every gsperf module shares: status codes, the
 * allocator hooks, the monotonic clock, the logging sink, reference-counted
 * objects with weak references, and the version.
 *
 * Thread safety: every function here may be called from any thread, except
 * gsp_set_allocator() and gsp_log_set_sink(), which must be called before
 * any other gsperf call (or while no other thread is inside gsperf).
 *
 * Ownership: gsp_strerror() and gsp_err_name() return static strings.
 */
#ifndef GSPERF_COMMON_H
#define GSPERF_COMMON_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gsperf/version.h"

#ifdef __cplusplus
extern "C" {
#endif

#if defined(GSP_STATIC_DEFINE)
#define GSP_API
#elif defined(__GNUC__)
#define GSP_API __attribute__((visibility("default")))
#else
#define GSP_API
#endif

#if defined(__GNUC__)
#define GSP_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define GSP_PRINTF(f, a)
#endif

/*
 * Status codes. 0 is success, failures are negative. The numbers are part
 * of the ABI: a code never changes its number, new codes take new numbers.
 */
#define GSP_ERRNO_MAP(X)                              \
  X(OK, 0, "success")                                 \
  X(EINVAL, -1, "invalid argument")                   \
  X(ENOMEM, -2, "out of memory")                      \
  X(ENOENT, -3, "not found")                          \
  X(EEXIST, -4, "already exists")                     \
  X(ERANGE, -5, "buffer too small")                   \
  X(EIO, -6, "input/output error")                    \
  X(EFORMAT, -7, "malformed input")                   \
  X(ECORRUPT, -8, "corrupt data")                     \
  X(ENOTSUP, -9, "not supported")                     \
  X(ESTATE, -10, "operation not valid in this state") \
  X(EBUSY, -11, "resource busy")                      \
  X(ETIMEDOUT, -12, "timed out")                      \
  X(ECANCELED, -13, "canceled")                       \
  X(EOVERFLOW, -14, "value too large")                \
  X(ESYS, -15, "system call failed")                  \
  X(ENOSPC, -16, "no space left")                     \
  X(EREJECTED, -17, "rejected by policy")

typedef enum gsp_status {
#define GSP_ERR_ENUM_(name, num, text) GSP_##name = (num),
  GSP_ERRNO_MAP(GSP_ERR_ENUM_)
#undef GSP_ERR_ENUM_
} gsp_status;

/* Human text for a status code; "unknown error" for a number not in the map. */
GSP_API const char *gsp_strerror(int status);
/* The code's name, e.g. "GSP_ENOMEM"; "GSP_UNKNOWN" for a number not in the map. */
GSP_API const char *gsp_err_name(int status);

/*
 * Allocator hooks. Every allocation gsperf makes goes through these, so a
 * host can route memory to its own allocator and a test can fail the Nth
 * allocation. `malloc` and `realloc` return NULL on failure; `free` accepts
 * NULL. Passing NULL restores the C library's allocator.
 */
typedef struct gsp_allocator {
  void *(*malloc)(void *user, size_t size);
  void *(*realloc)(void *user, void *ptr, size_t size);
  void (*free)(void *user, void *ptr);
  void *user;
} gsp_allocator;

GSP_API void gsp_set_allocator(const gsp_allocator *a);
GSP_API void *gsp_malloc(size_t size);
GSP_API void *gsp_calloc(size_t n, size_t size);
GSP_API void *gsp_realloc(void *ptr, size_t size);
GSP_API void gsp_free(void *ptr);
/* A copy of the NUL-terminated string s from gsp_malloc, or NULL. */
GSP_API char *gsp_strdup(const char *s);

/* Monotonic time in nanoseconds (CLOCK_MONOTONIC); never goes backwards. */
GSP_API uint64_t gsp_now_ns(void);

/*
 * A clock a component can be given instead of gsp_now_ns(), so tests can
 * move time by hand. A NULL `now` means gsp_now_ns().
 */
typedef struct gsp_clock {
  uint64_t (*now)(void *user);
  void *user;
} gsp_clock;

/*
 * Logging. The library never writes to stdout or stderr on its own: every
 * message goes to the sink, and the default sink discards it. The sink is
 * called on the thread that logs, with no gsperf lock held; it must be
 * thread-safe when gsperf is used from several threads.
 */
typedef enum gsp_log_level {
  GSP_LOG_DEBUG = 0,
  GSP_LOG_INFO = 1,
  GSP_LOG_WARN = 2,
  GSP_LOG_ERROR = 3,
} gsp_log_level;

typedef void (*gsp_log_fn)(void *user, gsp_log_level level, const char *module, const char *msg);

GSP_API void gsp_log_set_sink(gsp_log_fn fn, void *user, gsp_log_level min_level);
GSP_API void gsp_log(gsp_log_level level, const char *module, const char *fmt, ...)
    GSP_PRINTF(3, 4);
GSP_API const char *gsp_log_level_name(gsp_log_level level);

/*
 * Reference-counted objects with weak references.
 *
 * A gsp_rc is a control block for an object owned elsewhere. It starts with
 * one strong reference. When the last strong reference is released, the
 * destructor runs (on the releasing thread) and then every watcher is told;
 * the control block itself lives until the last weak reference goes.
 *
 * All calls are thread-safe. A watcher callback runs on the thread that
 * released the last strong reference, while the control block's internal
 * lock is held: it must not call gsp_rc_watch() on the same object from
 * another thread and wait for it. gsp_rc_unwatch() called from another
 * thread waits until a running callback has returned, so the watcher's
 * memory may be freed as soon as gsp_rc_unwatch() returns.
 */
typedef struct gsp_rc gsp_rc;
typedef void (*gsp_rc_dtor)(void *obj, void *user);

typedef struct gsp_rc_watcher gsp_rc_watcher;
typedef void (*gsp_rc_dead_fn)(gsp_rc_watcher *w, void *user);
/* Caller-owned watcher node; the fields are private to gsperf. */
struct gsp_rc_watcher {
  gsp_rc_watcher *prev_;
  gsp_rc_watcher *next_;
  gsp_rc_dead_fn fn_;
  void *user_;
  int fired_;
};

/* A control block for obj with one strong reference; dtor may be NULL. */
GSP_API int gsp_rc_create(void *obj, gsp_rc_dtor dtor, void *user, gsp_rc **out);
GSP_API void gsp_rc_retain(gsp_rc *rc);
/* Drop a strong reference; the last one runs the destructor. */
GSP_API void gsp_rc_release(gsp_rc *rc);
/* Take a strong reference if the object is still alive. */
GSP_API bool gsp_rc_try_retain(gsp_rc *rc);
GSP_API bool gsp_rc_alive(const gsp_rc *rc);
/* The object; meaningful only while the caller holds a strong reference. */
GSP_API void *gsp_rc_get(const gsp_rc *rc);
GSP_API void gsp_rc_weak_retain(gsp_rc *rc);
GSP_API void gsp_rc_weak_release(gsp_rc *rc);
GSP_API uint32_t gsp_rc_strong_count(const gsp_rc *rc);
/*
 * Ask to be told when the object dies. Returns GSP_ESTATE if it is dead
 * already (fn is then not called). The caller must hold a strong or weak
 * reference until gsp_rc_unwatch() or the callback.
 */
GSP_API int gsp_rc_watch(gsp_rc *rc, gsp_rc_watcher *w, gsp_rc_dead_fn fn, void *user);
/* Stop watching; a no-op if the callback has already run. */
GSP_API void gsp_rc_unwatch(gsp_rc *rc, gsp_rc_watcher *w);

#ifdef __cplusplus
}
#endif

#endif /* GSPERF_COMMON_H */
