/*
 * bench_file_ops.c - the file stage of `gsperf analyze` (walk + read +
 * hash every C and Python file), plain synchronous read(2) next to the
 * I/O executor (gsp_io: io_uring, and its pread fallback), with the page
 * cache cold and warm; and the whole read+hash+parse stage of gsp_cg cold
 * next to a re-run served by the result cache (read + hash + lookup), with
 * and without the I/O executor. All cells in one run, rounds interleaved,
 * medians of wall and CPU time, ratios to the synchronous cell.
 *
 * Cold page cache: before a cold cell every file of the corpus is evicted
 * with posix_fadvise(POSIX_FADV_DONTNEED) (its clean pages leave the page
 * cache; the rest of the machine's cache stays, so other processes are not
 * disturbed); --drop-caches instead writes 3 to /proc/sys/vm/drop_caches
 * (machine-wide, root only). Directory entries and inodes stay cached
 * either way, so "cold" is cold file data, warm metadata.
 *
 * Data: the walk collects paths (nftw, physical, .git skipped) into one
 * array; each thread of a cell takes files by an atomic index and reads
 * into its own buffer. The executor cells keep WINDOW reads in flight per
 * thread and hash each file when its read completes.
 *
 * Run: bench_file_ops [--rounds N] [--threads T] [--drop-caches] [DIR...]
 * (default /usr/include and /usr/lib/python3.11, 3 rounds, 2 threads).
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>
#include <xxhash.h>

#include "gsperf/cache.h"
#include "gsperf/codegraph.h"
#include "gsperf/exec.h"
#include "../support/bench_util.h"

#define MAX_ROUNDS 15
#define WINDOW 8

typedef struct corpus {
  char **paths;
  size_t n, cap;
  uint64_t bytes;
} corpus;

static corpus g_corpus; /* nftw has no user pointer */

static int on_entry(const char *path, const struct stat *st, int type, struct FTW *ftw) {
  (void)ftw;
  size_t n = strlen(path);
  if (type == FTW_D && n >= 5 && strcmp(path + n - 5, "/.git") == 0) return FTW_SKIP_SUBTREE;
  if (type != FTW_F || !S_ISREG(st->st_mode) || gsp_cg_lang_of_path(path) == GSP_CG_LANG_NONE)
    return FTW_CONTINUE;
  corpus *c = &g_corpus;
  if (c->n == c->cap) {
    c->cap = c->cap ? c->cap * 2 : 1024;
    c->paths = realloc(c->paths, c->cap * sizeof *c->paths);
    if (c->paths == NULL) return FTW_STOP;
  }
  c->paths[c->n++] = strdup(path);
  c->bytes += (uint64_t)st->st_size;
  return FTW_CONTINUE;
}

static int walk(const char *dir) {
  for (size_t i = 0; i < g_corpus.n; i++) free(g_corpus.paths[i]);
  g_corpus.n = 0, g_corpus.bytes = 0;
  return nftw(dir, on_entry, 64, FTW_PHYS | FTW_ACTIONRETVAL);
}

/* ---- cold page cache ---- */

static bool g_drop_all;

static void evict(const corpus *c) {
  if (g_drop_all) {
    sync();
    FILE *f = fopen("/proc/sys/vm/drop_caches", "w");
    if (f == NULL || fputs("3\n", f) < 0 || fclose(f) != 0) {
      perror("bench_file_ops: /proc/sys/vm/drop_caches");
      exit(1);
    }
    return;
  }
  for (size_t i = 0; i < c->n; i++) {
    int fd = open(c->paths[i], O_RDONLY | O_CLOEXEC);
    if (fd < 0) continue;
    (void)posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
    close(fd);
  }
}

/* ---- one cell: walk + read + hash on T threads ---- */

typedef struct cell_job {
  const corpus *c;
  gsp_io *io; /* NULL = read(2) */
  _Atomic size_t next;
  _Atomic uint64_t sum; /* xor of hashes, so the work cannot be skipped */
  _Atomic int failed;
} cell_job;

static uint64_t hash_of(const void *p, size_t n) { return XXH3_128bits(p, n).low64; }

