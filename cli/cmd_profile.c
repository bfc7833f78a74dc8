/*
 * cmd_profile.c - `gsperf profile [--cpu] [--hz N] [-o DIR] [--json]
 * [--top N] -- CMD ARGS...`: run CMD under the profiler and write the
 * reports.
 *
 * Profiles: --cpu (the default), --heap / --leaks, --io; see help().
 *
 * Flow: parse flags (a bad one exits 2 naming it), find
 * libgsperf-preload.so (GSPERF_PRELOAD, else next to this executable, else
 * ../lib and ../lib/<multiarch> from it), create DIR and remove raw files
 * of an earlier run, fork; the child sets GSP_PROF_DIR, GSP_PROF_HZ and
 * LD_PRELOAD (the preload first, an existing LD_PRELOAD kept after it)
 * and execs CMD. The parent ignores SIGINT and SIGQUIT while it waits
 * (like system(): the terminal's signal goes to CMD), then reads the raw
 * file of every process CMD became (cpu.<pid>.raw), picks the one with
 * the most samples (the others are listed in report.txt), and writes
 * cpu.pb.gz, cpu.collapsed, flame.svg, report.txt; it prints the top hot
 * spots (or, with --json, the JSON summary) on stdout.
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
  unsigned long long heap_sample;
  char **cmd;
  pid_t child;
} prof_opts;

static void help(void) {
  printf(
      "usage: gsperf profile [--cpu] [--heap [--heap-sample B]] [--leaks] [--hz N]\n"
      "                      [-o DIR] [--json] [--top N] -- CMD ARGS...\n\n"
      "Runs CMD with the profiler preloaded (libgsperf-preload.so) and writes to DIR:\n"
      "with --cpu cpu.pb.gz (pprof), cpu.collapsed (FlameGraph), flame.svg; with\n"
      "--heap or --leaks heap.pb.gz (pprof); always report.txt.\n"
      "With no profile named, --cpu.\n\n"
      "  --cpu       sample the CPU time of every thread of every process CMD becomes\n"
      "  --heap      track allocations, one per B bytes allocated (--heap-sample,\n"
      "              default 524288): live and peak bytes per call site\n"
      "  --leaks     track every allocation, and report the blocks unreachable at\n"
      "              exit (a reachability scan), grouped by allocation stack\n"
      "  --io        count, bytes and latency per file and call of read, write,\n"
      "              pread, pwrite, readv, writev, open, openat, close, fsync,\n"
      "              fdatasync, send, recv\n"
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

static bool is_raw_name(const char *name, const char *kind) {
  size_t n = strlen(name), k = strlen(kind);
  return strncmp(name, kind, k) == 0 && n > k + 4 && strcmp(name + n - 4, ".raw") == 0;
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
    if (!raw && !io) continue;
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
  const char *old = getenv("LD_PRELOAD");
  snprintf(pre, sizeof pre, "%s%s%s", preload, old && old[0] ? ":" : "", old ? old : "");
  setenv("GSP_PROF_DIR", o->dir, 1);
  setenv("GSP_PROF_HZ", hz, 1);
  setenv("LD_PRELOAD", pre, 1);
  execvp(o->cmd[0], o->cmd);
  fprintf(stderr, "gsperf profile: cannot run %s: %s\n", o->cmd[0], strerror(errno));
  _exit(127);
}

static int run_child(prof_opts *o, const char *preload) {
  struct sigaction ign = {.sa_handler = SIG_IGN}, old_int, old_quit;
  sigaction(SIGINT, &ign, &old_int);
  sigaction(SIGQUIT, &ign, &old_quit);
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
    code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    if (WIFSIGNALED(status))
      fprintf(stderr, "gsperf profile: %s killed by signal %d; reporting what was gathered\n",
              o->cmd[0], WTERMSIG(status));
  }
  sigaction(SIGINT, &old_int, NULL);
  sigaction(SIGQUIT, &old_quit, NULL);
  return code;
}

/* Loads every raw file; keeps the one with most samples in *best. */
static int load_best(const prof_opts *o, gsp_prof_report **best, FILE *others) {
  DIR *d = opendir(o->dir);
  if (!d) return GSP_ENOENT;
  struct dirent *e;
  char p[PATH_MAX];
  *best = NULL;
  while ((e = readdir(d)) != NULL) {
    if (!is_raw_name(e->d_name, "cpu.")) continue;
    if (snprintf(p, sizeof p, "%s/%s", o->dir, e->d_name) >= (int)sizeof p) continue;
    gsp_prof_report *r;
    int rv = gsp_prof_report_load(p, 0, &r);
    if (rv != GSP_OK) {
      fprintf(stderr, "gsperf profile: %s: %s\n", p, gsp_strerror(rv));
      continue;
    }
    fprintf(others, "process file %s: %llu samples\n", e->d_name,
            (unsigned long long)gsp_prof_report_samples(r));
    if (!*best || gsp_prof_report_samples(r) > gsp_prof_report_samples(*best)) {
      gsp_prof_report_destroy(*best);
      *best = r;
    } else {
      gsp_prof_report_destroy(r);
    }
  }
  closedir(d);
  return *best ? GSP_OK : GSP_ENOENT;
}

static void write_one(int rv, const char *dir, const char *name) {
  if (rv != GSP_OK)
    fprintf(stderr, "gsperf profile: cannot write %s/%s: %s\n", dir, name, gsp_strerror(rv));
}

