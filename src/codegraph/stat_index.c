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
 * time instead; the walk's start is earlier, so it marks every entry git
 * would and also a file rewritten within one tick after being hashed in a
 * run that lasted longer than a tick. Granularity: 20 ms (above a jiffy at
 * 100 Hz) when either time has nanoseconds, 2 s (FAT) when both are whole
 * seconds. ctime catches a content change whose mtime was put back with
 * utimensat (ctime cannot be set).
 *
 * Invariants: a vouched file (stat_known) has the hash the index holds for
 * exactly its path, device, inode, size, mtime and ctime; nothing is
 * vouched from a file that failed a check.
 */
#define _GNU_SOURCE /* realpath */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include "cg_int.h"
#include "gsperf/tier.h"

#define IX_MAGIC "GSPSTIX1"
#define IX_VERSION 1u
#define IX_MAX_ENTRIES ((uint32_t)1 << 26)
#define GRAN_FINE ((int64_t)20 * 1000 * 1000)
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

static void warn(gsp_cg *cg, const char *path, const char *what) {
  snprintf(cg->warn, sizeof cg->warn, "%s: stat index %s; every file was read and hashed", path,
           what);
  gsp_log(GSP_LOG_WARN, "codegraph", "%s", cg->warn);
}

/* <dir>/stat-<hash of the root's real path>.idx, or NULL (no directory,
 * no real path, out of memory). */
static char *index_path(const gsp_cg *cg) {
  const char *dir = cg->cfg.store ? gsp_tier_l3_dir(cg->cfg.store) : NULL;
  if (dir == NULL || cg->cfg.no_cache || cg->cfg.no_stat_index || cg->cfg.farm) return NULL;
  char *real = realpath(cg->root, NULL);
  if (real == NULL) return NULL;
  uint64_t h = XXH3_64bits(real, strlen(real));
  free(real);
  size_t n = strlen(dir) + 32;
  char *p = gsp_malloc(n);
  if (p) snprintf(p, n, "%s/stat-%016" PRIx64 ".idx", dir, h);
  return p;
}

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
      len != sizeof h + (size_t)h.count * sizeof(ix_ent) + h.strtab_len)
    return "is truncated or has trailing bytes (size does not match its header)";
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

static bool vouches(const ix_ent *e, const cg_file *f, int64_t ref_ns) {
  if (e->dev != f->dev || e->ino != f->ino || e->size != f->size || e->mtime_ns != f->mtime_ns ||
      e->ctime_ns != f->ctime_ns)
    return false;
  int64_t limit = ref_ns - granularity(e->mtime_ns, e->ctime_ns);
  return e->mtime_ns < limit && e->ctime_ns < limit; /* else racy */
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
    if (c != 0 || !vouches(&e[k], f, h.ref_ns)) continue;
    memcpy(f->hash, e[k].hash, 16);
    f->stat_known = true;
    known++;
  }
  return known;
}

void gsp__cg_stat_index_load(gsp_cg *cg, cg_stat_index *ix) {
  *ix = (cg_stat_index){.path = index_path(cg)};
  if (ix->path == NULL) return;
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

/* The index of the files hashed in this run, in a new buffer. */
static uint8_t *build(const gsp_cg *cg, size_t *len) {
  size_t n = 0, strl = 0;
  for (size_t i = 0; i < cg->nfiles; i++)
    if (cg->files[i].res) n++, strl += strlen(cg->files[i].path);
  *len = sizeof(ix_hdr) + n * sizeof(ix_ent) + strl;
  uint8_t *buf = gsp_malloc(*len);
  if (buf == NULL) return NULL;
  ix_ent *e = (ix_ent *)(void *)(buf + sizeof(ix_hdr));
  char *strs = (char *)(e + n);
  size_t k = 0, off = 0;
  for (size_t i = 0; i < cg->nfiles; i++) {
    const cg_file *f = &cg->files[i];
    if (f->res == NULL) continue;
    size_t pl = strlen(f->path);
    e[k] = (ix_ent){.dev = f->dev,
                    .ino = f->ino,
                    .size = f->size,
                    .mtime_ns = f->mtime_ns,
                    .ctime_ns = f->ctime_ns,
                    .path_off = (uint32_t)off,
                    .path_len = (uint32_t)pl};
    memcpy(e[k++].hash, f->hash, 16);
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
  if (snprintf(tmp, sizeof tmp, "%s.%ld.tmp", path, (long)getpid()) >= (int)sizeof tmp)
    return GSP_ERANGE;
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return GSP_EIO;
  size_t done = 0;
  ssize_t w = 1;
  while (done < len && (w = write(fd, buf + done, len - done)) > 0) done += (size_t)w;
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
  if (ix->path == NULL || (ix->valid && ix->known == cg->nfiles && ix->loaded == cg->nfiles))
    return;
  size_t len = 0;
  uint8_t *buf = build(cg, &len);
  if (buf == NULL) return;
  if (write_atomic(ix->path, buf, len) != GSP_OK) {
    snprintf(cg->warn, sizeof cg->warn, "%s: stat index cannot be written: %s", ix->path,
             strerror(errno));
    gsp_log(GSP_LOG_WARN, "codegraph", "%s", cg->warn);
  }
  gsp_free(buf);
}

void gsp__cg_stat_index_free(cg_stat_index *ix) {
  gsp_free(ix->path);
  ix->path = NULL;
}
