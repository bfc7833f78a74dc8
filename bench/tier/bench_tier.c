/*
 * bench_tier.c - the multi-level cache next to its peers, in one run.
 *
 * What is measured (each a section of the output):
 *
 *   l3-get   random gets of N entries (32-hex-digit content-hash keys,
 *            values of V bytes taken from real source files) that live only
 *            in L3: the tier (L1 of 16 entries, no L2, write-through; with
 *            and without promotion into L1; gsp_tier_get, which copies the
 *            value out, and gsp_tier_get_view, which lends it in place)
 *            against raw LMDB on the same data (a reset read transaction
 *            renewed per get, mdb_get, the value copied into a malloc'd
 *            buffer, as gsp_tier_get returns it; and, as a floor, mdb_get
 *            alone, the value not read at all) and a SQLite key-value table
 *            in WAL mode (prepared SELECT, blob copied). Every handle stays
 *            open for the section. Ratios are of CPU time, to raw get+copy.
 *            Target: tier >= 80% of raw LMDB.
 *   sync-put new entries one at a time with data on disk when the call
 *            returns: tier (SYNC, write-through), raw LMDB (a transaction
 *            per put, default flags = fsync on commit), SQLite WAL with
 *            synchronous=FULL (fsync of the WAL per commit). Target: tier
 *            within 1.5x of raw LMDB.
 *   l2       compression of real source files (/usr/include/ *.h and
 *            /usr/lib/python3.11/ *.py, one value per file): LZ4 as L2 uses
 *            it against zstd level 1: ratio, compress and decompress MB/s;
 *            and the tier's own L2 end to end (every file demoted from a
 *            one-entry L1 into L2, then read back), with the ratio L2
 *            reports.
 *   zipf     a Zipf(0.99) workload over 40000 keys of 1 KiB source text,
 *            get and put-on-miss, L1 sized to 10% of the data: L1 alone
 *            (a gsp_cache of that size) against L1+L2 (L2 the same size,
 *            compressed) and L1+L2+L3: hit rate and operations per second.
 *   restart  the same trace again in the same process (warm), then after
 *            destroying and reopening the tier (a new process would see the
 *            same files): the hit rates should match.
 *
 * How. Every timed cell reports wall and CPU time; cells of one section run
 * in rotated order, rounds repeat and medians are printed; ratios are
 * medians of per-round ratios. The machine is shared and noisy (see the
 * load line): fsync-bound figures (sync-put) depend on the disk and on
 * every other writer on it.
 *
 * Run: bench_tier [--quick] [--dir DIR] [--only SECTION] (scratch files go
 * under DIR, default /tmp; they are removed at the end).
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <lmdb.h>
#include <lz4.h>
#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>
#include <zstd.h>

#include "bench_tier.h"
#include "../support/bench_util.h"

unsigned g_rounds = 5;
char g_base[256] = "/tmp";

/* ---- time, machine, stats -------------------------------------------------- */

double now_s(clockid_t c) { return gsp_bench_clock_s(c); }

double median(const double *v, unsigned n) { return gsp_bench_median_of(v, n); }

static void print_machine(void) {
  struct utsname u;
  uname(&u);
  char load[128], cpu[256];
  gsp_bench_read_line("/proc/loadavg", "", load, sizeof load);
  gsp_bench_read_line("/proc/cpuinfo", "model name", cpu, sizeof cpu);
  printf("machine: %s, nproc %ld, %s %s\nload: %s\nrounds: %u (medians)\n\n", cpu,
         sysconf(_SC_NPROCESSORS_ONLN), u.sysname, u.release, load, g_rounds);
}

/* ---- data: real source text --------------------------------------------------- */

