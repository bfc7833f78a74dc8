/*
 * stat_index.c - the stat index: what a warm run needs to know about a
 * file without reading it. Per path it keeps the file's (device, inode,
 * size, mtime ns, ctime ns) as the walk saw it and the XXH3-128 hash of
 * the content read then. A later run whose walk sees the same five values
 * takes the hash from here and goes straight to the result store (the
 * design of git's index, ccache's direct mode, ninja's log): no open, no
 * read, no hash.
 *
 * File: <cache dir>/stat-<XXH3-64 of the root's real path, hex>.idx, one
 * per tree, beside the LMDB files of the store (gsp_tier_l3_dir). Native
 * byte order (the cache directory belongs to one machine):
 *
 *   header   48 bytes: magic "GSPSTIX1", version, count, reference time
 *            (ns, CLOCK_REALTIME), string table length, XXH3-64 checksum of
 *            every byte after the header
 *   entries  count x 64 bytes (ix_ent), in strcmp order of their paths,
 *            strictly increasing (the order of cg->files: matched by merge)
 *   strings  the paths back to back, no terminators
 *
 * A file that fails any check (size, magic, version, checksum, bounds,
 * order) is not used: the run hashes every file, as without an index, and
 * says so (cg->warn, the log sink), naming the path. The index is written
 * to a temporary file in the same directory and renamed over the old one,
 * so a reader sees the old index or the new one, never a mix; it is not
 * fsync'ed (a crash may leave it short or empty: then it fails its check).
 * A run killed between the two leaves "<index>.<pid>.tmp" (or the memo's):
 * opening the index removes this tree's temporary files whose pid no
 * longer runs (kill(pid, 0) == ESRCH). A failed write goes to cg->warn
 * (gsp_cg_warning) and the log sink, naming the path and errno's text;
 * the run still completes. Warnings of one run are joined with "; ".
 * A run whose files were all vouched for, and no more of them, leaves it
 * as it is.
 *
 * Racy entries. A timestamp is the kernel's coarse clock at the write,
 * which advances in ticks (one jiffy; whole seconds on some file systems).
 * A write that lands in the same tick as the write before it leaves mtime
 * and ctime as they were; if the file was hashed in between and its size
 * did not change, the stat would match a stale hash. That can only happen
 * to a file whose recorded times are not older than the moment it was
 * stat'ed minus a tick. So the index keeps a reference time, taken when
 * the walk of the run that wrote it began (before any lstat), and an entry
 * whose mtime or ctime is not older than reference - granularity is racy:
 * never trusted, its file read and hashed again (and recorded again, with
 * the later run's reference). Git compares with the index file's own write
 * time, stamped by the file system's clock; the reference here is
 * CLOCK_REALTIME, while file times come from the kernel's coarse clock,
 * which lags it by up to a tick, and more when the timekeeping CPU stalls
 * (a few ticks on a busy VM). Granularity: 100 ms when either time has
 * nanoseconds (25 ticks at the 250 Hz of Debian's kernel, 10 at 100 Hz),
 * 2 s (FAT) when both are whole seconds. ctime catches a content change
 * whose mtime was put back with utimensat (ctime cannot be set).
 *
 * Clocks of another machine. On a network or FUSE file system times come
 * from the server, whose clock may be anywhere relative to ours, and some
 * (sshfs) report ctime equal to mtime: no margin is safe there, so neither
 * the index nor the include memo is used when the root is on NFS, SMB/CIFS,
 * FUSE, 9p, Ceph, AFS or Coda (statfs of the root). Below a local root,
 * the walk finds the network mounts it crosses (netfs.h): files below one
 * are never vouched for, recorded in the index or in the memo (hashed and
 * read every run), and the rest of the tree keeps both; the index and
 * the memo count only the other files when deciding whether to write.
 *
 * Invariants: a vouched file (stat_known) has the hash the index holds for
 * exactly its path, device, inode, size, mtime and ctime; nothing is
 * vouched from a file that failed a check.
 *
 * The same file also keeps the include memo of resolve_cxx.c's scan
 * (cxx-<hash>.memo, cxx_memo.h, at the end of this file): per C file its
 * stat and extension-less include spellings, vouched by the same rule.
 */
