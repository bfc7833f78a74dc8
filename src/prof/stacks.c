/*
 * stacks.c - the stack table (unique call stacks with sample counts) and
 * the raw sample files that carry samples out of a profiled process.
 *
 * Stack table. Open addressing with linear probing over `cap` (a power of
 * two) entries, keyed by a 64-bit hash of the pcs (FNV-1a style mix); the
 * pcs themselves live back to back in one growing array (`pcs`, entry
 * `off`), so an entry is 16 bytes and a lookup compares the hash first.
 * Load factor <= 1/2. Only the collector thread (or a report builder)
 * touches a table: no locking.
 *
 * Raw files (format in prof_int.h) are appended to by the profiled process
 * as it drains samples, so a reader sees every record written before a
 * crash; a truncated or foreign last record ends the read without error,
 * a wrong file header is GSP_EFORMAT.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "prof_int.h"

#define RAW_MAGIC "GSPRAW1\n"
#define REC_MAGIC 0x52535047u

void gsp__stacks_init(gsp__stacks *t) { memset(t, 0, sizeof *t); }

void gsp__stacks_free(gsp__stacks *t) {
  gsp_free(t->v);
  gsp_free(t->hash);
  gsp_free(t->pcs);
  memset(t, 0, sizeof *t);
}

static uint64_t hash_pcs(const uint64_t *pcs, uint32_t depth) {
  uint64_t h = 0xcbf29ce484222325ull ^ depth;
  for (uint32_t i = 0; i < depth; i++) {
    h ^= pcs[i];
    h *= 0x100000001b3ull;
    h ^= h >> 29;
  }
  return h | 1; /* never 0 */
}

static int grow_table(gsp__stacks *t) {
  size_t cap = t->cap ? t->cap * 2 : 256;
  gsp__stack *v = gsp_calloc(cap, sizeof *v);
  uint64_t *h = gsp_calloc(cap, sizeof *h);
  if (!v || !h) {
    gsp_free(v);
    gsp_free(h);
    return GSP_ENOMEM;
  }
  for (size_t i = 0; i < t->cap; i++) {
    if (t->hash[i] == 0) continue;
    size_t j = t->hash[i] & (cap - 1);
    while (h[j] != 0) j = (j + 1) & (cap - 1);
    h[j] = t->hash[i];
    v[j] = t->v[i];
  }
  gsp_free(t->v);
  gsp_free(t->hash);
  t->v = v;
  t->hash = h;
  t->cap = cap;
  return GSP_OK;
}

static int append_pcs(gsp__stacks *t, const uint64_t *pcs, uint32_t depth) {
  if (t->npcs + depth > t->pcs_cap) {
    size_t cap = t->pcs_cap ? t->pcs_cap * 2 : 4096;
    while (cap < t->npcs + depth) cap *= 2;
    uint64_t *p = gsp_realloc(t->pcs, cap * sizeof *p);
    if (!p) return GSP_ENOMEM;
    t->pcs = p;
    t->pcs_cap = cap;
  }
  memcpy(t->pcs + t->npcs, pcs, depth * sizeof *pcs);
  t->npcs += depth;
  return GSP_OK;
}

int gsp__stacks_add(gsp__stacks *t, const uint64_t *pcs, uint32_t depth, uint64_t count) {
  if (depth == 0) return GSP_EINVAL;
  if ((t->n + 1) * 2 > t->cap && grow_table(t) != GSP_OK) return GSP_ENOMEM;
  uint64_t h = hash_pcs(pcs, depth);
  size_t j = h & (t->cap - 1);
  for (; t->hash[j] != 0; j = (j + 1) & (t->cap - 1)) {
    gsp__stack *s = &t->v[j];
    if (t->hash[j] == h && s->depth == depth &&
        memcmp(t->pcs + s->off, pcs, depth * sizeof *pcs) == 0) {
      s->count += count;
      t->total += count;
      return GSP_OK;
    }
  }
  if (append_pcs(t, pcs, depth) != GSP_OK) return GSP_ENOMEM;
  t->hash[j] = h;
  t->v[j] = (gsp__stack){count, depth, (uint32_t)(t->npcs - depth)};
  t->n++;
  t->total += count;
  return GSP_OK;
}

