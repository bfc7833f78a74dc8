/*
 * report_out.c - the text and JSON forms of a report: top functions by
 * self time, the hottest call paths (whole stacks, root first), the
 * bottlenecks (functions whose self share reaches bottleneck_pct) and,
 * in the text form, the zones recorded in this process.
 *
 * Hot paths are found by a partial selection over the stack table (top N
 * by count, N small), so a report costs O(stacks * N).
 *
 * A multi-process report (multi_int.h) is written the same way, with the
 * processes first (pid, samples, share, exit: the code, the signal that
 * ended it as "SIGTERM", or "?" when not known; hottest function,
 * program) and the problems met while loading; functions are the merged
 * ones, each with its process ("[comm pid]" or "[N processes]"), hot
 * paths are selected over every process's stacks and name their process,
 * and bottlenecks are shares of all processes' samples. The processes'
 * exit statuses are read here too (gsp__multi_load_exits: DIR/exit.<pid>,
 * "exit N" or "signal N[ core]", written by whoever reaped the process).
 */
#define _GNU_SOURCE /* sigabbrev_np */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "multi_int.h"

#define HOT_PATHS 5

/* Indices into the stack table of the (up to) n most sampled stacks. */
static size_t top_stacks(const gsp_prof_report *r, size_t *idx, size_t n) {
  size_t m = 0;
  const gsp__stacks *t = &r->stacks;
  for (size_t i = 0; i < t->cap; i++) {
    if (t->hash[i] == 0) continue;
    size_t j = m < n ? m++ : n;
    if (j == n && t->v[i].count <= t->v[idx[n - 1]].count) continue;
    if (j == n) j = n - 1;
    while (j > 0 && t->v[idx[j - 1]].count < t->v[i].count) {
      idx[j] = idx[j - 1];
      j--;
    }
    idx[j] = i;
  }
  return m;
}

static void text_path(const gsp_prof_report *r, const gsp__stack *s, FILE *f) {
  for (uint32_t i = 0; i < s->depth; i++)
    fprintf(f, "%s%s", i ? ";" : "", r->funcs[gsp__report_func_at(r, s, i)].name);
}

static void text_zones(FILE *f) {
  gsp_prof_zone_stats *z;
  size_t n;
  if (gsp_prof_zones_get(&z, &n) != GSP_OK) return;
  if (n == 0) return; /* z is NULL then */
  fprintf(f, "\nZones (ns)\n%-32s %10s %14s %14s %10s %10s %10s\n", "zone", "count", "total",
          "self", "p50", "p90", "p99");
  for (size_t i = 0; i < n; i++)
    fprintf(f,
            "%-32s %10" PRIu64 " %14" PRIu64 " %14" PRIu64 " %10" PRIu64 " %10" PRIu64 " %10" PRIu64
            "\n",
            z[i].name, z[i].count, z[i].total_ns, z[i].self_ns, z[i].p50_ns, z[i].p90_ns,
            z[i].p99_ns);
  gsp_free(z);
}

int gsp_prof_report_write_text(const gsp_prof_report *r, FILE *f, size_t top) {
  if (!r || !f) return GSP_EINVAL;
  uint64_t all = r->stacks.total;
  fprintf(f, "CPU samples: %" PRIu64 " at %u Hz per thread (%.3f CPU-seconds)\n\n", all, r->hz,
          r->hz ? (double)all / r->hz : 0.0);
  fprintf(f, "%7s %7s  %s\n", "self%", "total%", "function (file:line)");
  for (size_t i = 0; i < r->nfuncs && i < top; i++) {
    const gsp_prof_func *fn = &r->funcs[i];
    fprintf(f, "%6.2f%% %6.2f%%  %s", fn->self_pct, fn->total_pct, fn->name);
    if (fn->file[0]) fprintf(f, " (%s:%u)", fn->file, fn->line);
    fputc('\n', f);
  }
  size_t idx[HOT_PATHS];
  size_t m = top_stacks(r, idx, HOT_PATHS);
  fprintf(f, "\nHot call paths\n");
  for (size_t i = 0; i < m; i++) {
    const gsp__stack *s = &r->stacks.v[idx[i]];
    fprintf(f, "%6.2f%%  ", all ? 100.0 * (double)s->count / (double)all : 0.0);
    text_path(r, s, f);
    fputc('\n', f);
  }
  fprintf(f, "\nBottlenecks (self >= %.1f%%)\n", r->bottleneck_pct);
  for (size_t i = 0; i < r->nfuncs && r->funcs[i].self_pct >= r->bottleneck_pct; i++)
    fprintf(f, "  %s (%.2f%%)\n", r->funcs[i].name, r->funcs[i].self_pct);
  text_zones(f);
  return ferror(f) ? GSP_EIO : GSP_OK;
}

