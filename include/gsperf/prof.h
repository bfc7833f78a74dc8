/*
 * gsperf/prof.h - the profiler: CPU sampling of every thread, function
 * timing zones, and the reports made from them (pprof profile.proto,
 * FlameGraph collapsed stacks, an interactive SVG flame graph, a text top
 * report, a JSON summary).
 *
 * CPU sampling (gsp_prof with GSP_PROF_CPU). Every thread of the process
 * is sampled once per 1/hz seconds of user CPU it burns, by default from a
 * perf event on the thread's task clock that writes each sample (the
 * frame-pointer chain, registers, the top 2 KiB of the stack) into a ring
 * mapped into the process: no signal, nothing runs in the sampled thread;
 * the collector completes the first frames from DWARF CFI (libunwind,
 * loaded when sampling starts), so a leaf without a frame pointer still
 * gets its caller. Where the ring is refused, the event signals the thread
 * (SIGPROF) and the handler only captures (registers, a window of the
 * stack through one process_vm_readv, the kernel's frame-pointer chain)
 * into a lock-free queue, with no lock and no allocation; the collector
 * unwinds; where
 * perf events are not allowed (or force_timers is set), a POSIX timer on
 * the thread's CPU-time clock (timer_create on CLOCK_THREAD_CPUTIME_ID with
 * SIGEV_THREAD_ID) does the signalling; it is checked on the kernel tick,
 * so above the tick rate (250 Hz here) a sample stands for several periods
 * (the timer's overrun count): times stay right, the number of distinct
 * stacks seen does not grow. GSP_PROF_SAMPLER=ring|signal|timer in the
 * environment forces a source. (Under ThreadSanitizer, which defers
 * signals, a signalled sample is the interrupted pc alone.) A collector
 * thread drains the rings (woken when one is half full, at the latest
 * every 50 ms), finds new threads (/proc/self/task), arms their sources
 * and aggregates the stacks (and, with raw_path, appends them to a file as
 * it goes, so a process that crashes or is killed leaves what was gathered
 * up to the last fraction of a second). Symbols (function, file, line) are
 * looked up after the fact with libdw, for the program, PIE or not, and
 * its shared libraries. One CPU profile at a time per process (the signal
 * is process-wide): a second start returns GSP_EBUSY. The signal and timer
 * sources signal with a real-time signal (gsp_prof_sample_signal(), not
 * SIGPROF, which programs such as GNU sort handle themselves); the
 * profiler owns it while a CPU profile runs.
 *
 * Zones (always on, process-wide). A zone is a named region timed with the
 * TSC: gsp_prof_zone_begin()/gsp_prof_zone_end() around it, or
 * GSP_PROF_SCOPE("name") at the top of a block (ends when the block is
 * left). Zones nest; per zone the process keeps the call count, total time,
 * self time (total minus the zones nested in it on the same thread), the
 * maximum and a log-linear histogram for percentiles. A begin/end pair costs
 * about 20 ns here, 18-19 of them the two TSC reads (bench/prof measures it).
 *
 * Thread safety: gsp_prof_create/start/stop/destroy/errmsg on one profile
 * must not race with each other; gsp_prof_report_create may be called from
 * any one thread while the profile runs (it takes a snapshot). A report is
 * immutable: its functions may be called from any thread at once.
 * Zone calls are thread-safe and may be called from any thread at any time;
 * gsp_prof_zone_end must be called on the thread that began the zone.
 * gsp_prof_zones_get may run while other threads record (their latest few
 * zones may or may not be counted). gsp_prof_zones_reset must not race
 * with zone calls on other threads.
 *
 * A heap profile (gsp_prof_heap) is immutable once loaded, like a report.
 *
 * Ownership: strings and arrays returned by a report or heap profile
 * belong to it and live until its destroy; gsp_prof_zones_get's array is
 * the caller's (free with gsp_free; NULL when there are no zones), the
 * names in it are the callers' site literals.
 */
#ifndef GSPERF_PROF_H
#define GSPERF_PROF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "gsperf/common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- profiles ------------------------------------------------------------ */

