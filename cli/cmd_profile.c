/*
 * cmd_profile.c - `gsperf profile [--cpu] [--hz N] [-o DIR] [--json]
 * [--top N] -- CMD ARGS...`: run CMD under the profiler and write the
 * reports.
 *
 * Profiles: --cpu (the default), --heap / --leaks, --io [--io-sample N];
 * see help().
 *
 * Flow: parse flags (a bad one exits 2 naming it), find
 * libgsperf-preload.so (GSPERF_PRELOAD, else next to this executable, else
 * ../lib and ../lib/<multiarch> from it), create DIR and remove raw files
 * (and exit.<pid> files) of an earlier run, fork; the child sets GSP_PROF_DIR, GSP_PROF_HZ and
 * LD_PRELOAD (the preload first, an existing LD_PRELOAD kept after it)
 * and execs CMD. The parent ignores SIGINT and SIGQUIT while it waits
 * (like system(): the terminal's signal goes to CMD) as the child
 * subreaper of the run (so orphaned descendants that ended are reaped
 * and their exit statuses known; it writes DIR/exit.<pid> for them and
 * for CMD, as the preload does for the children a process reaps itself,
 * and the report reads them all), then reads the files of every process
 * CMD became (cpu.<pid>.raw, heap.<pid>.raw, io.<pid>.txt), merges them
 * (gsp_prof_multi_load, gsp_prof_heap_load_dir, the I/O tables below)
 * and writes cpu.pb.gz, cpu.collapsed, flame.svg, heap.pb.gz,
 * report.txt; it prints the processes, top hot spots, leaks and I/O (or,
 * with --json, the JSON summary) on stdout. A file that cannot be read
 * is named on stderr and in the report; the others are still reported.
 *
 * Exit: CMD's exit status (128+N if a signal N ended it; 127 if it could
 * not be run); 2 for bad usage; 1 when the profiler itself failed
 * before CMD ran. A report that cannot be written is said on stderr but
 * does not change the exit status (it is CMD's).
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cmd.h"
#include "gsperf/prof.h"

typedef struct prof_opts {
  unsigned hz;
  const char *dir;
  bool json, cpu, heap, leaks, io;
  unsigned top;
  unsigned io_sample; /* 0: the preload's default */
  unsigned long long heap_sample;
  char **cmd;
  pid_t child;
} prof_opts;

static void help(void) {
  printf(
      "usage: gsperf profile [--cpu] [--heap [--heap-sample B]] [--leaks]\n"
      "                      [--io [--io-sample N]] [--hz N] [-o DIR] [--json]\n"
      "                      [--top N] -- CMD ARGS...\n\n"
      "Runs CMD with the profiler preloaded (libgsperf-preload.so) and writes to DIR:\n"
      "with --cpu cpu.pb.gz (pprof), cpu.collapsed (FlameGraph), flame.svg; with\n"
      "--heap or --leaks heap.pb.gz (pprof); always report.txt.\n"
      "With no profile named, --cpu. Every process CMD becomes (programs it runs,\n"
      "their children) is profiled and merged: pprof samples carry pid/comm/exe\n"
      "labels (go tool pprof -tags, -tagfocus=pid=N), collapsed stacks and the\n"
      "flame graph a root frame \"comm [pid]\" per process.\n\n"
      "  --cpu       sample the CPU time of every thread of every process CMD becomes\n"
      "  --heap      track allocations, one per B bytes allocated (--heap-sample,\n"
      "              default 524288): live and peak bytes per call site\n"
      "  --leaks     track every allocation, and report the blocks unreachable at\n"
      "              exit (a reachability scan), grouped by allocation stack\n"
      "  --io        count, bytes and latency per file and call of read, write,\n"
      "              pread, pwrite, readv, writev, open, openat, close, fsync,\n"
      "              fdatasync, send, recv\n"
      "  --io-sample N  time about one call in N per thread, file and call (the\n"
      "              first always), 1..65536, default 16; 1 times every call.\n"
      "              Counts and bytes are exact; times are estimates. Implies --io.\n"
      "  --hz N      samples per CPU-second per thread, 1..10000 (default 99)\n"
      "  -o DIR      output directory (default ./gsperf-profile)\n"
      "  --json      print a JSON summary instead of the text top list\n"
      "  --top N     functions listed (default 20)\n\n"
      "Exit: CMD's exit status (128+N if signal N ended it, 127 if it could not\n"
      "be run), 1 if profiling could not start, 2 bad usage.\n");
}