#define _GNU_SOURCE /* realpath */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>

#include "cg_int.h"
#include "cxx_memo.h"
#include "netfs.h"
#include "gsperf/tier.h"

#define IX_MAGIC "GSPSTIX1"
#define IX_VERSION 1u
#define IX_MAX_ENTRIES ((uint32_t)1 << 26)
#define GRAN_FINE ((int64_t)100 * 1000 * 1000)
#define GRAN_COARSE ((int64_t)2 * 1000 * 1000 * 1000)
#define NS_PER_S ((int64_t)1000 * 1000 * 1000)

typedef struct ix_hdr {
  char magic[8];
  uint32_t version, count;
  int64_t ref_ns;
  uint64_t strtab_len;
  uint64_t reserved;
  uint64_t checksum;
} ix_hdr;

typedef struct ix_ent {
  uint64_t dev, ino, size;
  int64_t mtime_ns, ctime_ns;
  uint8_t hash[16];
  uint32_t path_off, path_len;
} ix_ent;

_Static_assert(sizeof(ix_hdr) == 48, "ix_hdr layout");
_Static_assert(sizeof(ix_ent) == 64, "ix_ent layout");

const char *gsp_cg_warning(const gsp_cg *cg) { return cg ? cg->warn : ""; }

/* A problem the run worked around, for gsp_cg_warning and the log sink;
 * appended to one noted before, so that none is lost. */
static void note(gsp_cg *cg, const char *fmt, ...) GSP_PRINTF(2, 3);
static void note(gsp_cg *cg, const char *fmt, ...) {
  char msg[sizeof cg->warn];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  gsp_log(GSP_LOG_WARN, "codegraph", "%s", msg);
  size_t used = strlen(cg->warn), room = sizeof cg->warn - used, ml = strlen(msg);
  const char *sep = used ? "; " : "";
  size_t sl = strlen(sep);
  if (room <= sl + 1) return;
  if (ml > room - sl - 1) ml = room - sl - 1;
  memcpy(cg->warn + used, sep, sl);
  memcpy(cg->warn + used + sl, msg, ml);
  cg->warn[used + sl + ml] = '\0';
}

static void warn(gsp_cg *cg, const char *path, const char *what) {
  note(cg, "%s: stat index %s; every file was read and hashed", path, what);
}

/* <dir>/<prefix>-<hash of the root's real path>.<ext>, or NULL (no
 * directory, no real path, the root's times not ours, out of memory). */
static char *cache_file(const gsp_cg *cg, const char *prefix, const char *ext) {
  const char *dir = cg->cfg.store ? gsp_tier_l3_dir(cg->cfg.store) : NULL;
  if (dir == NULL || cg->cfg.no_cache || cg->cfg.no_stat_index || cg->cfg.farm) return NULL;
  if (gsp__cg_remote_fs(cg->root)) return NULL;
  char *real = realpath(cg->root, NULL);
  if (real == NULL) return NULL;
  uint64_t h = XXH3_64bits(real, strlen(real));
  free(real);
  size_t n = strlen(dir) + strlen(prefix) + strlen(ext) + 24;
  char *p = gsp_malloc(n);
  if (p) snprintf(p, n, "%s/%s-%016" PRIx64 ".%s", dir, prefix, h, ext);
  return p;
}

static char *index_path(const gsp_cg *cg) { return cache_file(cg, "stat", "idx"); }

/* Read path whole into a gsp_malloc'd buffer; GSP_ENOENT if absent. */
static int slurp(const char *path, uint8_t **out, size_t *len) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return errno == ENOENT ? GSP_ENOENT : GSP_EIO;
  struct stat st;
  int rv = fstat(fd, &st) == 0 ? GSP_OK : GSP_EIO;
  uint8_t *b = rv == GSP_OK ? gsp_malloc((size_t)st.st_size + 1) : NULL;
  if (rv == GSP_OK && b == NULL) rv = GSP_ENOMEM;
  size_t got = 0;
  ssize_t r = 1;
  while (rv == GSP_OK && got < (size_t)st.st_size &&
         (r = read(fd, b + got, (size_t)st.st_size - got)) > 0)
    got += (size_t)r;
  close(fd);
  if (rv == GSP_OK && r < 0) rv = GSP_EIO;
  if (rv != GSP_OK) {
    gsp_free(b);
    return rv;
  }
  *out = b, *len = got;
  return GSP_OK;
}