/*
 * What a profile gathers (bits).
 *
 * MEMORY and IO in-process. While such a profile runs, the process's
 * calls of malloc, calloc, realloc, free, posix_memalign, aligned_alloc,
 * memalign, valloc (MEMORY) and of read, write, pread, pwrite, readv,
 * writev, open, openat, close, fsync, fdatasync, send, recv (IO) are
 * redirected to the profiler by rewriting the GOT/PLT slots through which
 * every loaded object calls them (libraries dlopen'ed meanwhile too);
 * stop puts every slot back. The library exports none of these symbols.
 * Calls that do not go through such a slot are not seen: the C library's
 * internal I/O (stdio's buffer reads and writes), calls inside one object
 * to its own functions, the dynamic loader's allocations, and a function
 * pointer taken before start. Live blocks are kept in an address table,
 * so a block allocated before start and freed during the profile, or
 * allocated during it and freed after stop, is handled (the first is not
 * counted, the second stays live in the results). One MEMORY and one IO
 * profile at a time per process (GSP_EBUSY). With heap_sample_bytes 0
 * (every allocation), stop runs a leak check: a reachability scan of the
 * objects' data, and of the stacks, registers and TLS of every thread,
 * stopped for the scan by a signal (SIGRTMAX-3; a thread that blocks it
 * is not scanned, see gsp_prof_stats.threads_unscanned). Results:
 * gsp_prof_heap_get (sites, peak, leaks) and gsp_prof_io_get (by path and
 * call). Under AddressSanitizer the hooks wrap ASan's own allocator.
 */
enum {
  GSP_PROF_CPU = 1u << 0,
  GSP_PROF_MEMORY = 1u << 1,
  GSP_PROF_IO = 1u << 2,
  GSP_PROF_FUNCTION = 1u << 3,
};

typedef struct gsp_prof_config {
  unsigned types;             /* GSP_PROF_* bits; 0 = GSP_PROF_CPU | GSP_PROF_FUNCTION */
  unsigned hz;                /* samples per CPU-second per thread, 1..10000; 0 = 99 */
  unsigned max_depth;         /* frames kept per sample, 1..128; 0 = 64 */
  double bottleneck_pct;      /* a function whose self share reaches this is a
                                 bottleneck in the report; 0 = 5.0 */
  const char *raw_path;       /* optional: append every sample to this file as
                                 it is drained (and the memory map to
                                 raw_path".maps"), for gsp_prof_report_load */
  bool force_timers;          /* sample from POSIX CPU-time timers even where
                                 perf events are allowed (see below) */
  uint64_t heap_sample_bytes; /* MEMORY: track one allocation per this many
                                 bytes a thread allocates, no leak check;
                                 0 = every allocation, leak check at stop */
  unsigned io_sample;         /* IO: time about one call in this many per
                                 thread, file and call (the first of each
                                 always); counts and bytes stay exact, total
                                 and percentiles are estimates. 1 = time
                                 every call; 1..GSP_PROF_IO_SAMPLE_MAX,
                                 0 = 16 */
} gsp_prof_config;

#define GSP_PROF_IO_SAMPLE_MAX 65536u

typedef struct gsp_prof gsp_prof;

GSP_API int gsp_prof_create(const gsp_prof_config *cfg, gsp_prof **out);

/* The signal the signal and timer sources deliver to sampled threads:
 * SIGRTMAX - 7 (a real-time signal; SIGPROF stays the program's). A thread
 * that blocks it is not sampled on those sources. Thread-safe. */
GSP_API int gsp_prof_sample_signal(void);
/* Stops the profile if it runs. NULL-safe. */
GSP_API void gsp_prof_destroy(gsp_prof *p);
/* Detail of the last failure on p ("" if none); valid until the next call. */
GSP_API const char *gsp_prof_errmsg(const gsp_prof *p);
/* GSP_EBUSY: another CPU profile runs in this process; GSP_ESTATE: already
 * started; GSP_ESYS: a timer, the signal or the collector thread failed;
 * GSP_EIO: raw_path cannot be written. A fork child (no exec) samples
 * itself into $GSP_PROF_FORK_DIR, or else the folder of raw_path, as
 * cpu.<pid>.raw; with neither it is not sampled. */