static int usage_error(const char *what, const char *arg) {
  fprintf(stderr, "gsperf profile: %s%s%s\n(see 'gsperf profile --help')\n", what, arg ? ": " : "",
          arg ? arg : "");
  return 2;
}

static bool parse_uint(const char *s, unsigned lo, unsigned hi, unsigned *out) {
  char *end = NULL;
  errno = 0;
  unsigned long v = strtoul(s, &end, 10);
  if (errno || !end || *end || end == s || v < lo || v > hi) return false;
  *out = (unsigned)v;
  return true;
}

/* 0 ok, 1 help printed, 2 usage error */
static int parse(int argc, char **argv, prof_opts *o) {
  *o = (prof_opts){.hz = 99, .dir = "gsperf-profile", .top = 20, .heap_sample = 524288};
  int i = 1;
  for (; i < argc && strcmp(argv[i], "--") != 0; i++) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
      help();
      return 1;
    } else if (strcmp(a, "--cpu") == 0) {
      o->cpu = true;
    } else if (strcmp(a, "--heap") == 0) {
      o->heap = true;
    } else if (strcmp(a, "--leaks") == 0) {
      o->leaks = true;
    } else if (strcmp(a, "--heap-sample") == 0) {
      unsigned kb;
      if (!v || !parse_uint(v, 1, 1u << 30, &kb)) return usage_error("bad --heap-sample", v);
      o->heap_sample = kb;
      i++;
    } else if (strcmp(a, "--json") == 0) {
      o->json = true;
    } else if (strcmp(a, "--io") == 0) {
      o->io = true;
    } else if (strcmp(a, "--io-sample") == 0) {
      if (!v || !parse_uint(v, 1, GSP_PROF_IO_SAMPLE_MAX, &o->io_sample))
        return usage_error("bad --io-sample (a whole number in 1..65536)", v);
      o->io = true;
      i++;
    } else if (strcmp(a, "--hz") == 0) {
      if (!v || !parse_uint(v, 1, 10000, &o->hz)) return usage_error("bad --hz", v);
      i++;
    } else if (strcmp(a, "--top") == 0) {
      if (!v || !parse_uint(v, 1, 100000, &o->top)) return usage_error("bad --top", v);
      i++;
    } else if (strcmp(a, "-o") == 0) {
      if (!v || !v[0]) return usage_error("-o needs a directory", NULL);
      o->dir = v;
      i++;
    } else {
      return usage_error("unknown flag", a);
    }
  }
  if (i + 1 >= argc) return usage_error("no command given after --", NULL);
  o->cmd = argv + i + 1;
  if (!o->cpu && !o->heap && !o->leaks && !o->io) o->cpu = true;
  return 0;
}