/* NULL if buf[0, len) is a sound index, else what is wrong with it. */
static const char *check(const uint8_t *buf, size_t len) {
  ix_hdr h;
  if (len < sizeof h) return "is truncated (shorter than its header)";
  memcpy(&h, buf, sizeof h);
  if (memcmp(h.magic, IX_MAGIC, 8) != 0) return "has no index header (bad magic)";
  if (h.version != IX_VERSION) return "has an unknown version";
  if (h.count > IX_MAX_ENTRIES || h.strtab_len > len ||
      (uint64_t)len != sizeof h + (uint64_t)h.count * sizeof(ix_ent) + h.strtab_len)
    return "is truncated or has trailing bytes (size does not match its header)";
  if (h.ref_ns < GRAN_COARSE) return "is corrupt (reference time before 1970)";
  if (XXH3_64bits(buf + sizeof h, len - sizeof h) != h.checksum)
    return "is corrupt (checksum mismatch)";
  const ix_ent *e = (const ix_ent *)(const void *)(buf + sizeof h);
  const char *strs = (const char *)(e + h.count);
  for (uint32_t i = 0; i < h.count; i++) {
    if ((uint64_t)e[i].path_off + e[i].path_len > h.strtab_len || e[i].path_len == 0)
      return "is corrupt (a path out of bounds)";
    if (i == 0) continue;
    size_t a = e[i - 1].path_len, b = e[i].path_len;
    int c = memcmp(strs + e[i - 1].path_off, strs + e[i].path_off, a < b ? a : b);
    if (c > 0 || (c == 0 && a >= b)) return "is corrupt (paths out of order)";
  }
  return NULL;
}

static int64_t granularity(int64_t mtime_ns, int64_t ctime_ns) {
  return mtime_ns % NS_PER_S == 0 && ctime_ns % NS_PER_S == 0 ? GRAN_COARSE : GRAN_FINE;
}

/* The recorded stat equals the walk's and is not racy against ref_ns. */
static bool same_stat(uint64_t dev, uint64_t ino, uint64_t size, int64_t mtime_ns, int64_t ctime_ns,
                      const cg_file *f, int64_t ref_ns) {
  if (dev != f->dev || ino != f->ino || size != f->size || mtime_ns != f->mtime_ns ||
      ctime_ns != f->ctime_ns)
    return false;
  int64_t limit = ref_ns - granularity(mtime_ns, ctime_ns);
  return mtime_ns < limit && ctime_ns < limit; /* else racy */
}

static bool vouches(const ix_ent *e, const cg_file *f, int64_t ref_ns) {
  return same_stat(e->dev, e->ino, e->size, e->mtime_ns, e->ctime_ns, f, ref_ns);
}

/* strcmp order of a NUL-terminated path and a counted one. */
static int cmp_path(const char *p, const char *q, size_t qlen) {
  size_t plen = strlen(p);
  int c = memcmp(p, q, plen < qlen ? plen : qlen);
  return c ? c : (plen > qlen) - (plen < qlen);
}

/* Merge the sorted entries with the sorted files. */
static size_t match(gsp_cg *cg, const uint8_t *buf) {
  ix_hdr h;
  memcpy(&h, buf, sizeof h);
  const ix_ent *e = (const ix_ent *)(const void *)(buf + sizeof h);
  const char *strs = (const char *)(e + h.count);
  size_t known = 0, k = 0;
  for (size_t i = 0; i < cg->nfiles && k < h.count; i++) {
    cg_file *f = &cg->files[i];
    int c = -1;
    while (k < h.count && (c = cmp_path(f->path, strs + e[k].path_off, e[k].path_len)) > 0) k++;
    if (c != 0 || !vouches(&e[k], f, h.ref_ns) || (cg->netdirs && gsp__cg_on_netfs(cg, f->path)))
      continue;
    memcpy(f->hash, e[k].hash, 16);
    f->stat_known = true;
    known++;
  }
  return known;
}

