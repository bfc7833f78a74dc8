/*
 * procfs.c - read one system sample from /proc and the cgroup files.
 *
 * Every file is read whole into a stack buffer with one read() (they are
 * small: /proc/self/status, the largest, is under 2 KiB) and parsed with
 * strtoull/strtod and an end-pointer check. The root directories are
 * parameters, so tests point them at fixture trees.
 *
 *   /proc/self/stat    utime (14) + stime (15), after the ")" that closes comm
 *   /proc/self/statm   resident pages (2nd) x page size
 *   /proc/self/status  Threads, voluntary_ctxt_switches, nonvoluntary_ctxt_switches
 *   /proc/self/io      read_bytes, write_bytes (EACCES: fields absent, no error)
 *   /proc/self/fd      entries counted
 *   /proc/stat         the "cpu" line: busy = total - idle - iowait
 *   /proc/meminfo      MemTotal, MemAvailable (kB)
 *   /proc/loadavg      three load averages
 *   cgroup v2          <cg><path>/memory.max, memory.current, cpu.max
 *   cgroup v1          <cg>/memory<path>/memory.limit_in_bytes, usage_in_bytes,
 *                      <cg>/cpu<path>/cpu.cfs_quota_us, cpu.cfs_period_us
 *                      (<path> from /proc/self/cgroup; each also tried at
 *                      the controller root)
 *
 * A limit of "max", a v1 limit at or above 2^62 (the kernel says
 * 2^63 - 4096 for none) and a quota of -1 mean "no limit": the field is
 * absent. A missing file makes its fields absent; a file that exists but
 * does not parse records "<path>: field <name> ..." (the first such error
 * of the sample) and the other files are still read.
 *
 * Rates need two samples: process CPU % = d(utime + stime) / CLK_TCK / d(wall)
 * x 100, wall from the sample times; machine CPU % = d(busy) / d(total) x 100.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "monitor_int.h"

#define BUF_LEN 8192

typedef struct ctx {
  const char *proc, *cg;
  gsp_monitor_sample *s;
  char *err;
  size_t errlen;
  bool bad;
} ctx;

static void set(ctx *c, gsp_monitor_field f, double v) {
  c->s->v[f] = v;
  c->s->present |= 1u << f;
}

static bool parse_err(ctx *c, const char *path, const char *field, const char *why) {
  if (!c->bad) snprintf(c->err, c->errlen, "%s: field %s %s", path, field, why);
  c->bad = true;
  return false;
}

/* Read path into buf (NUL-terminated); returns 0 or errno. */
static int slurp(const char *path, char *buf, size_t cap) {
  buf[0] = '\0';
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    int e = errno;
    return e ? e : EIO;
  }
  ssize_t n = read(fd, buf, cap - 1);
  int e = n < 0 ? errno : 0;
  close(fd);
  buf[n < 0 ? 0 : n] = '\0';
  return e;
}

static int slurp_at(const char *root, const char *rel, char *path, size_t plen, char *buf) {
  snprintf(path, plen, "%s/%s", root, rel);
  return slurp(path, buf, BUF_LEN);
}

static bool to_u64(const char *s, char **end, uint64_t *out) {
  while (*s == ' ' || *s == '\t') s++;
  if (*s < '0' || *s > '9') return false;
  errno = 0;
  unsigned long long v = strtoull(s, end, 10);
  if (errno != 0) return false;
  *out = v;
  return true;
}

/* The number after "key" at the start of a line; false if absent or bad. */
static bool keyed_u64(const char *buf, const char *key, uint64_t *out) {
  size_t kl = strlen(key);
  for (const char *p = buf; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
    char *end;
    if (strncmp(p, key, kl) == 0) return to_u64(p + kl, &end, out);
  }
  return false;
}

static bool keyed(ctx *c, const char *path, const char *buf, const char *key, uint64_t *out) {
  if (keyed_u64(buf, key, out)) return true;
  return parse_err(c, path, key, "missing or not a number");
}