static bool find_preload(char *out, size_t cap) {
  const char *env = getenv("GSPERF_PRELOAD");
  if (env && access(env, R_OK) == 0) return snprintf(out, cap, "%s", env) < (int)cap;
  char exe[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (n <= 0) return false;
  exe[n] = '\0';
  char *slash = strrchr(exe, '/');
  if (!slash) return false;
  *slash = '\0';
  static const char *const rel[] = {"", "/../lib", "/../lib/x86_64-linux-gnu"};
  for (size_t i = 0; i < sizeof rel / sizeof rel[0]; i++) {
    int w = snprintf(out, cap, "%s%s/libgsperf-preload.so", exe, rel[i]);
    if (w > 0 && (size_t)w < cap && access(out, R_OK) == 0) return true;
  }
  return false;
}

static void remove_old_raw(const char *dir) {
  DIR *d = opendir(dir);
  if (!d) return;
  struct dirent *e;
  char p[PATH_MAX];
  while ((e = readdir(d)) != NULL) {
    bool raw = strstr(e->d_name, ".raw") &&
               (strncmp(e->d_name, "cpu.", 4) == 0 || strncmp(e->d_name, "heap.", 5) == 0);
    bool io = strncmp(e->d_name, "io.", 3) == 0 && strstr(e->d_name, ".txt");
    bool ex = strncmp(e->d_name, "exit.", 5) == 0;
    if (!raw && !io && !ex) continue;
    if (snprintf(p, sizeof p, "%s/%s", dir, e->d_name) < (int)sizeof p) unlink(p);
  }
  closedir(d);
}

static void child_exec(const prof_opts *o, const char *preload) {
  char hz[16], heap[32], pre[PATH_MAX * 2];
  snprintf(hz, sizeof hz, "%u", o->hz);
  snprintf(heap, sizeof heap, "%llu", o->leaks ? 0ull : o->heap_sample);
  if (o->heap || o->leaks) setenv("GSP_PROF_HEAP", heap, 1);
  setenv("GSP_PROF_CPU", o->cpu ? "1" : "0", 1);
  setenv("GSP_PROF_IO", o->io ? "1" : "0", 1);
  if (o->io_sample) {
    char n[16];
    snprintf(n, sizeof n, "%u", o->io_sample);
    setenv("GSP_PROF_IO_SAMPLE", n, 1);
  }
  const char *old = getenv("LD_PRELOAD");
  snprintf(pre, sizeof pre, "%s%s%s", preload, old && old[0] ? ":" : "", old ? old : "");
  setenv("GSP_PROF_DIR", o->dir, 1);
  setenv("GSP_PROF_HZ", hz, 1);
  setenv("LD_PRELOAD", pre, 1);
  execvp(o->cmd[0], o->cmd);
  fprintf(stderr, "gsperf profile: cannot run %s: %s\n", o->cmd[0], strerror(errno));
  _exit(127);
}

/* ---- I/O tables of every process, merged per file and call --------------
 * io.<pid>.txt (written by the preload library): a title line (naming N,
 * "1 call in N" timed, or "every call timed"), a column line, then rows
 * "call count timed bytes total_ms mean p50 p99  path"; or the single
 * line "I/O not tracked: WHY" (a bad GSP_PROF_IO_SAMPLE), reported as a
 * problem. Rows of the same (path, call) are summed; the mean is
 * recomputed from the sums; percentiles cannot be merged, so p50/p99 are
 * the highest of the processes' own. A file that is not one, or a row
 * that does not parse, is a problem naming the file (the rows before it
 * are kept). */

#define IO_MAX_PIDS 4

typedef struct io_row {
  char call[16];
  char *path;
  unsigned long long count, timed, bytes;
  double total_us, p50, p99; /* total: the sum of the processes' mean x count */
  long pids[IO_MAX_PIDS];
  size_t npids;
} io_row;

typedef struct io_table {
  io_row *rows;
  size_t n, cap, nfiles;
  char **problems;
  size_t nproblems;
  unsigned sample_min, sample_max; /* N of the files read (0: none yet) */
} io_table;

static void io_table_free(io_table *t) {
  for (size_t i = 0; i < t->n; i++) gsp_free(t->rows[i].path);
  for (size_t i = 0; i < t->nproblems; i++) gsp_free(t->problems[i]);
  gsp_free(t->rows);
  gsp_free(t->problems);
}

static int io_problem(io_table *t, const char *path, const char *what, unsigned line) {
  char msg[PATH_MAX + 128];
  snprintf(msg, sizeof msg, "%s: %s%.0u", path, what, line);
  char **v = gsp_realloc(t->problems, (t->nproblems + 1) * sizeof *v);
  if (!v) return GSP_ENOMEM;
  t->problems = v;
  if (!(t->problems[t->nproblems] = gsp_strdup(msg))) return GSP_ENOMEM;
  t->nproblems++;
  return GSP_OK;
}

static io_row *io_find(io_table *t, const char *call, const char *path) {
  for (size_t i = 0; i < t->n; i++)
    if (strcmp(t->rows[i].call, call) == 0 && strcmp(t->rows[i].path, path) == 0)
      return &t->rows[i];
  if (t->n == t->cap) {
    size_t cap = t->cap ? t->cap * 2 : 64;
    io_row *v = gsp_realloc(t->rows, cap * sizeof *v);
    if (!v) return NULL;
    t->rows = v;
    t->cap = cap;
  }
  io_row *r = &t->rows[t->n];
  memset(r, 0, sizeof *r);
  snprintf(r->call, sizeof r->call, "%.15s", call);
  if (!(r->path = gsp_strdup(path))) return NULL;
  t->n++;
  return r;
}

/* The numbers of a row: count, timed, bytes, then total ms, mean, p50,
 * p99; *rest is what follows them. false when one is missing. */
static bool io_numbers(char *p, unsigned long long n[3], double d[4], char **rest) {
  char *end;
  for (int i = 0; i < 3; i++, p = end) {
    n[i] = strtoull(p, &end, 10);
    if (end == p) return false;
  }
  for (int i = 0; i < 4; i++, p = end) {
    d[i] = strtod(p, &end);
    if (end == p) return false;
  }
  *rest = p;
  return true;
}

/* One row line of process pid; 1 when it does not parse. */
static int io_add_line(io_table *t, char *line, long pid) {
  unsigned long long n[3]; /* count, timed, bytes */
  double d[4];             /* total ms, mean, p50, p99 */
  char *rest;
  line[strcspn(line, "\n")] = '\0';
  size_t k = strcspn(line, " ");
  if (k == 0 || k >= sizeof t->rows[0].call || line[k] != ' ') return 1;
  line[k] = '\0';
  if (!io_numbers(line + k + 1, n, d, &rest) || strncmp(rest, "  ", 2) != 0) return 1;
  io_row *r = io_find(t, line, rest + 2);
  if (!r) return GSP_ENOMEM;
  r->count += n[0];
  r->timed += n[1];
  r->bytes += n[2];
  r->total_us += d[1] * (double)n[0]; /* total ms has only 0.1 ms steps */
  if (d[2] > r->p50) r->p50 = d[2];
  if (d[3] > r->p99) r->p99 = d[3];
  if (r->npids < IO_MAX_PIDS) r->pids[r->npids] = pid; /* a file has a row once */
  r->npids++;
  return 0;
}

/* N from a title line: "1 call in N" or "every call timed"; 0 if neither. */
static unsigned io_title_sample(const char *title) {
  const char *s = strstr(title, "1 call in ");
  if (s) return (unsigned)strtoul(s + 10, NULL, 10);
  return strstr(title, "every call timed") ? 1 : 0;
}

static void io_note_sample(io_table *t, unsigned n) {
  if (n == 0) return;
  if (t->sample_min == 0 || n < t->sample_min) t->sample_min = n;
  if (n > t->sample_max) t->sample_max = n;
}

/* The rows of an opened file, after its title and column lines. */
static int io_load_rows(io_table *t, FILE *f, const char *path, long pid) {
  char line[PATH_MAX + 256];
  for (unsigned n = 3; fgets(line, sizeof line, f); n++) {
    int rv = io_add_line(t, line, pid);
    if (rv == 1) return io_problem(t, path, "bad row, the rest skipped: line ", n);
    if (rv != GSP_OK) return rv;
  }
  return GSP_OK;
}

static int io_load_file(io_table *t, const char *path, long pid) {
  FILE *f = fopen(path, "r");
  if (!f) return io_problem(t, path, "cannot be read: skipped", 0);
  char title[512], cols[512];
  int rv = GSP_OK;
  bool got = fgets(title, sizeof title, f) != NULL;
  if (got && strncmp(title, "I/O not tracked: ", 17) == 0) {
    title[strcspn(title, "\n")] = '\0';
    rv = io_problem(t, path, title, 0);
  } else if (!got || strncmp(title, "I/O by file and call", 20) != 0 ||
             !fgets(cols, sizeof cols, f)) {
    rv = io_problem(t, path, "not a gsperf I/O file: skipped", 0);
  } else {
    t->nfiles++;
    io_note_sample(t, io_title_sample(title));
    rv = io_load_rows(t, f, path, pid);
  }
  fclose(f);
  return rv;
}

static int io_by_path(const void *a, const void *b) {
  const io_row *x = a, *y = b;
  int c = strcmp(x->path, y->path);
  return c ? c : strcmp(x->call, y->call);
}

static int io_table_load(io_table *t, const char *dir) {
  DIR *d = opendir(dir);
  if (!d) return GSP_ENOENT;
  struct dirent *e;
  char p[PATH_MAX];
  int rv = GSP_OK;
  while (rv == GSP_OK && (e = readdir(d)) != NULL) {
    size_t len = strlen(e->d_name);
    if (strncmp(e->d_name, "io.", 3) != 0 || len < 8 || strcmp(e->d_name + len - 4, ".txt") != 0)
      continue;
    char *end;
    long pid = strtol(e->d_name + 3, &end, 10);
    if (snprintf(p, sizeof p, "%s/%s", dir, e->d_name) >= (int)sizeof p) continue;
    if (pid <= 0 || strcmp(end, ".txt") != 0)
      rv = io_problem(t, p, "not named io.<pid>.txt: skipped", 0);
    else
      rv = io_load_file(t, p, pid);
  }
  closedir(d);
  if (t->n) qsort(t->rows, t->n, sizeof *t->rows, io_by_path);
  return rv;
}

/* The first pids, and "+N" for the others when more (text only). */
static void io_pids(const io_row *r, FILE *f, bool more) {
  for (size_t j = 0; j < r->npids && j < IO_MAX_PIDS; j++)
    fprintf(f, "%s%ld", j ? "," : "", r->pids[j]);
  if (more && r->npids > IO_MAX_PIDS) fprintf(f, ",+%zu", r->npids - IO_MAX_PIDS);
}

/* Which calls were timed, for the title. */
static void io_sample_text(const io_table *t, FILE *f) {
  if (t->sample_max <= 1)
    fputs("every call timed", f);
  else if (t->sample_min == t->sample_max)
    fprintf(f, "times from 1 call in %u: total, mean, p50, p99 estimated", t->sample_max);
  else
    fprintf(f, "times from 1 call in %u to %u: total, mean, p50, p99 estimated", t->sample_min,
            t->sample_max);
}

static void io_table_text(const io_table *t, FILE *f) {
  fprintf(f,
          "I/O by file and call, %zu process(es) (latency in us; p50/p99: the highest of the "
          "processes' own; ",
          t->nfiles);
  io_sample_text(t, f);
  fprintf(f, ")\n%-10s %10s %14s %12s %10s %10s %10s %-12s %s\n", "call", "count", "bytes",
          "total ms", "mean", "p50", "p99", "pids", "file");
  for (size_t i = 0; i < t->n; i++) {
    const io_row *r = &t->rows[i];
    double mean = r->count ? r->total_us / (double)r->count : 0.0;
    fprintf(f, "%-10s %10llu %14llu %12.1f %10.1f %10.1f %10.1f ", r->call, r->count, r->bytes,
            r->total_us / 1e3, mean, r->p50, r->p99);
    char pids[64];
    FILE *m = fmemopen(pids, sizeof pids, "w");
    if (m) {
      io_pids(r, m, true);
      fputc('\0', m);
      fclose(m);
    }
    fprintf(f, "%-12s %s\n", m ? pids : "?", r->path);
  }
}

static void json_text(FILE *f, const char *s) {
  fputc('"', f);
  for (; *s; s++) {
    unsigned char c = (unsigned char)*s;
    if (c == '"' || c == '\\')
      fprintf(f, "\\%c", c);
    else if (c < 0x20)
      fprintf(f, "\\u%04x", c);
    else
      fputc(c, f);
  }
  fputc('"', f);
}

static void io_table_json(const io_table *t, FILE *f) {
  fputc('[', f);
  for (size_t i = 0; i < t->n; i++) {
    const io_row *r = &t->rows[i];
    fprintf(f,
            "%s{\"call\":\"%s\",\"count\":%llu,\"timed\":%llu,\"bytes\":%llu,"
            "\"total_ms\":%.3f,\"mean_us\":%.2f,\"p50_us\":%.1f,\"p99_us\":%.1f,\"pids\":[",
            i ? "," : "", r->call, r->count, r->timed, r->bytes, r->total_us / 1e3,
            r->count ? r->total_us / (double)r->count : 0.0, r->p50, r->p99);
    io_pids(r, f, false);
    fprintf(f, "],\"processes\":%zu,\"file\":", r->npids);
    json_text(f, r->path);
    fputc('}', f);
  }
  fputc(']', f);
}

/* Exit statuses known here after the run: CMD's, and those of orphaned
 * descendants reaped because this process is their subreaper. Each is
 * written to DIR/exit.<pid> as the preload writes those its processes
 * reap ("exit N", "signal N[ core]"), so the report reads every status
 * from one place; saved[i] false: the file could not be written, the
 * shell-style code is set on the report instead. */
typedef struct exits {
  long pid[256];
  int code[256];
  bool saved[256];
  size_t n;
} exits;

static int shell_status(int status) {
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static bool save_exit(const char *dir, long pid, int status) {
  char path[PATH_MAX];
  snprintf(path, sizeof path, "%s/exit.%ld", dir, pid);
  FILE *f = fopen(path, "w");
  if (!f) return false;
  if (WIFEXITED(status))
    fprintf(f, "exit %d\n", WEXITSTATUS(status));
  else
    fprintf(f, "signal %d%s\n", WTERMSIG(status), WCOREDUMP(status) ? " core" : "");
  return fclose(f) == 0;
}

static void add_exit(exits *ex, const char *dir, long pid, int status) {
  if (ex->n == sizeof ex->pid / sizeof ex->pid[0]) return;
  ex->pid[ex->n] = pid;
  ex->code[ex->n] = shell_status(status);
  ex->saved[ex->n++] = save_exit(dir, pid, status);
}

static void reap_orphans(exits *ex, const char *dir) {
  int status;
  pid_t pid;
  while ((pid = waitpid(-1, &status, WNOHANG)) > 0)
    if (WIFEXITED(status) || WIFSIGNALED(status)) add_exit(ex, dir, pid, status);
}

static int run_child(prof_opts *o, const char *preload, exits *ex) {
  struct sigaction ign = {.sa_handler = SIG_IGN}, old_int, old_quit;
  sigaction(SIGINT, &ign, &old_int);
  sigaction(SIGQUIT, &ign, &old_quit);
  prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); /* best effort: orphans' exits */
  fflush(NULL);
  pid_t pid = fork();
  if (pid == 0) {
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGQUIT, &old_quit, NULL);
    child_exec(o, preload);
  }
  int status = 0, code = 1;
  o->child = pid;
  if (pid < 0) {
    fprintf(stderr, "gsperf profile: fork: %s\n", strerror(errno));
  } else {
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    code = shell_status(status);
    ex->n = 0;
    add_exit(ex, o->dir, pid, status);
    reap_orphans(ex, o->dir);
    if (WIFSIGNALED(status))
      fprintf(stderr, "gsperf profile: %s killed by signal %d; reporting what was gathered\n",
              o->cmd[0], WTERMSIG(status));
  }
  sigaction(SIGINT, &old_int, NULL);
  sigaction(SIGQUIT, &old_quit, NULL);
  return code;
}