static int sync_read(const char *path, char **buf, size_t *cap, size_t *len) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  struct stat st;
  if (fstat(fd, &st) != 0) return close(fd), -1;
  size_t want = (size_t)st.st_size + 1, n = 0;
  if (want > *cap) *buf = realloc(*buf, want), *cap = want;
  ssize_t r;
  while (n < want && (r = read(fd, *buf + n, want - n)) > 0) n += (size_t)r;
  close(fd);
  *len = n;
  return 0;
}

static void *sync_thread(void *arg) {
  cell_job *j = arg;
  char *buf = NULL;
  size_t cap = 0, len = 0, i;
  uint64_t x = 0;
  while ((i = atomic_fetch_add(&j->next, 1)) < j->c->n) {
    if (sync_read(j->c->paths[i], &buf, &cap, &len) != 0) atomic_store(&j->failed, 1);
    x ^= hash_of(buf, len);
  }
  free(buf);
  atomic_fetch_xor(&j->sum, x);
  return NULL;
}

typedef struct inflight {
  gsp_io_read req;
  gsp_exec_future *fu;
} inflight;

/* Up to WINDOW reads in flight; each is hashed when it completes (in order). */
static void *io_thread(void *arg) {
  cell_job *j = arg;
  inflight w[WINDOW];
  size_t head = 0, tail = 0; /* submitted [head, tail) of the window ring */
  uint64_t x = 0;
  for (;;) {
    while (tail - head < WINDOW) {
      size_t i = atomic_fetch_add(&j->next, 1);
      if (i >= j->c->n) break;
      inflight *f = &w[tail % WINDOW];
      f->req = (gsp_io_read){.path = j->c->paths[i]};
      if (gsp_io_read_file(j->io, &f->req, &f->fu) != GSP_OK) {
        atomic_store(&j->failed, 1);
        continue;
      }
      tail++;
    }
    if (head == tail) break;
    inflight *f = &w[head++ % WINDOW];
    int res = 0;
    gsp_exec_future_wait(f->fu, &res);
    gsp_exec_future_release(f->fu);
    if (f->req.status != GSP_OK) atomic_store(&j->failed, 1);
    x ^= hash_of(f->req.data, f->req.len);
    gsp_free(f->req.data);
  }
  atomic_fetch_xor(&j->sum, x);
  return NULL;
}

typedef struct sample {
  double wall, cpu;
} sample;