static void read_stat(ctx *c, gsp__prev *prev) {
  char path[512], buf[BUF_LEN];
  if (slurp_at(c->proc, "self/stat", path, sizeof path, buf)) return;
  char *p = strrchr(buf, ')');
  uint64_t ut, st;
  char *end;
  if (p == NULL) {
    parse_err(c, path, "comm", "has no closing ')'");
    return;
  }
  for (int field = 3; field <= 14 && p; field++) p = strchr(p + 1, ' ');
  if (!p || !to_u64(p, &end, &ut) || !to_u64(end, &end, &st)) {
    parse_err(c, path, "utime/stime (14, 15)", "missing or not a number");
    return;
  }
  uint64_t ticks = ut + st, t = c->s->t_ns;
  long hz = sysconf(_SC_CLK_TCK);
  if (prev->have_proc && t > prev->proc_t && ticks >= prev->proc_ticks && hz > 0)
    set(c, GSP_MON_PROC_CPU_PERCENT,
        (double)(ticks - prev->proc_ticks) / (double)hz * 1e9 / (double)(t - prev->proc_t) * 100);
  prev->have_proc = true;
  prev->proc_ticks = ticks;
  prev->proc_t = t;
}

static void read_statm(ctx *c) {
  char path[512], buf[BUF_LEN], *end;
  uint64_t size, rss;
  if (slurp_at(c->proc, "self/statm", path, sizeof path, buf)) return;
  if (!to_u64(buf, &end, &size) || !to_u64(end, &end, &rss)) {
    parse_err(c, path, "resident (2)", "missing or not a number");
    return;
  }
  set(c, GSP_MON_PROC_RSS_BYTES, (double)rss * (double)sysconf(_SC_PAGESIZE));
}

static void read_status(ctx *c) {
  char path[512], buf[BUF_LEN];
  uint64_t th, vol, inv;
  if (slurp_at(c->proc, "self/status", path, sizeof path, buf)) return;
  if (keyed(c, path, buf, "Threads:", &th)) set(c, GSP_MON_PROC_THREADS, (double)th);
  if (keyed(c, path, buf, "voluntary_ctxt_switches:", &vol))
    set(c, GSP_MON_PROC_CTXSW_VOLUNTARY, (double)vol);
  if (keyed(c, path, buf, "nonvoluntary_ctxt_switches:", &inv))
    set(c, GSP_MON_PROC_CTXSW_INVOLUNTARY, (double)inv);
}

static void read_io(ctx *c) {
  char path[512], buf[BUF_LEN];
  uint64_t rb, wb;
  if (slurp_at(c->proc, "self/io", path, sizeof path, buf)) return; /* EACCES is normal */
  if (keyed(c, path, buf, "read_bytes:", &rb)) set(c, GSP_MON_PROC_READ_BYTES, (double)rb);
  if (keyed(c, path, buf, "write_bytes:", &wb)) set(c, GSP_MON_PROC_WRITE_BYTES, (double)wb);
}

static void count_fds(ctx *c) {
  char path[512];
  snprintf(path, sizeof path, "%s/self/fd", c->proc);
  DIR *d = opendir(path);
  if (d == NULL) return;
  char own[24]; /* the DIR's own descriptor is listed in the real /proc/self/fd */
  snprintf(own, sizeof own, "%d", dirfd(d));
  uint64_t n = 0;
  for (struct dirent *e; (e = readdir(d)) != NULL;)
    if (e->d_name[0] != '.' && strcmp(e->d_name, own) != 0) n++;
  closedir(d);
  set(c, GSP_MON_PROC_OPEN_FDS, (double)n);
}