static void write_one(int rv, const char *dir, const char *name) {
  if (rv != GSP_OK)
    fprintf(stderr, "gsperf profile: cannot write %s/%s: %s\n", dir, name, gsp_strerror(rv));
}

static void print_problems(const char *const *msg, size_t n) {
  for (size_t i = 0; i < n; i++) fprintf(stderr, "gsperf profile: %s\n", msg[i]);
}

/* Writes report.txt: the CPU part (or nothing); later parts append. */
static void write_outputs(const prof_opts *o, const gsp_prof_multi *m) {
  char p[PATH_MAX];
  snprintf(p, sizeof p, "%s/report.txt", o->dir);
  FILE *f = fopen(p, "w");
  int rv = f ? GSP_OK : GSP_EIO;
  if (f && m) rv = gsp_prof_multi_write_text(m, f, o->top);
  if (f && fclose(f) != 0) rv = GSP_EIO;
  write_one(rv, o->dir, "report.txt");
  if (!m) return;
  snprintf(p, sizeof p, "%s/cpu.pb.gz", o->dir);
  write_one(gsp_prof_multi_write_pprof(m, p), o->dir, "cpu.pb.gz");
  snprintf(p, sizeof p, "%s/cpu.collapsed", o->dir);
  write_one(gsp_prof_multi_write_collapsed(m, p), o->dir, "cpu.collapsed");
  snprintf(p, sizeof p, "%s/flame.svg", o->dir);
  write_one(gsp_prof_multi_write_flame(m, p, o->cmd[0]), o->dir, "flame.svg");
}