static void load_dir(corpus *c, const char *dir, const char *suffix) {
  DIR *d = opendir(dir);
  struct dirent *e;
  while (d && (e = readdir(d))) {
    size_t nl = strlen(e->d_name), sl = strlen(suffix);
    if (nl <= sl || strcmp(e->d_name + nl - sl, suffix) != 0) continue;
    char p[1024];
    snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
    FILE *f = fopen(p, "rb");
    struct stat sb;
    if (!f || fstat(fileno(f), &sb) != 0 || sb.st_size <= 0 || !S_ISREG(sb.st_mode)) {
      if (f) fclose(f);
      continue;
    }
    c->data = realloc(c->data, (c->n + 1) * sizeof *c->data);
    c->len = realloc(c->len, (c->n + 1) * sizeof *c->len);
    c->data[c->n] = malloc((size_t)sb.st_size);
    c->len[c->n] = fread(c->data[c->n], 1, (size_t)sb.st_size, f);
    c->bytes += c->len[c->n++];
    fclose(f);
  }
  if (d) closedir(d);
}

static void load_corpus(corpus *c) {
  memset(c, 0, sizeof *c);
  load_dir(c, "/usr/include", ".h");
  c->n_c = c->n;
  load_dir(c, "/usr/lib/python3.11", ".py");
  c->all = malloc(c->bytes + 1);
  size_t off = 0;
  for (size_t i = 0; i < c->n; i++) {
    memcpy(c->all + off, c->data[i], c->len[i]);
    off += c->len[i];
  }
}

/* Value i of size v: a slice of the corpus at a place derived from i. */
const char *slice(const corpus *c, unsigned i, size_t v) {
  uint64_t h = XXH3_64bits(&i, sizeof i);
  return c->all + h % (c->bytes - v);
}

void hex_key(char *k, unsigned i) { /* 32 hex digits, like a content hash */
  XXH128_hash_t h = XXH3_128bits(&i, sizeof i);
  snprintf(k, 33, "%016llx%016llx", (unsigned long long)h.high64, (unsigned long long)h.low64);
}

void scratch(char *buf, size_t cap, const char *name) {
  snprintf(buf, cap, "%s/gsp-bench-tier-%d-%s", g_base, (int)getpid(), name);
  mkdir(buf, 0755);
}

void rm_scratch(const char *dir) {
  char f[600];
  const char *names[] = {"data.mdb", "lock.mdb", "kv.db", "kv.db-wal", "kv.db-shm"};
  for (size_t i = 0; i < 5; i++) {
    snprintf(f, sizeof f, "%s/%s", dir, names[i]);
    unlink(f);
  }
  rmdir(dir);
}

int main(int argc, char **argv) {
  bool quick = false;
  const char *only = "";
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--quick") == 0) {
      quick = true;
      g_rounds = 3;
    } else if (strcmp(argv[i], "--only") == 0 && i + 1 < argc) {
      only = argv[++i];
    } else if (strcmp(argv[i], "--dir") == 0 && i + 1 < argc) {
      snprintf(g_base, sizeof g_base, "%s", argv[++i]);
    } else {
      fprintf(stderr, "usage: bench_tier [--quick] [--dir DIR] [--only l3-get|sync-put|l2|zipf]\n");
      return 2;
    }
  }
  print_machine();
  corpus c;
  load_corpus(&c);
  printf("corpus: %zu files, %.1f MB (/usr/include/*.h, /usr/lib/python3.11/*.py)\n\n", c.n,
         (double)c.bytes / 1e6);
  if (c.n == 0) return 1;
  bool all = only[0] == '\0';
  if (all || strcmp(only, "l3-get") == 0) {
    section_l3_get(&c, quick ? 5000 : 20000, 4096, quick ? 50000 : 200000);
    section_l3_get(&c, quick ? 500 : 2000, 65536, quick ? 5000 : 20000);
  }
  if (all || strcmp(only, "sync-put") == 0) section_sync_put(&c, 4096, quick ? 100 : 300);
  if (all || strcmp(only, "l2") == 0) section_l2(&c);
  if (all || strcmp(only, "zipf") == 0) section_zipf(&c, 40000, 1024, quick ? 100000 : 400000);
  return 0;
}
