/* prof_int.h - internals shared by the profiler's files (src/prof). */
#ifndef GSP_PROF_INT_H
#define GSP_PROF_INT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "gsperf/prof.h"

#define GSP__PROF_MAX_DEPTH 128

/* ---- sampler (sampler*.c, sampler_int.h): sources, collector side ------- */

typedef struct gsp__sample {
  uint32_t weight; /* sampling periods this sample stands for (>= 1) */
  uint32_t depth;
  uint32_t flags;                    /* GSP__SAMPLE_* */
  uint64_t pcs[GSP__PROF_MAX_DEPTH]; /* pcs[0] the interrupted pc, then return addresses */
} gsp__sample;

enum { GSP__SAMPLE_BAD_UNWIND = 1 };

/* Installs the handler and arms nothing yet; GSP_EBUSY if in use.
 * force_timers: use POSIX CPU-time timers even where perf events work. */
int gsp__sampler_open(unsigned hz, unsigned max_depth, bool force_timers);
/* true when samples come from perf events, false for POSIX timers. */
bool gsp__sampler_uses_perf(void);
void gsp__sampler_close(void);
/* Arms timers for threads not yet known, disarms those gone; returns the
 * number of new threads or a negative status. Collector thread only. */
int gsp__sampler_scan_threads(pid_t self_tid);
/* Sleeps up to ms, less when a perf ring fills up or a sampled thread
 * creates a thread or exits. Collector thread only. */
void gsp__sampler_wait(unsigned ms);
/* Pops one sample into *out; false when none is waiting. One consumer. */
bool gsp__sampler_pop(gsp__sample *out);
uint64_t gsp__sampler_dropped(void);
uint64_t gsp__sampler_threads(void);
/* In a fork child: forget the parent's sampler (nothing is closed: the
 * events live in the parent's collector's own file table; no timer or
 * mapping is touched), so a new profile can start. */
void gsp__sampler_forget_after_fork(void);

/* ---- stack table (stacks.c) ---------------------------------------------- */

typedef struct gsp__stack {
  uint64_t count;
  uint32_t depth;
  uint32_t off; /* into the table's pcs */
} gsp__stack;

typedef struct gsp__stacks {
  gsp__stack *v; /* open addressing by hash, cap a power of two; depth 0 = empty */
  uint64_t *hash;
  size_t cap, n;
  uint64_t *pcs;
  size_t npcs, pcs_cap;
  uint64_t total;
} gsp__stacks;

void gsp__stacks_init(gsp__stacks *t);
void gsp__stacks_free(gsp__stacks *t);
int gsp__stacks_add(gsp__stacks *t, const uint64_t *pcs, uint32_t depth, uint64_t count);
int gsp__stacks_copy(gsp__stacks *dst, const gsp__stacks *src);

/* ---- raw sample files (stacks.c) ------------------------------------------
 * A raw file is a header (8-byte magic "GSPRAW1\n", u32 hz, u32 0) then
 * records {u32 magic 0x52535047, u32 weight, u32 depth, u32 flags,
 * u64 pcs[depth]}; a truncated last record (a killed writer) is ignored. */
int gsp__raw_write_header(int fd, unsigned hz);
/* Appends one record to buf (capacity cap, used *len); false if no room. */
bool gsp__raw_encode(char *buf, size_t cap, size_t *len, const gsp__sample *s);
int gsp__raw_read(const char *path, gsp__stacks *t, unsigned *hz);
/* Copies /proc/self/maps to path atomically (tmp + rename), with no heap
 * block or stdio stream live meanwhile (fork-safe from any thread). */
int gsp__maps_save(const char *path);

/* ---- symbols (symbol.c) -------------------------------------------------- */

typedef struct gsp__sym {
  const char *func; /* interned */
  const char *file; /* interned, "" if unknown */
  unsigned line;
  uint64_t map_start, map_limit, map_off; /* the mapping holding the pc */
  const char *map_file;
} gsp__sym;

typedef struct gsp__symtab gsp__symtab;
/* From a /proc/PID/maps text (maps files concatenated are fine). */
int gsp__symtab_create(const char *maps_text, size_t len, gsp__symtab **out);
void gsp__symtab_destroy(gsp__symtab *s);
/* pc is looked up as given (callers pass return address - 1). */
void gsp__symtab_lookup(gsp__symtab *s, uint64_t pc, gsp__sym *out);
/* Interns a string for the lifetime of s. */
const char *gsp__symtab_intern(gsp__symtab *s, const char *str);