/* Every process's CPU file, merged; NULL (said on stderr) when none. */
static gsp_prof_multi *load_cpu(const prof_opts *o, const exits *ex) {
  gsp_prof_multi *m = NULL;
  int rv = gsp_prof_multi_load(o->dir, 0, &m);
  if (rv != GSP_OK) {
    fprintf(stderr, "gsperf profile: cannot read %s: %s\n", o->dir, gsp_strerror(rv));
    return NULL;
  }
  const char *const *msg = NULL;
  size_t nmsg = gsp_prof_multi_problems(m, &msg);
  print_problems(msg, nmsg);
  const gsp_prof_process *procs;
  if (gsp_prof_multi_processes(m, &procs) == 0) {
    fprintf(stderr, "gsperf profile: no CPU samples were written to %s\n", o->dir);
    gsp_prof_multi_destroy(m);
    return NULL;
  }
  for (size_t i = 0; i < ex->n; i++)
    if (!ex->saved[i]) gsp_prof_multi_set_exit(m, ex->pid[i], ex->code[i]);
  return m;
}

static gsp_prof_heap *load_heap(const prof_opts *o) {
  gsp_prof_heap *h = NULL;
  int rv = gsp_prof_heap_load_dir(o->dir, &h);
  if (rv != GSP_OK) {
    fprintf(stderr, "gsperf profile: cannot read %s: %s\n", o->dir, gsp_strerror(rv));
    return NULL;
  }
  const char *const *msg = NULL;
  size_t nmsg = gsp_prof_heap_problems(h, &msg);
  print_problems(msg, nmsg);
  if (gsp_prof_heap_processes(h) == 0) {
    fprintf(stderr, "gsperf profile: no heap data was written to %s\n", o->dir);
    gsp_prof_heap_destroy(h);
    return NULL;
  }
  return h;
}