GSP_API int gsp_prof_start(gsp_prof *p);
/* Stops sampling and drains what was captured. GSP_ESTATE if not started. */
GSP_API int gsp_prof_stop(gsp_prof *p);

/*
 * The CPU profile running in this process (started with gsp_prof_start,
 * not yet stopped), for code that did not start it, e.g. a report: runs
 * fn(profile, user) while holding a lock that gsp_prof_stop (and so
 * gsp_prof_destroy) takes first, so the profile stays valid during fn.
 * fn may call gsp_prof_report_create and gsp_prof_stats_get on it, never
 * stop or destroy it. Returns fn's result, or GSP_ENOENT when no CPU
 * profile runs. (A profile of the preload library, `gsperf profile`, is
 * in the preload's own copy of this code: find it by its raw file,
 * $GSP_PROF_DIR/cpu.<pid>.raw.) Thread-safe.
 */
GSP_API int gsp_prof_with_active(int (*fn)(gsp_prof *p, void *user), void *user);

typedef struct gsp_prof_stats {
  uint64_t samples;           /* samples aggregated */
  uint64_t dropped;           /* samples lost because the ring was full */
  uint64_t threads;           /* threads that got a timer */
  uint64_t bad_unwind;        /* samples whose unwinding stopped with an error
                                 (kept, with the frames found) */
  uint64_t threads_unscanned; /* MEMORY leak check: threads that did not
                                 stop for the scan (their stacks unscanned) */
} gsp_prof_stats;
GSP_API void gsp_prof_stats_get(const gsp_prof *p, gsp_prof_stats *out);

/* ---- reports ------------------------------------------------------------- */

typedef struct gsp_prof_report gsp_prof_report;

typedef struct gsp_prof_func {
  const char *name; /* function, or "module+0xOFFSET" when it has no symbol */
  const char *file; /* source file of its first sampled line, or "" */
  unsigned line;    /* that line, or 0 */
  uint64_t self;    /* samples with this function as the leaf */
  uint64_t total;   /* samples with this function anywhere on the stack */
  double self_pct;  /* self / all samples * 100 */
  double total_pct;
} gsp_prof_func;

/* A symbolized snapshot of p's samples (p may still run). */
GSP_API int gsp_prof_report_create(gsp_prof *p, gsp_prof_report **out);
/*
 * A report from a file written with raw_path (and its raw_path".maps"),
 * e.g. by a process profiled through the preload library. GSP_ENOENT when
 * either file is missing, GSP_EFORMAT when the raw file is not one.
 */
GSP_API int gsp_prof_report_load(const char *raw_path, double bottleneck_pct,
                                 gsp_prof_report **out);
GSP_API void gsp_prof_report_destroy(gsp_prof_report *r);

GSP_API uint64_t gsp_prof_report_samples(const gsp_prof_report *r);
/* Functions sorted by self samples (then total), most first. */
GSP_API size_t gsp_prof_report_functions(const gsp_prof_report *r, const gsp_prof_func **out);

/* Writers; GSP_EIO when the file cannot be written (errno kept). */
GSP_API int gsp_prof_report_write_pprof(const gsp_prof_report *r, const char *path);
GSP_API int gsp_prof_report_write_collapsed(const gsp_prof_report *r, const char *path);
GSP_API int gsp_prof_report_write_flame(const gsp_prof_report *r, const char *path,
                                        const char *title);
/* Text: top `top` functions, hottest call paths, bottlenecks, zones. */
GSP_API int gsp_prof_report_write_text(const gsp_prof_report *r, FILE *f, size_t top);
/* JSON: {"samples":N,"hz":H,"functions":[{name,self_pct,total_pct,file,line}],
 * "bottlenecks":[name...],"hot_paths":[{stack:[...],pct}]}. */
GSP_API int gsp_prof_report_write_json(const gsp_prof_report *r, FILE *f, size_t top);