/* ---- reports (report.c, pprof.c, flame.c) --------------------------------- */

typedef struct gsp__frame_info {
  uint64_t pc;   /* as looked up */
  uint32_t func; /* index into report funcs */
  unsigned line;
} gsp__frame_info;

struct gsp_prof_report {
  gsp__stacks stacks;
  gsp__symtab *sym;
  unsigned hz;
  double bottleneck_pct;
  gsp_prof_func *funcs; /* sorted */
  size_t nfuncs;
  uint32_t *frame_func;  /* per pcs[] slot: index into funcs */
  uint32_t *frame_loc;   /* per pcs[] slot: index into locs */
  gsp__frame_info *locs; /* unique pcs */
  size_t nlocs;
  gsp__sym *loc_sym; /* per loc */
};

int gsp__report_build(gsp_prof_report *r);
/* prof.c: copies p's stack table, rate and bottleneck share into r. */
int gsp__prof_snapshot(gsp_prof *p, gsp_prof_report *r);
/* Frame i of stack s, root first (i = 0 is the outermost caller). */
uint32_t gsp__report_func_at(const gsp_prof_report *r, const gsp__stack *s, uint32_t i);
/* Reads a whole file into a NUL-terminated gsp_malloc buffer. */
int gsp__read_file(const char *path, char **buf, size_t *len);

/* ---- GOT patching (got.c) -------------------------------------------------
 * Redirects every loaded object's calls of fns[i].name (JUMP_SLOT and
 * GLOB_DAT slots) to fns[i].hook; objects dlopen'ed later are patched
 * too. Groups are patched and restored independently. GSP_EBUSY: group
 * already patched; GSP_ENOSPC: too many functions. Not for hooks. */
typedef struct gsp__got_fn {
  const char *name;
  void *hook;
} gsp__got_fn;
enum { GSP__GOT_HEAP = 1, GSP__GOT_IO = 2 };
int gsp__got_patch(unsigned group, const gsp__got_fn *fns, size_t n);
/* Restores every slot of group that still holds its hook. */
void gsp__got_unpatch(unsigned group);
/* Slots of group currently patched (tests). */
size_t gsp__got_patched(unsigned group);

/* ---- reachability scan (heap_scan.c) ---------------------------------------
 * Marks the tracked blocks reachable from the roots (objects' writable
 * segments, every thread's stack, registers and TLS), with the other
 * threads stopped. The callbacks: quiesce takes (on) or releases the
 * tracker's locks; count (quiesced) bounds the number of blocks; gather
 * (quiesced, world stopped: no malloc, no locks) copies them out; verdict
 * (quiesced, world running again) gets them sorted by address, mark set
 * on the reachable ones. skip_base: load base of an object whose data is
 * no root (0: none). */
typedef struct gsp__blk {
  uintptr_t addr; /* payload */
  uint64_t size;
  uint32_t site;
  uint32_t mark;
} gsp__blk;
typedef struct gsp__reach_ops {
  void (*quiesce)(void *user, bool on);
  size_t (*count)(void *user);
  size_t (*gather)(void *user, gsp__blk *out, size_t cap);
  void (*verdict)(void *user, const gsp__blk *blk, size_t n);
  void *user;
  uintptr_t skip_base;
  unsigned chunk_bias; /* bytes from glibc's user pointer to the block */
} gsp__reach_ops;
typedef struct gsp__reach_stats {
  size_t blocks, unreachable;
  size_t threads;        /* the caller included */
  size_t threads_missed; /* did not stop in time: their stacks not scanned */
} gsp__reach_stats;
int gsp__heap_reach(const gsp__reach_ops *ops, gsp__reach_stats *st);

/* ---- in-process heap tracking (inproc_heap.c) ----------------------------- */

/* Patches malloc & co. GSP_EBUSY: a MEMORY profile already runs. */
int gsp__iheap_start(uint64_t sample_bytes);
/* Restores the slots; with every allocation tracked, runs the leak check. */
void gsp__iheap_stop(void);
/* Writes the sites in the heap file format (heap_report.c) to fd. */
int gsp__iheap_write(int fd);
/* Allocations of the calling thread untracked (on) or tracked again;
 * returns the previous setting. */
bool gsp__iheap_guard(bool on);
/* Threads of the last leak check that could not be stopped. */
size_t gsp__iheap_threads_missed(void);

/* ---- in-process MEMORY / IO profiles (inproc.c) ----------------------------- */