static void report_heap(const prof_opts *o, const gsp_prof_heap *h) {
  char p[PATH_MAX];
  snprintf(p, sizeof p, "%s/report.txt", o->dir);
  FILE *f = fopen(p, "a");
  if (f) {
    fputc('\n', f);
    gsp_prof_heap_write_text(h, f, o->top);
    fclose(f);
  }
  snprintf(p, sizeof p, "%s/heap.pb.gz", o->dir);
  write_one(gsp_prof_heap_write_pprof(h, p), o->dir, "heap.pb.gz");
}

/* JSON: the CPU report's object with "leaks" and "io" added (empty
 * when not gathered). */
static void print_json(const prof_opts *o, const gsp_prof_multi *m, const gsp_prof_heap *h,
                       const io_table *io) {
  char *buf = NULL;
  size_t len = 0;
  FILE *mem = open_memstream(&buf, &len);
  if (!mem) return;
  if (m)
    gsp_prof_multi_write_json(m, mem, o->top);
  else
    fputs("{\"samples\":0,\"processes\":[],\"functions\":[]}", mem);
  fclose(mem);
  if (len > 0 && buf[len - 1] == '}') buf[--len] = '\0';
  fputs(buf, stdout);
  free(buf);
  fputs(",\"leaks\":", stdout);
  if (h)
    gsp_prof_heap_write_leaks_json(h, stdout);
  else
    fputs("[]", stdout);
  fputs(",\"io\":", stdout);
  io_table_json(io, stdout);
  fprintf(stdout, ",\"io_sample\":%u", io->sample_max);
  fputs("}\n", stdout);
}