/* Whether name is "<base>.<pid>.tmp" (write_atomic's temporary file of
 * base); *pid the number. */
static bool tmp_of(const char *name, const char *base, size_t bl, long *pid) {
  if (strncmp(name, base, bl) != 0 || name[bl] != '.' || name[bl + 1] < '1' || name[bl + 1] > '9')
    return false;
  char *end;
  errno = 0;
  *pid = strtol(name + bl + 1, &end, 10);
  return errno == 0 && *pid > 0 && *pid <= INT32_MAX && strcmp(end, ".tmp") == 0;
}

/* Remove the temporary files of this tree's index and memo that a run
 * killed before its rename left in the cache directory: those whose
 * process no longer exists (kill(pid, 0) fails with ESRCH) and that are
 * older than STALE_TMP_SECS. A live pid's file is left alone (a run
 * writing now, or an unrelated process that got the number again: then the
 * file stays until that one is gone too); so is a recent one, which may be
 * a live writer's on another host or in another pid namespace sharing the
 * cache directory (its pid means nothing here; a write takes well under
 * a second). */
#define STALE_TMP_SECS 600

static void sweep_stale(const char *ix_path) {
  const char *slash = strrchr(ix_path, '/');
  const char *base = slash ? slash + 1 : ix_path;
  size_t bl = strlen(base), dl = slash ? (size_t)(slash - ix_path) : 0;
  char dir[4096], memo[256];
  /* "stat-<hash>.idx" -> "cxx-<hash>.memo" */
  if (dl >= sizeof dir || bl < 9 || bl >= sizeof memo) return;
  memcpy(dir, ix_path, dl);
  dir[dl] = '\0';
  snprintf(memo, sizeof memo, "cxx-%.*s.memo", (int)(bl - 9), base + 5);
  size_t ml = strlen(memo);
  DIR *d = opendir(dl ? dir : ".");
  if (d == NULL) return;
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    long pid;
    if (!tmp_of(e->d_name, base, bl, &pid) && !tmp_of(e->d_name, memo, ml, &pid)) continue;
    if (kill((pid_t)pid, 0) == 0 || errno != ESRCH) continue;
    struct stat st;
    if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 ||
        time(NULL) - st.st_mtime < STALE_TMP_SECS)
      continue;
    if (unlinkat(dirfd(d), e->d_name, 0) == 0)
      gsp_log(GSP_LOG_INFO, "codegraph", "%s/%s: removed, left by process %ld (gone)", dir,
              e->d_name, pid);
  }
  closedir(d);
}

void gsp__cg_stat_index_load(gsp_cg *cg, cg_stat_index *ix) {
  *ix = (cg_stat_index){.path = index_path(cg)};
  if (ix->path == NULL) return;
  sweep_stale(ix->path);
  uint8_t *buf = NULL;
  size_t len = 0;
  int rv = slurp(ix->path, &buf, &len);
  if (rv == GSP_ENOENT || rv == GSP_ENOMEM) return;
  const char *bad = rv == GSP_OK ? check(buf, len) : "cannot be read";
  if (bad) {
    warn(cg, ix->path, bad);
  } else {
    ix_hdr h;
    memcpy(&h, buf, sizeof h);
    ix->valid = true, ix->loaded = h.count;
    ix->known = match(cg, buf);
  }
  gsp_free(buf);
}

/* Whether f may be recorded: hashed this run, not on a network mount. */
static bool recordable(const gsp_cg *cg, const cg_file *f) {
  return f->res && !(cg->netdirs && gsp__cg_on_netfs(cg, f->path));
}

/* The files an index of this run would vouch for next time: all but those
 * below a network mount. */
static size_t local_files(const gsp_cg *cg) {
  size_t n = cg->nfiles;
  for (size_t i = 0; cg->netdirs && i < cg->nfiles; i++)
    n -= gsp__cg_on_netfs(cg, cg->files[i].path);
  return n;
}