static void json_str(FILE *f, const char *s) {
  fputc('"', f);
  for (; *s; s++) {
    unsigned char c = (unsigned char)*s;
    if (c == '"' || c == '\\') {
      fprintf(f, "\\%c", c);
    } else if (c < 0x20) {
      fprintf(f, "\\u%04x", c);
    } else {
      fputc(c, f);
    }
  }
  fputc('"', f);
}

static void json_paths(const gsp_prof_report *r, FILE *f) {
  size_t idx[HOT_PATHS];
  size_t m = top_stacks(r, idx, HOT_PATHS);
  fprintf(f, "\"hot_paths\":[");
  for (size_t i = 0; i < m; i++) {
    const gsp__stack *s = &r->stacks.v[idx[i]];
    fprintf(f, "%s{\"pct\":%.3f,\"stack\":[", i ? "," : "",
            100.0 * (double)s->count / (double)r->stacks.total);
    for (uint32_t d = 0; d < s->depth; d++) {
      if (d) fputc(',', f);
      json_str(f, r->funcs[gsp__report_func_at(r, s, d)].name);
    }
    fprintf(f, "]}");
  }
  fprintf(f, "]");
}

int gsp_prof_report_write_json(const gsp_prof_report *r, FILE *f, size_t top) {
  if (!r || !f) return GSP_EINVAL;
  fprintf(f, "{\"samples\":%" PRIu64 ",\"hz\":%u,\"functions\":[", r->stacks.total, r->hz);
  for (size_t i = 0; i < r->nfuncs && i < top; i++) {
    const gsp_prof_func *fn = &r->funcs[i];
    fprintf(f, "%s{\"name\":", i ? "," : "");
    json_str(f, fn->name);
    fprintf(f, ",\"self_pct\":%.3f,\"total_pct\":%.3f,\"file\":", fn->self_pct, fn->total_pct);
    json_str(f, fn->file);
    fprintf(f, ",\"line\":%u}", fn->line);
  }
  fprintf(f, "],\"bottlenecks\":[");
  for (size_t i = 0; i < r->nfuncs && r->funcs[i].self_pct >= r->bottleneck_pct; i++) {
    if (i) fputc(',', f);
    json_str(f, r->funcs[i].name);
  }
  fprintf(f, "],");
  json_paths(r, f);
  fprintf(f, "}");
  return ferror(f) ? GSP_EIO : GSP_OK;
}

/* ---- several processes ---------------------------------------------------- */

size_t gsp_prof_multi_processes(const gsp_prof_multi *m, const gsp_prof_process **out) {
  *out = m->procs;
  return m->n;
}

size_t gsp_prof_multi_problems(const gsp_prof_multi *m, const char *const **out) {
  *out = (const char *const *)m->problems;
  return m->nproblems;
}

const gsp_prof_report *gsp_prof_multi_report(const gsp_prof_multi *m, size_t i) {
  return i < m->n ? m->reps[i] : NULL;
}

uint64_t gsp_prof_multi_samples(const gsp_prof_multi *m) { return m ? m->total : 0; }

size_t gsp_prof_multi_functions(const gsp_prof_multi *m, const gsp_prof_multi_func **out) {
  *out = m->funcs;
  return m->nfuncs;
}

/* Parses an exit.<pid> line: "exit N" or "signal N[ core]". */
static bool parse_exit(const char *line, int *code, int *sig) {
  bool is_exit = strncmp(line, "exit ", 5) == 0, is_sig = strncmp(line, "signal ", 7) == 0;
  if (!is_exit && !is_sig) return false;
  const char *num = line + (is_exit ? 5 : 7);
  char *end;
  long n = strtol(num, &end, 10);
  if (end == num || n < 0 || n > 255 || (*end != '\n' && *end != ' ' && *end != '\0')) return false;
  if (is_exit) {
    *code = (int)n;
    *sig = 0;
    return true;
  }
  if (n == 0 || n > 127) return false;
  *code = 128 + (int)n;
  *sig = (int)n;
  return true;
}

