/* multi_int.h - the multi-process report (gsp_prof_multi) shared by the
 * files that load it (report.c) and write it (report_out.c, pprof.c,
 * flame.c).
 *
 * Layout: procs[i] and reps[i] describe process i (sorted by samples,
 * most first); every string of every report (function, file and module
 * names) is interned in one pool, so equal names are equal pointers
 * across processes, and the reports' own symbol tables (their libdw
 * sessions and open ELF files) are released once built; symbols found
 * are cached by mapped file and offset for the next processes. fmap[fmap_off[i]
 * + k] is the merged function of report i's function k; funcs[] are the
 * merged functions, sorted, each with the indices of its processes in
 * fprocs[]. procs[i].exit and sig[i] come from DIR/exit.<pid> (written
 * by whoever reaped the process: its parent through the preload's wait
 * hooks, or `gsperf profile`) or from gsp_prof_multi_set_exit. */
#ifndef GSP_PROF_MULTI_INT_H
#define GSP_PROF_MULTI_INT_H

#include "prof_int.h"

struct gsp_prof_multi {
  gsp_prof_process *procs;
  gsp_prof_report **reps;
  size_t n, cap;
  gsp__symtab *pool;
  struct gsp__scache_ent *cache; /* symbols by (file, offset): report.c */
  size_t cache_cap, cache_n;
  uint32_t *fmap;
  size_t *fmap_off;
  gsp_prof_multi_func *funcs;
  size_t nfuncs;
  size_t *fprocs;
  char **problems;
  size_t nproblems, problems_cap;
  int *sig;       /* sig[i]: the signal that ended process i, 0 if none or unknown */
  double *kernel; /* kernel[i]: % of process i's CPU time in the kernel, < 0 unknown */
  uint64_t total;
  unsigned hz; /* the first process's rate (all share GSP_PROF_HZ) */
  double bottleneck_pct;
};

/* Adds the problem "path: what" (report.c); GSP_ENOMEM. */
int gsp__multi_problem(gsp_prof_multi *m, const char *path, const char *what);
/* Reads DIR/exit.<pid> and the raw file's .times for every process loaded
 * (report_out.c): sets procs[i].exit, sig[i] and kernel[i] (allocated
 * here); a garbage exit file is a problem. GSP_ENOMEM. */
int gsp__multi_load_exits(gsp_prof_multi *m, const char *dir);

/* Merged function index of frame i (root first) of stack s of process p. */
static inline uint32_t gsp__multi_func_at(const gsp_prof_multi *m, size_t p, const gsp__stack *s,
                                          uint32_t i) {
  return m->fmap[m->fmap_off[p] + gsp__report_func_at(m->reps[p], s, i)];
}

#endif