/* The index of the files hashed in this run, in a new buffer. */
static uint8_t *build(const gsp_cg *cg, size_t *len) {
  size_t n = 0, strl = 0;
  for (size_t i = 0; i < cg->nfiles; i++)
    if (recordable(cg, &cg->files[i])) n++, strl += strlen(cg->files[i].path);
  if (n > IX_MAX_ENTRIES || strl > UINT32_MAX) return NULL; /* beyond the format: no index */
  *len = sizeof(ix_hdr) + n * sizeof(ix_ent) + strl;
  uint8_t *buf = gsp_malloc(*len);
  if (buf == NULL) return NULL;
  ix_ent *e = (ix_ent *)(void *)(buf + sizeof(ix_hdr));
  char *strs = (char *)(e + n);
  size_t k = 0, off = 0;
  for (size_t i = 0; i < cg->nfiles; i++) {
    const cg_file *f = &cg->files[i];
    if (!recordable(cg, f)) continue;
    size_t pl = strlen(f->path);
    e[k] = (ix_ent){.dev = f->dev,
                    .ino = f->ino,
                    .size = f->size,
                    .mtime_ns = f->mtime_ns,
                    .ctime_ns = f->ctime_ns,
                    .path_off = (uint32_t)off,
                    .path_len = (uint32_t)pl};
    memcpy(e[k++].hash, gsp__cg_hm_content(cg, i), 16); /* not the learned names' identity */
    memcpy(strs + off, f->path, pl);
    off += pl;
  }
  ix_hdr h = {
      .version = IX_VERSION, .count = (uint32_t)n, .ref_ns = cg->walk_real_ns, .strtab_len = strl};
  memcpy(h.magic, IX_MAGIC, 8);
  h.checksum = XXH3_64bits(buf + sizeof h, *len - sizeof h);
  memcpy(buf, &h, sizeof h);
  return buf;
}

/* Write buf to a temporary file beside path and rename it over path. */
static int write_atomic(const char *path, const uint8_t *buf, size_t len) {
  char tmp[4200];
  if (snprintf(tmp, sizeof tmp, "%s.%ld.tmp", path, (long)getpid()) >= (int)sizeof tmp) {
    errno = ENAMETOOLONG; /* for the warning */
    return GSP_ERANGE;
  }
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return GSP_EIO;
  size_t done = 0;
  ssize_t w = 1;
  while (done < len && (w = write(fd, buf + done, len - done)) > 0) done += (size_t)w;
  if (w == 0) errno = ENOSPC; /* a write that took nothing: no room */
  int rv = done == len && close(fd) == 0 ? GSP_OK : GSP_EIO;
  if (done != len) close(fd);
  if (rv == GSP_OK && rename(tmp, path) != 0) rv = GSP_EIO;
  if (rv != GSP_OK) {
    int e = errno;
    unlink(tmp);
    errno = e; /* the failure's, for the warning */
  }
  return rv;
}

void gsp__cg_stat_index_save(gsp_cg *cg, cg_stat_index *ix) {
  if (ix->path == NULL) return;
  size_t local = local_files(cg);
  if (ix->valid && ix->known == local && ix->loaded == local) return;
  size_t len = 0;
  uint8_t *buf = build(cg, &len);
  if (buf == NULL) {
    note(cg, "%s: stat index not written: out of memory or more files than it holds", ix->path);
    return;
  }
  if (write_atomic(ix->path, buf, len) != GSP_OK) {
    note(cg, "%s: stat index cannot be written: %s", ix->path, strerror(errno));
  }
  gsp_free(buf);
}

void gsp__cg_stat_index_free(cg_stat_index *ix) {
  gsp_free(ix->path);
  ix->path = NULL;
}

/* ---- the include memo of the extension-less header scan (cxx_memo.h) ----
 *
 * File: <cache dir>/cxx-<same hash as the index>.memo. Same header as the
 * index (magic "GSPCXXM1", its own version), then count x 56-byte entries
 * (mx_ent, in the order the scan wrote them, paths unique), then the
 * string table: per entry its path and its spellings (kind byte, spelling,
 * NUL; repeated). Checks as for the index, plus: every spelling list ends
 * with a NUL within its bounds. The reference time is the walk's start of
 * the run that wrote it, and an entry vouches by the index's racy rule.
 */