/* The exit status of every process that has a DIR/exit.<pid> file. */
/* The kernel's share of a process's CPU time from its raw file's .times
 * (written by the collector: see prof.c), the profiler's own time left
 * out; < 0 when there is none or it does not parse. */
static double kernel_share(const char *raw) {
  char path[4200], line[160] = "";
  snprintf(path, sizeof path, "%s.times", raw);
  FILE *f = fopen(path, "r");
  if (!f) return -1;
  bool got = fgets(line, sizeof line, f) != NULL;
  fclose(f);
  unsigned long long v[5];
  if (!got || strncmp(line, "gsperf-times 1 ", 15) != 0) return -1;
  const char *at = line + 14;
  for (int i = 0; i < 5; i++) {
    char *end;
    v[i] = strtoull(at, &end, 10);
    if (end == at) return -1;
    at = end;
  }
  unsigned long long user = v[1] - (v[3] < v[1] ? v[3] : v[1]);
  unsigned long long sys = v[2] - (v[4] < v[2] ? v[4] : v[2]);
  return user + sys ? 100.0 * (double)sys / (double)(user + sys) : -1;
}

int gsp__multi_load_exits(gsp_prof_multi *m, const char *dir) {
  m->sig = gsp_calloc(m->n + 1, sizeof *m->sig);
  m->kernel = gsp_calloc(m->n + 1, sizeof *m->kernel);
  if (!m->sig || !m->kernel) return GSP_ENOMEM;
  for (size_t i = 0; i < m->n; i++) m->kernel[i] = kernel_share(m->procs[i].file);
  size_t n = strlen(dir) + 32;
  char *path = gsp_malloc(n);
  if (!path) return GSP_ENOMEM;
  int rv = GSP_OK;
  for (size_t i = 0; rv == GSP_OK && i < m->n; i++) {
    snprintf(path, n, "%s/exit.%ld", dir, m->procs[i].pid);
    FILE *f = fopen(path, "r");
    if (!f) continue;
    char line[64] = "";
    bool ok =
        fgets(line, sizeof line, f) != NULL && parse_exit(line, &m->procs[i].exit, &m->sig[i]);
    fclose(f);
    if (!ok) rv = gsp__multi_problem(m, path, "not an exit status: ignored");
  }
  gsp_free(path);
  return rv;
}

bool gsp_prof_multi_set_exit(gsp_prof_multi *m, long pid, int status) {
  for (size_t i = 0; m && i < m->n; i++) {
    if (m->procs[i].pid != pid) continue;
    m->procs[i].exit = status;
    if (m->sig) m->sig[i] = 0; /* a shell-style status: 128+N is not told from exit(128+N) */
    return true;
  }
  return false;
}

typedef struct mstack {
  size_t proc;
  const gsp__stack *s;
} mstack;

/* The (up to) n most sampled stacks over all processes, most first. */
static size_t multi_top_stacks(const gsp_prof_multi *m, mstack *top, size_t n) {
  size_t k = 0;
  for (size_t p = 0; p < m->n; p++) {
    const gsp__stacks *t = &m->reps[p]->stacks;
    for (size_t i = 0; i < t->cap; i++) {
      if (t->hash[i] == 0) continue;
      const gsp__stack *s = &t->v[i];
      size_t j = k < n ? k++ : n;
      if (j == n && s->count <= top[n - 1].s->count) continue;
      if (j == n) j = n - 1;
      while (j > 0 && top[j - 1].s->count < s->count) {
        top[j] = top[j - 1];
        j--;
      }
      top[j] = (mstack){p, s};
    }
  }
  return k;
}

static double share(uint64_t part, uint64_t all) {
  return all ? 100.0 * (double)part / (double)all : 0.0;
}

/* "comm [pid]" of the one process of f, or "N processes". */
static void text_owner(const gsp_prof_multi *m, const gsp_prof_multi_func *f, FILE *out) {
  if (f->nprocs == 1)
    fprintf(out, "  [%s %ld]", m->procs[f->procs[0]].comm, m->procs[f->procs[0]].pid);
  else
    fprintf(out, "  [%zu processes]", f->nprocs);
}

/* Process i's end: its exit code, "SIGTERM" (the signal that ended it)
 * or "?" (not known). */