static void write_outputs(const prof_opts *o, const gsp_prof_report *r, const char *procs) {
  char p[PATH_MAX];
  snprintf(p, sizeof p, "%s/cpu.pb.gz", o->dir);
  write_one(gsp_prof_report_write_pprof(r, p), o->dir, "cpu.pb.gz");
  snprintf(p, sizeof p, "%s/cpu.collapsed", o->dir);
  write_one(gsp_prof_report_write_collapsed(r, p), o->dir, "cpu.collapsed");
  snprintf(p, sizeof p, "%s/flame.svg", o->dir);
  write_one(gsp_prof_report_write_flame(r, p, o->cmd[0]), o->dir, "flame.svg");
  snprintf(p, sizeof p, "%s/report.txt", o->dir);
  FILE *f = fopen(p, "w");
  int rv = GSP_EIO;
  if (f) {
    fprintf(f, "%s", procs);
    rv = gsp_prof_report_write_text(r, f, o->top);
    if (fclose(f) != 0) rv = GSP_EIO;
  }
  write_one(rv, o->dir, "report.txt");
}

/* The heap file of CMD's own process, else the first one found. */
static gsp_prof_heap *load_heap(const prof_opts *o) {
  char p[PATH_MAX];
  gsp_prof_heap *h = NULL;
  snprintf(p, sizeof p, "%s/heap.%ld.raw", o->dir, (long)o->child);
  if (gsp_prof_heap_load(p, &h) == GSP_OK) return h;
  DIR *d = opendir(o->dir);
  struct dirent *e;
  while (d && !h && (e = readdir(d)) != NULL) {
    if (!is_raw_name(e->d_name, "heap.")) continue;
    if (snprintf(p, sizeof p, "%s/%s", o->dir, e->d_name) >= (int)sizeof p) continue;
    int rv = gsp_prof_heap_load(p, &h);
    if (rv != GSP_OK) fprintf(stderr, "gsperf profile: %s: %s\n", p, gsp_strerror(rv));
  }
  if (d) closedir(d);
  if (!h) fprintf(stderr, "gsperf profile: no heap data was written to %s\n", o->dir);
  return h;
}

static void append_heap_text(const prof_opts *o, const gsp_prof_heap *h) {
  char p[PATH_MAX];
  snprintf(p, sizeof p, "%s/report.txt", o->dir);
  FILE *f = fopen(p, "a");
  if (!f) return;
  fputc('\n', f);
  gsp_prof_heap_write_text(h, f, o->top);
  fclose(f);
}

/* JSON: the CPU report's object with "leaks" added (empty when no leak
 * check ran). */
static void print_json(const prof_opts *o, gsp_prof_report *r, const gsp_prof_heap *h) {
  char *buf = NULL;
  size_t len = 0;
  FILE *m = open_memstream(&buf, &len);
  if (!m) return;
  if (r)
    gsp_prof_report_write_json(r, m, o->top);
  else
    fputs("{\"samples\":0,\"functions\":[]}", m);
  fclose(m);
  if (len > 0 && buf[len - 1] == '}') buf[--len] = '\0';
  fputs(buf, stdout);
  free(buf);
  fputs(",\"leaks\":", stdout);
  if (h)
    gsp_prof_heap_write_leaks_json(h, stdout);
  else
    fputs("[]", stdout);
  fputs("}\n", stdout);
}

static int report_cpu(const prof_opts *o, gsp_prof_report **out) {
  char *procs = NULL;
  size_t plen = 0;
  FILE *pf = open_memstream(&procs, &plen);
  if (!pf) return 1;
  int rv = load_best(o, out, pf);
  fclose(pf);
  if (rv != GSP_OK) {
    fprintf(stderr, "gsperf profile: no CPU samples were written to %s\n", o->dir);
    free(procs);
    return 1;
  }
  write_outputs(o, *out, procs);
  free(procs);
  return 0;
}

/* Appends CMD's io.<pid>.txt to report.txt and, unless JSON, to stdout. */
static int report_io(const prof_opts *o) {
  char p[PATH_MAX], line[PATH_MAX + 128];
  snprintf(p, sizeof p, "%s/io.%ld.txt", o->dir, (long)o->child);
  FILE *in = fopen(p, "r");
  if (!in) {
    fprintf(stderr, "gsperf profile: no I/O data was written to %s\n", o->dir);
    return 1;
  }
  snprintf(p, sizeof p, "%s/report.txt", o->dir);
  FILE *out = fopen(p, "a");
  if (out) fputc('\n', out);
  if (!o->json) fputc('\n', stdout);
  while (fgets(line, sizeof line, in)) {
    if (out) fputs(line, out);
    if (!o->json) fputs(line, stdout);
  }
  fclose(in);
  if (out) fclose(out);
  return 0;
}

static int report(const prof_opts *o) {
  gsp_prof_report *r = NULL;
  gsp_prof_heap *h = NULL;
  int rv = 0;
  if (o->cpu) rv |= report_cpu(o, &r);
  if (!o->cpu) {
    char p[PATH_MAX];
    snprintf(p, sizeof p, "%s/report.txt", o->dir);
    FILE *f = fopen(p, "w");
    if (f) fclose(f);
  }
  if (o->heap || o->leaks) {
    h = load_heap(o);
    if (h) append_heap_text(o, h);
    if (h) {
      char p[PATH_MAX];
      snprintf(p, sizeof p, "%s/heap.pb.gz", o->dir);
      write_one(gsp_prof_heap_write_pprof(h, p), o->dir, "heap.pb.gz");
    }
    rv |= h == NULL;
  }
  if (o->io) rv |= report_io(o);
  if (o->json) {
    print_json(o, r, h);
  } else {
    if (r) gsp_prof_report_write_text(r, stdout, o->top < 10 ? o->top : 10);
    if (h) gsp_prof_heap_write_text(h, stdout, o->top < 10 ? o->top : 10);
    printf("\nreports in %s/\n", o->dir);
  }
  gsp_prof_report_destroy(r);
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
  int code = run_child(&o, preload);
  fflush(stdout);
  report(&o);
  return code;
}
