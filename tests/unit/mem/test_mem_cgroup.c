/*
 * test_mem_cgroup.c - reclaim against a real memory cgroup limit.
 *
 * The test makes a child memory cgroup of its own (cgroup v2: memory.max,
 * when the v2 memory controller can be enabled there; else cgroup v1:
 * memory.limit_in_bytes under /sys/fs/cgroup/memory), with a limit of the
 * child's starting RSS + 96 MB, and runs the workload in forked children
 * that move themselves into it:
 *
 *   control  puts 384 MB of 1 MB values into a cache bounded only at
 *            4 GiB, with no reclaimer: the kernel must kill it (SIGKILL,
 *            the cgroup's OOM killer), which shows the limit is real;
 *   managed  the same workload with a pressure monitor created with no
 *            max_memory_mb (so the limit can only come from the cgroup)
 *            and the cache reclaimer: the monitor must read the cgroup's
 *            version, limit and usage, take the cgroup limit as the
 *            effective limit, keep RSS under it at every sample, reclaim
 *            at least once, and the child must exit normally.
 *
 * After each run the cgroup's own OOM counter is read where the kernel
 * has one (v1 memory.oom_control "oom_kill", v2 memory.events "oom_kill"):
 * zero for the managed child. Skipped (77) when not root, or when neither
 * cgroup version lets the test make a limited group (containers, read-only
 * cgroupfs); the reason is printed. The cgroup is removed at the end.
 */
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "gsperf/cache.h"
#include "gsperf/mem.h"

#define MB ((uint64_t)1024 * 1024)
#define VAL (1024 * 1024)
#define BATCH 4
#define ROOM_MB 96

__attribute__((visibility("default"))) const char *__asan_default_options(void);
__attribute__((visibility("default"))) const char *__asan_default_options(void) {
  return "quarantine_size_mb=0";
}

typedef struct cg {
  int version;
  char dir[512];
} cg;

/* ---- small file helpers -------------------------------------------------- */

static int write_file(const char *dir, const char *name, const char *text) {
  char path[640];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  FILE *f = fopen(path, "w");
  if (!f) return -errno;
  int ok = fputs(text, f) >= 0;
  if (fclose(f) != 0) ok = 0;
  return ok ? 0 : -EIO;
}

static int read_file(const char *dir, const char *name, char *buf, size_t cap) {
  char path[640];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  FILE *f = fopen(path, "r");
  if (!f) return -errno;
  size_t n = fread(buf, 1, cap - 1, f);
  buf[n] = '\0';
  fclose(f);
  return 0;
}