/* Starts the hooks types asks for (GSP_PROF_MEMORY, GSP_PROF_IO) on
 * behalf of p (io_sample: gsp_prof_config.io_sample); GSP_EBUSY when
 * another profile holds them. */
int gsp__inproc_start(const gsp_prof *p, unsigned types, uint64_t heap_sample, unsigned io_sample);
void gsp__inproc_stop(const gsp_prof *p, unsigned types);
/* p is destroyed: its results are no longer asked for. */
void gsp__inproc_forget(const gsp_prof *p);
uint64_t gsp__inproc_unscanned(const gsp_prof *p);
/* On the profiler's own threads: their calls are not the program's. */
void gsp__inproc_thread_init(void);

/* ---- heap hooks (heap_hook.c, preload library only) ---------------------- */

/* Starts tracking: every allocation (sample_bytes 0) or one per
 * sample_bytes allocated on a thread. */
void gsp__heap_start(uint64_t sample_bytes);
/* Stops tracking, runs the leak check (every-allocation mode) and writes
 * DIR/heap.<pid>.raw and its .maps. */
void gsp__heap_finish(const char *dir);
/* Allocations of the calling thread untracked (on) or tracked again. */
void gsp__heap_guard(bool on);
/* Writes the sites (heap file format) to fd; async-signal-safe. */
int gsp__heap_write_sites(int fd, bool leaks_checked);
/* heap_save.c: writes DIR/heap.<pid>.raw every period_ms (tmp + rename)
 * from a thread of its own, and from fatal-signal handlers. */
void gsp__heap_autosave_start(const char *dir, unsigned period_ms);
/* Stops that thread (before gsp__heap_finish) and the handlers. */
void gsp__heap_autosave_stop(void);

/* ---- I/O hooks (io_hook.c) -------------------------------------------------
 * The hooks, exported under the C library's names by preload_io.c, and
 * patched into the GOT by gsp__io_inproc_start. */
ssize_t gsp__io_read(int fd, void *b, size_t n);
ssize_t gsp__io_write(int fd, const void *b, size_t n);
ssize_t gsp__io_pread(int fd, void *b, size_t n, off_t off);
ssize_t gsp__io_pwrite(int fd, const void *b, size_t n, off_t off);
struct iovec;
ssize_t gsp__io_readv(int fd, const struct iovec *v, int n);
ssize_t gsp__io_writev(int fd, const struct iovec *v, int n);
int gsp__io_open(const char *path, int flags, ...);
int gsp__io_openat(int dirfd, const char *path, int flags, ...);
int gsp__io_close(int fd);
int gsp__io_fsync(int fd);
int gsp__io_fdatasync(int fd);
ssize_t gsp__io_send(int fd, const void *b, size_t n, int flags);
ssize_t gsp__io_recv(int fd, void *b, size_t n, int flags);
/* In-process: statistics zeroed, slots patched, one call in sample
 * timed (0: the default, 16). GSP_EBUSY if running; GSP_EINVAL: sample
 * above GSP_PROF_IO_SAMPLE_MAX. */
int gsp__io_inproc_start(unsigned sample);
void gsp__io_inproc_stop(void);
/* Rows with a count, up to cap copied to out; returns how many exist. */
size_t gsp__io_rows(gsp_prof_io_stat *out, size_t cap);
/* The table, its title naming sample (the N of one call in N timed). */
int gsp__io_write_table(FILE *f, const gsp_prof_io_stat *rows, size_t n, unsigned sample);
/* N of the running or last I/O profile. */
unsigned gsp__io_sample(void);

/* Preload (preload_io.c): reads GSP_PROF_IO_SAMPLE and starts recording
 * (the exported hooks are always in place), or, for a bad value, records
 * why it does not (gsp__io_refuse). */
void gsp__io_start(void);
/* Starts recording, one call in sample timed (0: the default). */
void gsp__io_begin(unsigned sample);
/* I/O is not tracked, for this reason (written to io.<pid>.txt at exit). */
void gsp__io_refuse(const char *why);
/* Stops tracking and writes DIR/io.<pid>.txt (or the refusal). */
void gsp__io_finish(const char *dir);
/* I/O of the calling thread not recorded (guard) or recorded again. */
void gsp__io_guard(bool guard);
/* Defined by the preload library (weak reference in prof.c): called on
 * the collector thread when it starts, so its work is not the program's. */
void gsp__prof_thread_hook(void);

#endif