/* ---- several processes (a `gsperf profile` output directory) ------------
 * A program run by `gsperf profile` may become several processes (a shell
 * script, make, a test runner): each writes cpu.<pid>.raw (+ .maps) into
 * the directory. gsp_prof_multi_load reads every one of them, symbolizes
 * each against its own memory map, and merges them: functions are summed
 * by name and source file over all processes (shares of all samples; the
 * C library's memcpy is one function whoever called it, two programs'
 * own mains are two), every sample keeps its process. A file that cannot be read (garbage, a
 * foreign file, a missing map) is skipped with a problem naming it, and the others are still read;
 * a file whose last record was cut short (a killed writer) is read up to its last whole record,
 * with a problem saying so.
 *
 * Thread safety: a multi-process report is immutable once loaded except
 * for gsp_prof_multi_set_exit, which must not race with any other call on
 * it; the other calls may run from any threads at once. Ownership: every
 * string and array returned lives until gsp_prof_multi_destroy. */

typedef struct gsp_prof_multi gsp_prof_multi;

#define GSP_PROF_EXIT_UNKNOWN (-1)

typedef struct gsp_prof_process {
  long pid;
  const char *exe;  /* the program file (its first file mapping), or "" */
  const char *comm; /* base name of exe, or "pid N" */
  const char *file; /* the raw file it was read from (path as found) */
  uint64_t samples; /* samples of all its threads */
  unsigned hz;      /* its sampling rate */
  bool truncated;   /* its last record was cut short (see the problems) */
  int exit;         /* shell-style status (128+N for signal N), or
                       GSP_PROF_EXIT_UNKNOWN; see gsp_prof_multi_set_exit */
} gsp_prof_process;

/* A merged function: gsp_prof_func over all processes, and which ones. */
typedef struct gsp_prof_multi_func {
  gsp_prof_func f;
  size_t nprocs;       /* processes that sampled it */
  const size_t *procs; /* their indices in gsp_prof_multi_processes */
} gsp_prof_multi_func;

/* Reads DIR/cpu.<pid>.raw for every pid. GSP_ENOENT: DIR cannot be
 * opened; GSP_ENOMEM. Files that fail are problems, not errors: a
 * directory without a readable file gives a report with no process. */
GSP_API int gsp_prof_multi_load(const char *dir, double bottleneck_pct, gsp_prof_multi **out);
GSP_API void gsp_prof_multi_destroy(gsp_prof_multi *m);
/* Processes by samples, most first (then by pid). */
GSP_API size_t gsp_prof_multi_processes(const gsp_prof_multi *m, const gsp_prof_process **out);
/* One message per file skipped or cut short, each naming the file. */
GSP_API size_t gsp_prof_multi_problems(const gsp_prof_multi *m, const char *const **out);
/* The single-process report of process i (as gsp_prof_report_load). */
GSP_API const gsp_prof_report *gsp_prof_multi_report(const gsp_prof_multi *m, size_t i);
GSP_API uint64_t gsp_prof_multi_samples(const gsp_prof_multi *m);
/* Merged functions sorted by self samples (then total), most first. */
GSP_API size_t gsp_prof_multi_functions(const gsp_prof_multi *m, const gsp_prof_multi_func **out);
/* Records the exit status of process pid (false: no such process). */
GSP_API bool gsp_prof_multi_set_exit(gsp_prof_multi *m, long pid, int status);

/* Writers, as the single-process ones. pprof: every sample carries the
 * labels pid (number), comm and exe (strings), so `go tool pprof
 * -tagfocus=pid=N` or `-tags` split it. Collapsed stacks and the flame
 * graph put a root frame "comm [pid]" under each process's stacks. The
 * text and JSON forms list the processes (pid, exe, samples, exit), the
 * merged top functions with their pids, hot paths with their process,
 * the bottlenecks and the problems. */
GSP_API int gsp_prof_multi_write_pprof(const gsp_prof_multi *m, const char *path);
GSP_API int gsp_prof_multi_write_collapsed(const gsp_prof_multi *m, const char *path);
GSP_API int gsp_prof_multi_write_flame(const gsp_prof_multi *m, const char *path,
                                       const char *title);