#define MX_MAGIC "GSPCXXM1"
#define MX_VERSION 2u /* 2: every include, taught and #undef'd names */
/* What a memo header carries: its own layout's version and the result
 * format's, whose bump also marks a change to what the pre-scan notes (the
 * rules for taught names), so a memo of older rules is never trusted. */
#define MX_HDR_VERSION (MX_VERSION << 16 | CG_RESULT_VERSION)

typedef struct mx_ent {
  uint64_t dev, ino, size;
  int64_t mtime_ns, ctime_ns;
  uint32_t path_off, path_len, sp_off, sp_len;
} mx_ent;

_Static_assert(sizeof(mx_ent) == 56, "mx_ent layout");

static const mx_ent *mx_ents(const uint8_t *buf) {
  return (const mx_ent *)(const void *)(buf + sizeof(ix_hdr));
}

/* Spellings sp[0, n): each a kind byte and a NUL-terminated string. */
static bool mx_spellings_ok(const char *sp, size_t n) {
  for (size_t o = 0; o < n;) {
    const char *z = memchr(sp + o + 1, '\0', o + 1 < n ? n - o - 1 : 0);
    if (o + 1 >= n || z == NULL || sp[o] == '\0') return false; /* a kind byte is never 0 */
    o = (size_t)(z - sp) + 1;
  }
  return true;
}

static bool mx_check(const uint8_t *buf, size_t len) {
  ix_hdr h;
  if (len < sizeof h) return false;
  memcpy(&h, buf, sizeof h);
  if (memcmp(h.magic, MX_MAGIC, 8) != 0 || h.version != MX_HDR_VERSION ||
      h.count > IX_MAX_ENTRIES || h.strtab_len > len || h.ref_ns < GRAN_COARSE ||
      (uint64_t)len != sizeof h + (uint64_t)h.count * sizeof(mx_ent) + h.strtab_len ||
      XXH3_64bits(buf + sizeof h, len - sizeof h) != h.checksum)
    return false;
  const mx_ent *e = mx_ents(buf);
  const char *strs = (const char *)(e + h.count);
  for (uint32_t i = 0; i < h.count; i++)
    if ((uint64_t)e[i].path_off + e[i].path_len > h.strtab_len || e[i].path_len == 0 ||
        (uint64_t)e[i].sp_off + e[i].sp_len > h.strtab_len ||
        !mx_spellings_ok(strs + e[i].sp_off, e[i].sp_len))
      return false;
  return true;
}

static int mx_index(cg_cxx_memo *m) {
  size_t cap = 16;
  while (cap < (size_t)m->count * 2) cap *= 2;
  m->slots = gsp_calloc(cap, sizeof *m->slots);
  if (m->slots == NULL) return GSP_ENOMEM;
  m->cslots = cap;
  const mx_ent *e = mx_ents(m->buf);
  const char *strs = (const char *)(e + m->count);
  for (uint32_t i = 0; i < m->count; i++) {
    size_t h = (size_t)XXH3_64bits(strs + e[i].path_off, e[i].path_len) & (cap - 1);
    while (m->slots[h]) h = (h + 1) & (cap - 1);
    m->slots[h] = i + 1;
  }
  return GSP_OK;
}

void gsp__cg_cxx_memo_load(gsp_cg *cg, cg_cxx_memo *m) {
  *m = (cg_cxx_memo){.path = cache_file(cg, "cxx", "memo")};
  size_t len = 0;
  if (m->path == NULL || slurp(m->path, &m->buf, &len) != GSP_OK)
    return; /* none yet, unreadable or no memory: read every file */
  bool ok = mx_check(m->buf, len);
  if (ok) {
    ix_hdr h;
    memcpy(&h, m->buf, sizeof h);
    m->count = h.count, m->ref_ns = h.ref_ns;
    ok = mx_index(m) == GSP_OK;
  }
  if (!ok) {
    gsp_free(m->buf), gsp_free(m->slots);
    m->buf = NULL, m->slots = NULL, m->count = 0;
  }
}