static double cpu_now(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
         (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static sample file_stage(const char *dir, gsp_io *io, unsigned threads) {
  double c0 = cpu_now();
  uint64_t t0 = gsp_now_ns();
  if (walk(dir) != 0) {
    fprintf(stderr, "bench_file_ops: cannot walk %s\n", dir);
    exit(1);
  }
  cell_job j = {.c = &g_corpus, .io = io};
  pthread_t th[64];
  for (unsigned t = 0; t < threads; t++)
    pthread_create(&th[t], NULL, io ? io_thread : sync_thread, &j);
  for (unsigned t = 0; t < threads; t++) pthread_join(th[t], NULL);
  sample s = {(double)(gsp_now_ns() - t0) / 1e9, cpu_now() - c0};
  if (atomic_load(&j.failed)) fprintf(stderr, "bench_file_ops: some reads failed\n");
  return s;
}

/* ---- the code graph's parse stage: cold, and re-run from the cache ---- */

static sample cg_stage(const char *dir, gsp_exec *ex, gsp_io *io, gsp_cache *results) {
  gsp_cg *cg = NULL;
  double c0 = cpu_now();
  gsp_cg_config cfg = {.root = dir, .exec = ex, .jobs = 1, .io = io, .results = results};
  if (gsp_cg_create(&cfg, &cg) != GSP_OK || gsp_cg_run(cg) != GSP_OK) {
    fprintf(stderr, "bench_file_ops: analyze %s: %s\n", dir, gsp_cg_errmsg(cg));
    exit(1);
  }
  gsp_cg_stats st;
  gsp_cg_stats_get(cg, &st);
  gsp_cg_destroy(cg);
  return (sample){(double)(st.walk_ns + st.parse_ns) / 1e9, cpu_now() - c0};
}

/* ---- cells, rounds, report ---- */

enum {
  C_SYNC_COLD,
  C_URING_COLD,
  C_PREAD_COLD,
  C_SYNC_WARM,
  C_URING_WARM,
  C_PREAD_WARM,
  C_PARSE_SYNC,
  C_PARSE_IO,
  C_RERUN_SYNC_COLD,
  C_RERUN_IO_COLD,
  C_RERUN_SYNC_WARM,
  C_RERUN_IO_WARM,
  C__N
};
static const char *const cell_name[C__N] = {
    "file stage, sync read(2), cold",        "file stage, gsp_io io_uring, cold",
    "file stage, gsp_io pread, cold",        "file stage, sync read(2), warm",
    "file stage, gsp_io io_uring, warm",     "file stage, gsp_io pread, warm",
    "read+hash+parse, sync, warm (1st run)", "read+hash+parse, gsp_io, warm (1st run)",
    "re-run from cache, sync, cold",         "re-run from cache, gsp_io, cold",
    "re-run from cache, sync, warm",         "re-run from cache, gsp_io, warm",
};
/* The cell each ratio is against. */
static const int base_of[C__N] = {C_SYNC_COLD,       C_SYNC_COLD,       C_SYNC_COLD,
                                  C_SYNC_WARM,       C_SYNC_WARM,       C_SYNC_WARM,
                                  C_PARSE_SYNC,      C_PARSE_SYNC,      C_RERUN_SYNC_COLD,
                                  C_RERUN_SYNC_COLD, C_RERUN_SYNC_WARM, C_RERUN_SYNC_WARM};

typedef struct env {
  gsp_exec *ex;
  gsp_io *uring, *pread;
  gsp_cache *results[2]; /* sync, io: each filled by its own first run */
  unsigned threads;
} env;

static sample run_cell(env *e, const char *dir, int c) {
  bool cold = c == C_SYNC_COLD || c == C_URING_COLD || c == C_PREAD_COLD ||
              c == C_RERUN_SYNC_COLD || c == C_RERUN_IO_COLD;
  if (cold) evict(&g_corpus);
  switch (c) {
    case C_SYNC_COLD:
    case C_SYNC_WARM:
      return file_stage(dir, NULL, e->threads);
    case C_URING_COLD:
    case C_URING_WARM:
      return file_stage(dir, e->uring, e->threads);
    case C_PREAD_COLD:
    case C_PREAD_WARM:
      return file_stage(dir, e->pread, e->threads);
    case C_PARSE_SYNC:
      return cg_stage(dir, e->ex, NULL, NULL);
    case C_PARSE_IO:
      return cg_stage(dir, e->ex, e->uring, NULL);
    case C_RERUN_SYNC_COLD:
    case C_RERUN_SYNC_WARM:
      return cg_stage(dir, e->ex, NULL, e->results[0]);
    default:
      return cg_stage(dir, e->ex, e->uring, e->results[1]);
  }
}

static void bench_dir(env *e, const char *dir, int rounds) {
  static double wall[C__N][MAX_ROUNDS], cpu[C__N][MAX_ROUNDS];
  if (walk(dir) != 0) {
    fprintf(stderr, "bench_file_ops: cannot walk %s\n", dir);
    return;
  }
  printf("\n== %s: %zu files, %.1f MB\n", dir, g_corpus.n, (double)g_corpus.bytes / 1e6);
  (void)cg_stage(dir, e->ex, NULL, e->results[0]); /* fill the result caches */
  (void)cg_stage(dir, e->ex, e->uring, e->results[1]);
  for (int r = 0; r < rounds; r++)
    for (int c = 0; c < C__N; c++) {
      sample s = run_cell(e, dir, c);
      wall[c][r] = s.wall, cpu[c][r] = s.cpu;
    }
  double mw[C__N];
  printf("%-42s %9s %9s %8s %10s\n", "cell", "wall_ms", "cpu_ms", "MB/s", "wall ratio");
  for (int c = 0; c < C__N; c++) {
    mw[c] = gsp_bench_median(wall[c], (size_t)(rounds));
    double mc = gsp_bench_median(cpu[c], (size_t)(rounds));
    printf("%-42s %9.1f %9.1f %8.1f", cell_name[c], mw[c] * 1e3, mc * 1e3,
           (double)g_corpus.bytes / 1e6 / mw[c]);
    double q = mw[c] / mw[base_of[c]];
    if (base_of[c] != c)
      printf("   %.2fx (%.0f%% %s)\n", q, 100.0 * (q < 1 ? 1.0 - q : q - 1.0),
             q < 1 ? "faster" : "slower");
    else
      printf("   base\n");
  }
  printf("cold file stage vs warm (page cache): sync %.2fx, io_uring %.2fx\n",
         mw[C_SYNC_WARM] / mw[C_SYNC_COLD], mw[C_URING_WARM] / mw[C_URING_COLD]);
  printf("re-run from the result cache vs 1st run (gsp_io, warm): %.3fx (%.0f%% faster)\n",
         mw[C_RERUN_IO_WARM] / mw[C_PARSE_IO],
         100.0 * (1.0 - mw[C_RERUN_IO_WARM] / mw[C_PARSE_IO]));
}

static int open_env(env *e) {
  /* the caller and threads - 1 workers; one thread: no pool (exec NULL, jobs 1) */
  if ((e->threads > 1 &&
       gsp_exec_create(&(gsp_exec_config){.workers = e->threads - 1}, &e->ex) != GSP_OK) ||
      gsp_io_create(&(gsp_io_config){.threads = 2 * e->threads}, &e->uring) != GSP_OK ||
      gsp_io_create(&(gsp_io_config){.threads = 2 * e->threads, .no_uring = true}, &e->pread) !=
          GSP_OK)
    return -1;
  for (int i = 0; i < 2; i++)
    if (gsp_cache_create(&(gsp_cache_config){.max_bytes = (size_t)1 << 30}, &e->results[i]) !=
        GSP_OK)
      return -1;
  return 0;
}

int main(int argc, char **argv) {
  env e = {.threads = 2};
  int rounds = 3, first_dir = argc;
  setvbuf(stdout, NULL, _IOLBF, 0); /* each table line as it is made */
  for (int i = 1; i < argc && first_dir == argc; i++) {
    if (strcmp(argv[i], "--rounds") == 0 && i + 1 < argc)
      rounds = atoi(argv[++i]);
    else if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc)
      e.threads = (unsigned)atoi(argv[++i]);
    else if (strcmp(argv[i], "--drop-caches") == 0)
      g_drop_all = true;
    else
      first_dir = i;
  }
  if (rounds < 1 || rounds > MAX_ROUNDS || e.threads < 1 || e.threads > 64) {
    fprintf(stderr,
            "usage: bench_file_ops [--rounds 1..15] [--threads 1..64] [--drop-caches] [DIR...]\n");
    return 2;
  }
  if (open_env(&e) != 0) {
    fprintf(stderr, "bench_file_ops: cannot create the pools\n");
    return 1;
  }
  double load[3] = {0};
  if (getloadavg(load, 3) < 0) load[0] = -1;
  printf(
      "bench_file_ops: %d rounds, %u threads, %ld CPUs, load %.2f %.2f %.2f, io_uring %s,"
      " cold = %s\n",
      rounds, e.threads, sysconf(_SC_NPROCESSORS_ONLN), load[0], load[1], load[2],
      gsp_io_uses_uring(e.uring) ? "yes" : "no (pread)",
      g_drop_all ? "drop_caches" : "fadvise(DONTNEED) per file");
  static const char *const defaults[] = {"/usr/include", "/usr/lib/python3.11"};
  if (first_dir == argc)
    for (int i = 0; i < 2; i++) bench_dir(&e, defaults[i], rounds);
  for (int i = first_dir; i < argc; i++) bench_dir(&e, argv[i], rounds);
  if (getloadavg(load, 3) >= 0) printf("\nload after: %.2f %.2f %.2f\n", load[0], load[1], load[2]);
  for (size_t i = 0; i < g_corpus.n; i++) free(g_corpus.paths[i]);
  free(g_corpus.paths);
  gsp_cache_destroy(e.results[0]), gsp_cache_destroy(e.results[1]);
  gsp_io_destroy(e.uring), gsp_io_destroy(e.pread);
  gsp_exec_destroy(e.ex);
  return 0;
}