GSP_API int gsp_prof_multi_write_text(const gsp_prof_multi *m, FILE *f, size_t top);
/* {"samples","hz","processes":[{pid,exe,comm,samples,pct,kernel_pct,exit,
 * signal,file,truncated}],"functions":[{name,self_pct,total_pct,file,line,pids}],
 * "bottlenecks":[{name,self_pct,pids}],"hot_paths":[{pct,pid,stack}],
 * "problems":[...]}; exit is null when unknown. */
GSP_API int gsp_prof_multi_write_json(const gsp_prof_multi *m, FILE *f, size_t top);

/* ---- heap profiles (from the preload library) ----------------------------
 * The preload library of `gsperf profile --heap/--leaks` writes, at the
 * program's exit, one file per process with each allocation site's
 * statistics (and, tracking every allocation, its leaks found by a
 * reachability scan); these calls read and symbolize it. */

typedef struct gsp_prof_heap gsp_prof_heap;

typedef struct gsp_prof_heap_site {
  const char *const *stack; /* function names, the allocating one first */
  size_t depth;
  uint64_t allocs, alloc_bytes;    /* tracked allocations made here */
  uint64_t live_bytes, live_count; /* still allocated at exit */
  uint64_t peak_bytes;             /* most live bytes at once */
  uint64_t leak_count, leak_bytes; /* unreachable at exit */
  long pid;                        /* the process (from the file name), 0 if unknown */
  const char *comm;                /* its program's base name, or "" */
} gsp_prof_heap_site;

/* GSP_ENOENT: the file or its .maps is missing; GSP_EFORMAT: not one. */
GSP_API int gsp_prof_heap_load(const char *raw_path, gsp_prof_heap **out);
/* Every DIR/heap.<pid>.raw merged into one heap profile, each site with
 * its pid; a file that cannot be read is skipped and named in a problem
 * (a last line cut short is dropped, with a problem). GSP_ENOENT: DIR
 * cannot be opened. A directory without a readable file gives an empty
 * profile (gsp_prof_heap_processes() == 0). */
GSP_API int gsp_prof_heap_load_dir(const char *dir, gsp_prof_heap **out);
/* Processes whose heap file was read. */
GSP_API size_t gsp_prof_heap_processes(const gsp_prof_heap *h);
/* Messages naming each file skipped or cut short. */
GSP_API size_t gsp_prof_heap_problems(const gsp_prof_heap *h, const char *const **out);
GSP_API void gsp_prof_heap_destroy(gsp_prof_heap *h);
/* Sites by peak bytes, most first. */
GSP_API size_t gsp_prof_heap_sites(const gsp_prof_heap *h, const gsp_prof_heap_site **out);
/* Sites with leaks, by leaked bytes, most first. */
GSP_API size_t gsp_prof_heap_leaks(const gsp_prof_heap *h, const gsp_prof_heap_site **out);
/* true when every allocation was tracked and the leak check ran. */
GSP_API bool gsp_prof_heap_leaks_checked(const gsp_prof_heap *h);
/* Sampling interval in bytes (0 = every allocation). */
GSP_API uint64_t gsp_prof_heap_sample_bytes(const gsp_prof_heap *h);
GSP_API int gsp_prof_heap_write_text(const gsp_prof_heap *h, FILE *f, size_t top);
/* pprof profile.proto, gzipped: alloc_objects, alloc_space, inuse_objects,
 * inuse_space (live at exit) per allocation stack. GSP_EIO on write. */
GSP_API int gsp_prof_heap_write_pprof(const gsp_prof_heap *h, const char *path);
/* JSON array [{"bytes":B,"count":N,"stack":["f",...],"pid":P,"comm":C}]
 * of the leaks (pid and comm when the file name gave the pid). With
 * several processes, the text form has a pid column and pprof samples a
 * pid label. */
GSP_API int gsp_prof_heap_write_leaks_json(const gsp_prof_heap *h, FILE *f);

/* ---- in-process heap and I/O results --------------------------------------
 * From a profile with GSP_PROF_MEMORY / GSP_PROF_IO, while it runs (a
 * snapshot) or after stop (until the next start). GSP_ESTATE when p never
 * ran such a profile or another profile has taken the hooks since.
 * Thread safety: from any thread, but not racing with start/stop/destroy
 * of p. The hooks themselves are thread-safe and reentrant: any thread
 * may allocate or do I/O while a profile starts, runs or stops. */