/* "key N" in a keyed file; -1 when absent. */
static long long keyed(const char *dir, const char *file, const char *key) {
  char buf[4096];
  if (read_file(dir, file, buf, sizeof buf) != 0) return -1;
  size_t kl = strlen(key);
  for (const char *p = buf; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
    if (strncmp(p, key, kl) == 0 && p[kl] == ' ') return strtoll(p + kl + 1, NULL, 10);
  return -1;
}

/* The path of this process's cgroup for a controller line of /proc/self/cgroup
 * ("0::" for v2, ":memory:" for v1). */
static int own_rel(const char *tag, char *rel, size_t cap) {
  char buf[4096];
  if (read_file("/proc/self", "cgroup", buf, sizeof buf) != 0) return -1;
  for (char *line = strtok(buf, "\n"); line; line = strtok(NULL, "\n")) {
    char *p = strstr(line, tag);
    if (p == NULL || (tag[0] == '0' && p != line)) continue;
    snprintf(rel, cap, "%s", p + strlen(tag));
    return 0;
  }
  return -1;
}

/* ---- making the cgroup ------------------------------------------------------- */

static int try_make(cg *g, int version, const char *root, const char *tag, const char *limit_file,
                    uint64_t limit, char *why, size_t whycap) {
  char rel[256], lim[32];
  if (own_rel(tag, rel, sizeof rel) != 0) {
    snprintf(why, whycap, "v%d: no %s line in /proc/self/cgroup", version, tag);
    return -1;
  }
  snprintf(g->dir, sizeof g->dir, "%s%s/gsp_cgtest_%d", root, strcmp(rel, "/") ? rel : "",
           (int)getpid());
  if (mkdir(g->dir, 0755) != 0) {
    snprintf(why, whycap, "v%d: mkdir %s: %s", version, g->dir, strerror(errno));
    return -1;
  }
  snprintf(lim, sizeof lim, "%llu\n", (unsigned long long)limit);
  int rc = write_file(g->dir, limit_file, lim);
  if (rc != 0) {
    snprintf(why, whycap, "v%d: %s/%s: %s", version, g->dir, limit_file, strerror(-rc));
    rmdir(g->dir);
    return -1;
  }
  g->version = version;
  return 0;
}

static int make_cgroup(cg *g, uint64_t limit, char *why, size_t whycap) {
  char v2why[600] = "";
  if (access("/sys/fs/cgroup/cgroup.controllers", R_OK) == 0 &&
      try_make(g, 2, "/sys/fs/cgroup", "0::", "memory.max", limit, v2why, sizeof v2why) == 0)
    return 0;
  if (try_make(g, 1, "/sys/fs/cgroup/memory", ":memory:", "memory.limit_in_bytes", limit, why,
               whycap) == 0)
    return 0;
  if (v2why[0]) {
    size_t n = strlen(why);
    snprintf(why + n, whycap - n, "; %s", v2why);
  }
  return -1;
}

static uint64_t oom_kills(const cg *g) {
  long long n = g->version == 2 ? keyed(g->dir, "memory.events", "oom_kill")
                                : keyed(g->dir, "memory.oom_control", "oom_kill");
  return n < 0 ? 0 : (uint64_t)n;
}

/* ---- the children ------------------------------------------------------------- */

static uint64_t rss_now(void) {
  char buf[256];
  unsigned long long size, res;
  if (read_file("/proc/self", "statm", buf, sizeof buf) != 0 ||
      sscanf(buf, "%llu %llu", &size, &res) != 2)
    return 0;
  return res * (uint64_t)sysconf(_SC_PAGESIZE);
}

static void enter(const cg *g) {
  char pid[32];
  snprintf(pid, sizeof pid, "%d\n", (int)getpid());
  if (write_file(g->dir, "cgroup.procs", pid) != 0) _exit(20);
}

/* 384 MB of 1 MB values; with mp, a sample after each batch of 4. */
static int workload(gsp_cache *cache, gsp_mempressure *mp, uint64_t limit) {
  char *val = malloc(VAL);
  if (!val) return 21;
  memset(val, 0x5a, VAL);
  for (int i = 0; i < 64 * 6; i += BATCH) {
    for (int j = i; j < i + BATCH; j++) {
      val[0] = (char)j;
      if (gsp_cache_put(cache, &j, sizeof j, val, VAL, NULL) != 0) return 22;
    }
    if (!mp) continue;
    gsp_mem_sample s;
    if (gsp_mempressure_sample_now(mp, &s) != 0) return 23;
    if (s.rss_bytes >= limit || s.limit_bytes != limit) {
      fprintf(stderr, "managed: rss %llu limit %llu (cgroup %llu)\n",
              (unsigned long long)s.rss_bytes, (unsigned long long)s.limit_bytes,
              (unsigned long long)limit);
      return 24;
    }
  }
  free(val);
  return 0;
}

static int check_first_sample(gsp_mempressure *mp, const cg *g, uint64_t limit) {
  gsp_mem_sample s;
  if (gsp_mempressure_sample_now(mp, &s) != 0) return 30;
  if (s.cgroup_version != g->version || s.cg_limit != limit || s.limit_bytes != limit ||
      s.cg_usage == 0 || s.cg_usage > limit) {
    fprintf(stderr, "managed: cgroup v%d limit %llu usage %llu effective %llu (want v%d %llu)\n",
            s.cgroup_version, (unsigned long long)s.cg_limit, (unsigned long long)s.cg_usage,
            (unsigned long long)s.limit_bytes, g->version, (unsigned long long)limit);
    return 31;
  }
  return 0;
}

static int child(const cg *g, uint64_t limit, int managed) {
  enter(g);
  gsp_cache_config cc = {.max_bytes = (size_t)4 << 30};
  gsp_cache *cache;
  if (gsp_cache_create(&cc, &cache) != 0) return 25;
  if (!managed) return workload(cache, NULL, limit);
  gsp_mempressure_config c = {.gc_strategy = GSP_GC_THRESHOLD}; /* no max_memory_mb */
  gsp_mempressure *mp;
  if (gsp_mempressure_create(&c, &mp) != 0) return 26;
  int rc = check_first_sample(mp, g, limit);
  if (!rc && gsp_mempressure_add_reclaimer(mp, "cache", gsp_mem_reclaim_cache, cache) != 0) rc = 27;
  if (!rc) rc = workload(cache, mp, limit);
  gsp_mempressure_stats st;
  gsp_mempressure_stats_get(mp, &st);
  if (!rc && st.reclaims == 0) rc = 28;
  fprintf(stderr, "managed: %llu samples, %llu reclaim passes, %llu MB reclaimed\n",
          (unsigned long long)st.samples, (unsigned long long)st.reclaims,
          (unsigned long long)(st.reclaimed_bytes / MB));
  gsp_mempressure_destroy(mp);
  gsp_cache_destroy(cache);
  return rc;
}

static int run_child(const cg *g, uint64_t limit, int managed) {
  fflush(NULL);
  pid_t pid = fork();
  if (pid < 0) return -1;
  if (pid == 0) _exit(child(g, limit, managed));
  int st;
  while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
  }
  return st;
}

int main(void) {
  if (geteuid() != 0) {
    printf("SKIP: not root (making a memory cgroup needs it)\n");
    return 77;
  }
  uint64_t limit = (rss_now() / MB + ROOM_MB) * MB;
  cg g = {0};
  char why[1400] = "";
  if (make_cgroup(&g, limit, why, sizeof why) != 0) {
    printf("SKIP: cannot make a limited memory cgroup: %s\n", why);
    return 77;
  }
  printf("cgroup v%d %s, limit %llu MB\n", g.version, g.dir, (unsigned long long)(limit / MB));
  int fail = 0;
  int st = run_child(&g, limit, 0);
  uint64_t control_ooms = oom_kills(&g);
  printf("control (no reclaim): %s %d, cgroup oom_kill %llu\n",
         WIFSIGNALED(st) ? "killed by signal" : "exit",
         WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st), (unsigned long long)control_ooms);
  if (!WIFSIGNALED(st) || WTERMSIG(st) != SIGKILL) {
    printf("FAIL: the control child was not killed: the limit is not enforced\n");
    fail = 1;
  }
  st = run_child(&g, limit, 1);
  uint64_t managed_ooms = oom_kills(&g) - control_ooms;
  printf("managed (reclaim): %s %d, new cgroup oom_kill %llu\n",
         WIFSIGNALED(st) ? "killed by signal" : "exit",
         WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st), (unsigned long long)managed_ooms);
  if (!WIFEXITED(st) || WEXITSTATUS(st) != 0 || managed_ooms != 0) {
    printf("FAIL: the managed child did not stay under the limit\n");
    fail = 1;
  }
  if (rmdir(g.dir) != 0) printf("note: rmdir %s: %s\n", g.dir, strerror(errno));
  printf(fail ? "FAILED\n" : "PASSED\n");
  return fail;
}