static void read_cpu(ctx *c, gsp__prev *prev) {
  char path[512], buf[BUF_LEN], *end;
  if (slurp_at(c->proc, "stat", path, sizeof path, buf)) return;
  if (strncmp(buf, "cpu ", 4) != 0) {
    parse_err(c, path, "cpu", "line missing");
    return;
  }
  uint64_t v[8], total = 0;
  const char *p = buf + 4;
  for (int i = 0; i < 8; i++, p = end) {
    if (!to_u64(p, &end, &v[i])) {
      parse_err(c, path, "cpu", "has fewer than 8 numbers");
      return;
    }
    total += v[i];
  }
  uint64_t busy = total - v[3] - v[4];
  if (prev->have_cpu && total > prev->cpu_total && busy >= prev->cpu_busy)
    set(c, GSP_MON_MACHINE_CPU_PERCENT,
        (double)(busy - prev->cpu_busy) / (double)(total - prev->cpu_total) * 100);
  prev->have_cpu = true;
  prev->cpu_busy = busy;
  prev->cpu_total = total;
}

static void read_meminfo(ctx *c) {
  char path[512], buf[BUF_LEN];
  uint64_t tot, av;
  if (slurp_at(c->proc, "meminfo", path, sizeof path, buf)) return;
  if (keyed(c, path, buf, "MemTotal:", &tot)) set(c, GSP_MON_MACHINE_MEM_TOTAL, tot * 1024.0);
  if (keyed(c, path, buf, "MemAvailable:", &av)) set(c, GSP_MON_MACHINE_MEM_AVAILABLE, av * 1024.0);
}

static void read_loadavg(ctx *c) {
  char path[512], buf[BUF_LEN], *p, *end;
  if (slurp_at(c->proc, "loadavg", path, sizeof path, buf)) return;
  p = buf;
  for (int i = 0; i < 3; i++, p = end) {
    double v = strtod(p, &end);
    if (end == p) {
      parse_err(c, path, i == 0 ? "load1" : i == 1 ? "load5" : "load15", "not a number");
      return;
    }
    set(c, (gsp_monitor_field)(GSP_MON_MACHINE_LOAD1 + i), v);
  }
}

/* ---- cgroup ------------------------------------------------------------- */

/* Whether the comma-separated list has the token tok. */
static bool has_token(const char *list, const char *tok) {
  size_t n = strlen(tok);
  for (const char *p = list; p; p = strchr(p, ','), p = p ? p + 1 : NULL)
    if (strncmp(p, tok, n) == 0 && (p[n] == ',' || p[n] == '\0')) return true;
  return false;
}

/* The path of controller ctrl (NULL: the v2 "0::" line) in the text of
 * /proc/self/cgroup into out; "" for the root or when unknown. */
static void cgroup_path(const char *text, const char *ctrl, char *out, size_t len) {
  char buf[BUF_LEN];
  snprintf(buf, sizeof buf, "%s", text);
  out[0] = '\0';
  for (char *save = NULL, *line = strtok_r(buf, "\n", &save); line;
       line = strtok_r(NULL, "\n", &save)) {
    char *ctrls = strchr(line, ':'), *cpath = ctrls ? strchr(ctrls + 1, ':') : NULL;
    if (cpath == NULL) continue;
    *cpath++ = '\0';
    ctrls++;
    bool match = ctrl ? has_token(ctrls, ctrl) : ctrls[0] == '\0';
    if (match && strcmp(cpath, "/") != 0) snprintf(out, len, "%s", cpath);
    if (match) return;
  }
}

/* Read <cg>/<dir><cpath>/<file>, else <cg>/<dir>/<file>; 0 or errno. */
static int cg_read(ctx *c, const char *dir, const char *cpath, const char *file, char *path,
                   char *buf) {
  snprintf(path, 512, "%s/%s%s/%s", c->cg, dir, cpath, file);
  int e = slurp(path, buf, BUF_LEN);
  if (e == 0 || cpath[0] == '\0') return e;
  snprintf(path, 512, "%s/%s/%s", c->cg, dir, file);
  return slurp(path, buf, BUF_LEN);
}