bool gsp__cg_cxx_memo_find(cg_cxx_memo *m, const gsp_cg *cg, const cg_file *f, const char **sp,
                           size_t *len) {
  if (m->slots == NULL || f->size > cg->cfg.max_file_bytes ||
      (cg->netdirs && gsp__cg_on_netfs(cg, f->path)))
    return false;
  const mx_ent *e = mx_ents(m->buf);
  const char *strs = (const char *)(e + m->count);
  size_t pl = strlen(f->path), mask = m->cslots - 1;
  for (size_t h = (size_t)XXH3_64bits(f->path, pl) & mask; m->slots[h]; h = (h + 1) & mask) {
    const mx_ent *x = &e[m->slots[h] - 1];
    if (x->path_len != pl || memcmp(strs + x->path_off, f->path, pl) != 0) continue;
    if (!same_stat(x->dev, x->ino, x->size, x->mtime_ns, x->ctime_ns, f, m->ref_ns)) return false;
    *sp = strs + x->sp_off, *len = x->sp_len;
    atomic_fetch_add(&m->hits, 1);
    return true;
  }
  return false;
}

/* Whether scanned file rec may be recorded: not on a network mount. */
static bool mx_recordable(const gsp_cg *cg, const cg_cxx_rec *rec) {
  return !(cg->netdirs && gsp__cg_on_netfs(cg, cg->files[rec->file].path));
}

static uint8_t *mx_build(const gsp_cg *cg, const cg_cxx_rec *recs, size_t nrecs, size_t *len) {
  size_t strl = 0, n = 0;
  for (size_t i = 0; i < nrecs; i++)
    if (mx_recordable(cg, &recs[i]))
      n++, strl += strlen(cg->files[recs[i].file].path) + recs[i].len;
  if (n > IX_MAX_ENTRIES || strl > UINT32_MAX) return NULL; /* beyond the format: no memo */
  *len = sizeof(ix_hdr) + n * sizeof(mx_ent) + strl;
  uint8_t *buf = gsp_malloc(*len);
  if (buf == NULL) return NULL;
  mx_ent *e = (mx_ent *)(void *)(buf + sizeof(ix_hdr));
  char *strs = (char *)(e + n);
  size_t off = 0, k = 0;
  for (size_t i = 0; i < nrecs; i++) {
    if (!mx_recordable(cg, &recs[i])) continue;
    const cg_file *f = &cg->files[recs[i].file];
    size_t pl = strlen(f->path);
    e[k++] = (mx_ent){.dev = f->dev,
                      .ino = f->ino,
                      .size = f->size,
                      .mtime_ns = f->mtime_ns,
                      .ctime_ns = f->ctime_ns,
                      .path_off = (uint32_t)off,
                      .path_len = (uint32_t)pl,
                      .sp_off = (uint32_t)(off + pl),
                      .sp_len = (uint32_t)recs[i].len};
    memcpy(strs + off, f->path, pl);
    if (recs[i].len) memcpy(strs + off + pl, recs[i].sp, recs[i].len);
    off += pl + recs[i].len;
  }
  ix_hdr h = {.version = MX_HDR_VERSION,
              .count = (uint32_t)n,
              .ref_ns = cg->walk_real_ns,
              .strtab_len = strl};
  memcpy(h.magic, MX_MAGIC, 8);
  h.checksum = XXH3_64bits(buf + sizeof h, *len - sizeof h);
  memcpy(buf, &h, sizeof h);
  return buf;
}

void gsp__cg_cxx_memo_save(gsp_cg *cg, cg_cxx_memo *m, const cg_cxx_rec *recs, size_t n) {
  if (m->path == NULL) return;
  size_t local = 0;
  for (size_t i = 0; i < n; i++) local += mx_recordable(cg, &recs[i]);
  if (m->buf && m->hits == local && m->count == local) return;
  size_t len = 0;
  uint8_t *buf = mx_build(cg, recs, n, &len);
  if (buf == NULL) {
    note(cg, "%s: include memo not written: out of memory or more files than it holds", m->path);
    return;
  }
  if (write_atomic(m->path, buf, len) != GSP_OK)
    note(cg, "%s: include memo cannot be written: %s", m->path, strerror(errno));
  gsp_free(buf);
}

void gsp__cg_cxx_memo_free(cg_cxx_memo *m) {
  gsp_free(m->path), gsp_free(m->buf), gsp_free(m->slots);
  *m = (cg_cxx_memo){0};
}