int gsp__stacks_copy(gsp__stacks *dst, const gsp__stacks *src) {
  gsp__stacks_init(dst);
  for (size_t i = 0; i < src->cap; i++) {
    if (src->hash[i] == 0) continue;
    const gsp__stack *s = &src->v[i];
    int rv = gsp__stacks_add(dst, src->pcs + s->off, s->depth, s->count);
    if (rv != GSP_OK) {
      gsp__stacks_free(dst);
      return rv;
    }
  }
  return GSP_OK;
}

/* ---- raw files ----------------------------------------------------------- */

static int write_all(int fd, const void *buf, size_t len) {
  const char *p = buf;
  while (len > 0) {
    ssize_t w = write(fd, p, len);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return GSP_EIO;
    p += w;
    len -= (size_t)w;
  }
  return GSP_OK;
}

int gsp__raw_write_header(int fd, unsigned hz) {
  struct {
    char magic[8];
    uint32_t v[2];
  } h = {RAW_MAGIC, {hz, 0}};
  _Static_assert(sizeof h == 16, "raw header");
  return write_all(fd, &h, sizeof h);
}

bool gsp__raw_encode(char *buf, size_t cap, size_t *len, const gsp__sample *s) {
  size_t need = 16 + (size_t)s->depth * 8;
  if (*len + need > cap) return false;
  uint32_t h[4] = {REC_MAGIC, s->weight, s->depth, s->flags};
  memcpy(buf + *len, h, 16);
  memcpy(buf + *len + 16, s->pcs, (size_t)s->depth * 8);
  *len += need;
  return true;
}

int gsp__read_file(const char *path, char **buf, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) return errno == ENOENT ? GSP_ENOENT : GSP_EIO;
  size_t cap = 1 << 16, n = 0;
  char *b = gsp_malloc(cap + 1);
  while (b) {
    n += fread(b + n, 1, cap - n, f);
    if (n < cap) break;
    char *nb = gsp_realloc(b, cap * 2 + 1);
    if (!nb) gsp_free(b);
    b = nb;
    cap *= 2;
  }
  int err = ferror(f);
  fclose(f);
  if (!b) return GSP_ENOMEM;
  if (err) {
    gsp_free(b);
    return GSP_EIO;
  }
  b[n] = '\0';
  *buf = b;
  *len = n;
  return GSP_OK;
}

int gsp__raw_read(const char *path, gsp__stacks *t, unsigned *hz) {
  char *b;
  size_t len;
  int rv = gsp__read_file(path, &b, &len);
  if (rv != GSP_OK) return rv;
  if (len < 16 || memcmp(b, RAW_MAGIC, 8) != 0) {
    gsp_free(b);
    return GSP_EFORMAT;
  }
  uint32_t v[2];
  memcpy(v, b + 8, 8);
  if (hz) *hz = v[0];
  uint64_t pcs[GSP__PROF_MAX_DEPTH];
  for (size_t off = 16; off + 16 <= len && rv == GSP_OK;) {
    uint32_t h[4];
    memcpy(h, b + off, 16);
    size_t need = 16 + (size_t)h[2] * 8;
    if (h[0] != REC_MAGIC || h[2] == 0 || h[2] > GSP__PROF_MAX_DEPTH || off + need > len) break;
    memcpy(pcs, b + off + 16, (size_t)h[2] * 8);
    rv = gsp__stacks_add(t, pcs, h[2], h[1] ? h[1] : 1);
    off += need;
  }
  gsp_free(b);
  return rv;
}

/* Copies /proc/self/maps to PATH (through PATH.tmp and a rename) with
 * open/read/write on a stack buffer: no heap block and no stdio stream is
 * live while it runs, so a fork by another thread at any moment leaves
 * the child nothing to free (the collector thread calls this, and a fork
 * copies only the forking thread). */
int gsp__maps_save(const char *path) {
  char tmp[PATH_MAX], buf[8192];
  int n = snprintf(tmp, sizeof tmp, "%s.tmp", path);
  if (n < 0 || (size_t)n >= sizeof tmp) return GSP_EINVAL;
  int in = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
  if (in < 0) return GSP_EIO;
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  int rv = fd < 0 ? GSP_EIO : GSP_OK;
  while (rv == GSP_OK) {
    ssize_t r = read(in, buf, sizeof buf);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) rv = GSP_EIO;
    if (r <= 0) break;
    rv = write_all(fd, buf, (size_t)r);
  }
  close(in);
  if (fd >= 0 && close(fd) != 0) rv = GSP_EIO;
  if (rv == GSP_OK && rename(tmp, path) != 0) rv = GSP_EIO;
  if (rv != GSP_OK && fd >= 0) unlink(tmp);
  return rv;
}