/* Parse a byte count; "max" or >= 2^62 is no limit (absent). */
static void cg_bytes(ctx *c, const char *path, const char *buf, const char *field,
                     gsp_monitor_field f) {
  uint64_t v;
  char *end;
  if (strncmp(buf, "max", 3) == 0) return;
  if (!to_u64(buf, &end, &v)) {
    parse_err(c, path, field, "not a number");
    return;
  }
  if (v < (1ull << 62)) set(c, f, (double)v);
}

static bool cgroup_memory(ctx *c, const char *dir, const char *cpath, const char *limit,
                          const char *usage) {
  char path[512], buf[BUF_LEN];
  if (cg_read(c, dir, cpath, limit, path, buf)) return false;
  cg_bytes(c, path, buf, limit, GSP_MON_CGROUP_MEM_LIMIT);
  if (cg_read(c, dir, cpath, usage, path, buf) == 0)
    cg_bytes(c, path, buf, usage, GSP_MON_CGROUP_MEM_USAGE);
  return true;
}

static void cg_quota(ctx *c, const char *path, const char *qs, const char *ps) {
  char *end;
  uint64_t period;
  if (strncmp(qs, "max", 3) == 0 || strncmp(qs, "-1", 2) == 0) return;
  errno = 0;
  double quota = strtod(qs, &end);
  if (end == qs || errno != 0 || !to_u64(ps, &end, &period) || period == 0) {
    parse_err(c, path, "quota/period", "not a number");
    return;
  }
  set(c, GSP_MON_CGROUP_CPU_QUOTA, quota / (double)period);
}

static void cgroup_cpu(ctx *c, const char *v2path, const char *v1path) {
  char path[512], buf[BUF_LEN], pbuf[BUF_LEN], ppath[512];
  if (cg_read(c, "", v2path, "cpu.max", path, buf) == 0) {
    char *sp = strchr(buf, ' ');
    cg_quota(c, path, buf, sp ? sp + 1 : "");
    return;
  }
  static const char *const dirs[] = {"cpu", "cpu,cpuacct"};
  for (int i = 0; i < 2; i++) {
    if (cg_read(c, dirs[i], v1path, "cpu.cfs_quota_us", path, buf)) continue;
    if (cg_read(c, dirs[i], v1path, "cpu.cfs_period_us", ppath, pbuf) == 0)
      cg_quota(c, path, buf, pbuf);
    return;
  }
}

static void read_cgroup(ctx *c) {
  char v2[256], v1mem[256], v1cpu[256], path[512], text[BUF_LEN];
  slurp_at(c->proc, "self/cgroup", path, sizeof path, text); /* "" when unreadable */
  cgroup_path(text, NULL, v2, sizeof v2);
  cgroup_path(text, "memory", v1mem, sizeof v1mem);
  cgroup_path(text, "cpu", v1cpu, sizeof v1cpu);
  if (!cgroup_memory(c, "", v2, "memory.max", "memory.current"))
    cgroup_memory(c, "memory", v1mem, "memory.limit_in_bytes", "memory.usage_in_bytes");
  cgroup_cpu(c, v2, v1cpu);
}

bool gsp__procfs_sample(const char *proc, const char *cgroup, gsp__prev *prev,
                        gsp_monitor_sample *s, char *err, size_t errlen) {
  ctx c = {.proc = proc, .cg = cgroup, .s = s, .err = err, .errlen = errlen};
  err[0] = '\0';
  read_stat(&c, prev);
  read_statm(&c);
  read_status(&c);
  read_io(&c);
  count_fds(&c);
  read_cpu(&c, prev);
  read_meminfo(&c);
  read_loadavg(&c);
  read_cgroup(&c);
  struct mallinfo2 mi = mallinfo2();
  set(&c, GSP_MON_PROC_HEAP_BYTES, (double)(mi.uordblks + mi.hblkhd));
  return !c.bad;
}