static void exit_text(const gsp_prof_multi *m, size_t i, char *out, size_t cap) {
  int sig = m->sig ? m->sig[i] : 0, code = m->procs[i].exit;
  const char *abbrev = sig ? sigabbrev_np(sig) : NULL;
  if (abbrev)
    snprintf(out, cap, "SIG%s", abbrev);
  else if (sig)
    snprintf(out, cap, "signal %d", sig);
  else if (code != GSP_PROF_EXIT_UNKNOWN)
    snprintf(out, cap, "%d", code);
  else
    snprintf(out, cap, "?");
}

/* The processes with samples, a failure (an exit status other than 0, a
 * signal) or a cut file, up to top of them; the others (a script's short
 * commands) counted in a line. */
static void text_procs(const gsp_prof_multi *m, FILE *f, size_t top) {
  fprintf(f, "Processes: %zu\n%8s %10s %7s %7s %9s  %-24s %s\n", m->n, "pid", "samples", "share",
          "kernel", "exit", "hottest function", "program");
  size_t shown = 0;
  for (size_t i = 0; i < m->n; i++) {
    const gsp_prof_process *p = &m->procs[i];
    const gsp_prof_report *r = m->reps[i];
    bool failed = p->exit != GSP_PROF_EXIT_UNKNOWN && p->exit != 0;
    if (shown == top || (!p->samples && !failed && !p->truncated)) continue;
    shown++;
    char ex[24], kern[16] = "?";
    exit_text(m, i, ex, sizeof ex);
    if (m->kernel && m->kernel[i] >= 0) snprintf(kern, sizeof kern, "%.1f%%", m->kernel[i]);
    fprintf(f, "%8ld %10" PRIu64 " %6.2f%% %7s %9s  %-24s %s%s\n", p->pid, p->samples,
            share(p->samples, m->total), kern, ex, r->nfuncs ? r->funcs[0].name : "-",
            p->exe[0] ? p->exe : p->comm, p->truncated ? " (file cut short)" : "");
  }
  if (shown < m->n)
    fprintf(f, "%8s and %zu more, without samples or failure, or not listed\n", "", m->n - shown);
  for (size_t i = 0; i < m->nproblems; i++) fprintf(f, "problem: %s\n", m->problems[i]);
}

int gsp_prof_multi_write_text(const gsp_prof_multi *m, FILE *f, size_t top) {
  if (!m || !f) return GSP_EINVAL;
  text_procs(m, f, top);
  fprintf(f, "\nCPU samples: %" PRIu64 " at %u Hz per thread (%.3f CPU-seconds)\n\n", m->total,
          m->hz, m->hz ? (double)m->total / m->hz : 0.0);
  fprintf(f, "%7s %7s  %s\n", "self%", "total%", "function (file:line)  [process]");
  for (size_t i = 0; i < m->nfuncs && i < top; i++) {
    const gsp_prof_multi_func *fn = &m->funcs[i];
    fprintf(f, "%6.2f%% %6.2f%%  %s", fn->f.self_pct, fn->f.total_pct, fn->f.name);
    if (fn->f.file[0]) fprintf(f, " (%s:%u)", fn->f.file, fn->f.line);
    text_owner(m, fn, f);
    fputc('\n', f);
  }
  mstack st[HOT_PATHS];
  size_t k = multi_top_stacks(m, st, HOT_PATHS);
  fprintf(f, "\nHot call paths\n");
  for (size_t i = 0; i < k; i++) {
    const gsp_prof_process *p = &m->procs[st[i].proc];
    fprintf(f, "%6.2f%%  [%s %ld] ", share(st[i].s->count, m->total), p->comm, p->pid);
    text_path(m->reps[st[i].proc], st[i].s, f);
    fputc('\n', f);
  }
  fprintf(f, "\nBottlenecks (self >= %.1f%% of all processes' samples)\n", m->bottleneck_pct);
  for (size_t i = 0; i < m->nfuncs && m->funcs[i].f.self_pct >= m->bottleneck_pct; i++) {
    fprintf(f, "  %s (%.2f%%)", m->funcs[i].f.name, m->funcs[i].f.self_pct);
    text_owner(m, &m->funcs[i], f);
    fputc('\n', f);
  }
  return ferror(f) ? GSP_EIO : GSP_OK;
}