static int report_io(const prof_opts *o, io_table *io) {
  int rv = io_table_load(io, o->dir);
  for (size_t i = 0; i < io->nproblems; i++)
    fprintf(stderr, "gsperf profile: %s\n", io->problems[i]);
  if (rv != 0 || io->nfiles == 0) {
    fprintf(stderr, "gsperf profile: no I/O data was written to %s\n", o->dir);
    return 1;
  }
  char p[PATH_MAX];
  snprintf(p, sizeof p, "%s/report.txt", o->dir);
  FILE *out = fopen(p, "a");
  if (out) {
    fputc('\n', out);
    io_table_text(io, out);
    fclose(out);
  }
  return 0;
}

static int report(const prof_opts *o, const exits *ex) {
  gsp_prof_multi *m = o->cpu ? load_cpu(o, ex) : NULL;
  gsp_prof_heap *h = NULL;
  io_table io = {0};
  int rv = o->cpu && !m;
  write_outputs(o, m);
  if (o->heap || o->leaks) {
    h = load_heap(o);
    if (h) report_heap(o, h);
    rv |= h == NULL;
  }
  if (o->io) rv |= report_io(o, &io);
  if (o->json) {
    print_json(o, m, h, &io);
  } else {
    if (m) gsp_prof_multi_write_text(m, stdout, o->top < 10 ? o->top : 10);
    if (h) gsp_prof_heap_write_text(h, stdout, o->top < 10 ? o->top : 10);
    if (io.nfiles) {
      fputc('\n', stdout);
      io_table_text(&io, stdout);
    }
    printf("\nreports in %s/\n", o->dir);
  }
  io_table_free(&io);
  gsp_prof_multi_destroy(m);
  gsp_prof_heap_destroy(h);
  return rv;
}

int gsp_cmd_profile(int argc, char **argv) {
  prof_opts o;
  int rv = parse(argc, argv, &o);
  if (rv != 0) return rv == 1 ? 0 : rv;
  char preload[PATH_MAX];
  if (!find_preload(preload, sizeof preload)) {
    fprintf(stderr, "gsperf profile: libgsperf-preload.so not found (set GSPERF_PRELOAD)\n");
    return 1;
  }
  if (mkdir(o.dir, 0755) != 0 && errno != EEXIST) {
    fprintf(stderr, "gsperf profile: cannot create %s: %s\n", o.dir, strerror(errno));
    return 1;
  }
  remove_old_raw(o.dir);
  exits ex = {.n = 0};
  int code = run_child(&o, preload, &ex);
  fflush(stdout);
  report(&o, &ex);
  return code;
}