/* Writes p's heap sites (and leaks) in the preload's heap file format to
 * path (via path.tmp and rename) and the memory map to path".maps", for
 * gsp_prof_heap_load. GSP_EIO when they cannot be written. */
GSP_API int gsp_prof_heap_save(gsp_prof *p, const char *path);
/* p's heap sites and leaks, symbolized (through a temporary file pair in
 * $TMPDIR or /tmp, removed before return). */
GSP_API int gsp_prof_heap_get(gsp_prof *p, gsp_prof_heap **out);

typedef struct gsp_prof_io_stat {
  const char *path;      /* file, "pipe:[N]", "socket:[N]", or "(other)" */
  const char *call;      /* "read", "write", "pread", ... */
  uint64_t count, bytes; /* exact: every call */
  uint64_t total_ns;     /* estimated from the timed calls (exact when
                            io_sample is 1): their mean x count */
  double p50_ns, p99_ns; /* of the timed calls, from power-of-two buckets */
  uint64_t timed;        /* calls timed: count with io_sample 1, about
                            count / io_sample otherwise (the first call of
                            each thread, file and call always) */
} gsp_prof_io_stat;

/* p's I/O by path and call; *out from gsp_malloc (the caller frees it),
 * its strings belong to the process and stay valid until it exits.
 * Counts and bytes are exact; with io_sample N > 1 only about one call in
 * N per thread, file and call is timed (the gap to the next one drawn at
 * random, mean N, so periodic patterns are not aliased; the first call
 * always), total_ns is their mean times count and p50/p99 are theirs. */
GSP_API int gsp_prof_io_get(gsp_prof *p, gsp_prof_io_stat **out, size_t *n);
/* The same as a text table. */
GSP_API int gsp_prof_io_write_text(gsp_prof *p, FILE *f);

/* ---- zones --------------------------------------------------------------- */

/* A zone's static site; name must outlive the process's use of the zone.
 * id_ is private (0 until the first begin registers the site). */
typedef struct gsp_prof_zone_site {
  const char *name;
  uint32_t id_;
} gsp_prof_zone_site;

GSP_API void gsp_prof_zone_begin(gsp_prof_zone_site *site);
/* Ends the innermost zone of this thread, which must be site's. */
GSP_API void gsp_prof_zone_end(gsp_prof_zone_site *site);
/* For GSP_PROF_SCOPE: begins the zone and returns site. */
GSP_API gsp_prof_zone_site *gsp_prof_zone_enter(gsp_prof_zone_site *site);
GSP_API void gsp_prof_zone_leave(gsp_prof_zone_site **site);

#define GSP_PROF_CAT2_(a, b) a##b
#define GSP_PROF_CAT_(a, b) GSP_PROF_CAT2_(a, b)
/* Time the rest of the enclosing block as zone `name` (a string literal). */
#define GSP_PROF_SCOPE(name)                                                   \
  static gsp_prof_zone_site GSP_PROF_CAT_(gsp_zsite_, __LINE__) = {(name), 0}; \
  gsp_prof_zone_site *GSP_PROF_CAT_(gsp_zscope_, __LINE__)                     \
      __attribute__((cleanup(gsp_prof_zone_leave), unused)) =                  \
          gsp_prof_zone_enter(&GSP_PROF_CAT_(gsp_zsite_, __LINE__))

typedef struct gsp_prof_zone_stats {
  const char *name;
  uint64_t count;
  uint64_t total_ns, self_ns, max_ns;
  uint64_t p50_ns, p90_ns, p99_ns; /* from the histogram, within 1/8 */
  uint64_t mismatched;             /* ends that did not match the innermost begin */
} gsp_prof_zone_stats;

/* All zones seen so far, by total time, most first; *out from gsp_malloc. */
GSP_API int gsp_prof_zones_get(gsp_prof_zone_stats **out, size_t *n);
GSP_API void gsp_prof_zones_reset(void);

#ifdef __cplusplus
}
#endif

#endif /* GSPERF_PROF_H */