static void json_pids(const gsp_prof_multi *m, const gsp_prof_multi_func *fn, FILE *f) {
  fputs(",\"pids\":[", f);
  for (size_t j = 0; j < fn->nprocs; j++)
    fprintf(f, "%s%ld", j ? "," : "", m->procs[fn->procs[j]].pid);
  fputc(']', f);
}

static void json_procs(const gsp_prof_multi *m, FILE *f) {
  fputs("\"processes\":[", f);
  for (size_t i = 0; i < m->n; i++) {
    const gsp_prof_process *p = &m->procs[i];
    fprintf(f, "%s{\"pid\":%ld,\"exe\":", i ? "," : "", p->pid);
    json_str(f, p->exe);
    fputs(",\"comm\":", f);
    json_str(f, p->comm);
    fprintf(f, ",\"samples\":%" PRIu64 ",\"pct\":%.3f,\"exit\":", p->samples,
            share(p->samples, m->total));
    if (p->exit == GSP_PROF_EXIT_UNKNOWN)
      fputs("null", f);
    else
      fprintf(f, "%d", p->exit);
    fputs(",\"signal\":", f);
    if (m->sig && m->sig[i])
      fprintf(f, "%d", m->sig[i]);
    else
      fputs("null", f);
    fputs(",\"kernel_pct\":", f);
    if (m->kernel && m->kernel[i] >= 0)
      fprintf(f, "%.1f", m->kernel[i]);
    else
      fputs("null", f);
    fputs(",\"file\":", f);
    json_str(f, p->file);
    fprintf(f, ",\"truncated\":%s}", p->truncated ? "true" : "false");
  }
  fputs("],", f);
}

static void json_multi_funcs(const gsp_prof_multi *m, FILE *f, size_t top) {
  fputs("\"functions\":[", f);
  for (size_t i = 0; i < m->nfuncs && i < top; i++) {
    const gsp_prof_multi_func *fn = &m->funcs[i];
    fprintf(f, "%s{\"name\":", i ? "," : "");
    json_str(f, fn->f.name);
    fprintf(f, ",\"self_pct\":%.3f,\"total_pct\":%.3f,\"file\":", fn->f.self_pct, fn->f.total_pct);
    json_str(f, fn->f.file);
    fprintf(f, ",\"line\":%u", fn->f.line);
    json_pids(m, fn, f);
    fputc('}', f);
  }
  fputs("],\"bottlenecks\":[", f);
  for (size_t i = 0; i < m->nfuncs && m->funcs[i].f.self_pct >= m->bottleneck_pct; i++) {
    fprintf(f, "%s{\"name\":", i ? "," : "");
    json_str(f, m->funcs[i].f.name);
    fprintf(f, ",\"self_pct\":%.3f", m->funcs[i].f.self_pct);
    json_pids(m, &m->funcs[i], f);
    fputc('}', f);
  }
  fputs("],", f);
}

static void json_multi_paths(const gsp_prof_multi *m, FILE *f) {
  mstack st[HOT_PATHS];
  size_t k = multi_top_stacks(m, st, HOT_PATHS);
  fputs("\"hot_paths\":[", f);
  for (size_t i = 0; i < k; i++) {
    fprintf(f, "%s{\"pct\":%.3f,\"pid\":%ld,\"stack\":[", i ? "," : "",
            share(st[i].s->count, m->total), m->procs[st[i].proc].pid);
    for (uint32_t d = 0; d < st[i].s->depth; d++) {
      if (d) fputc(',', f);
      json_str(f, m->funcs[gsp__multi_func_at(m, st[i].proc, st[i].s, d)].f.name);
    }
    fputs("]}", f);
  }
  fputs("],", f);
}

int gsp_prof_multi_write_json(const gsp_prof_multi *m, FILE *f, size_t top) {
  if (!m || !f) return GSP_EINVAL;
  fprintf(f, "{\"samples\":%" PRIu64 ",\"hz\":%u,", m->total, m->hz);
  json_procs(m, f);
  json_multi_funcs(m, f, top);
  json_multi_paths(m, f);
  fputs("\"problems\":[", f);
  for (size_t i = 0; i < m->nproblems; i++) {
    if (i) fputc(',', f);
    json_str(f, m->problems[i]);
  }
  fputs("]}", f);
  return ferror(f) ? GSP_EIO : GSP_OK;
}
