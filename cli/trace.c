/*
 * trace.c - reading cache traces for `gsperf cachesim` (see trace.h).
 *
 * What it does. A trace file is streamed once, through a small "source"
 * that hands out raw bytes either straight from the file or through
 * libzstd's streaming decompressor (chosen by the zstd magic number, so a
 * compressed file is never held whole in memory). A format parser turns the
 * bytes into requests: fixed 24-byte records for oracleGeneral, lines split
 * into blank-separated fields for the two text formats. Each request goes
 * to the loader, which numbers objects densely in order of first request.
 *
 * Data layout. The result is a few flat arrays: per request the dense
 * object number and the size (and, for oracleGeneral, the file's next
 * access field); per object its original id. Dense numbers let the
 * simulators keep per-object state in arrays instead of hash tables. The
 * id -> number map is an open-addressing table (linear probing, load at
 * most 1/2) storing each slot's hash and number; "empty" is the number
 * UINT32_MAX, so every id, including 0, is a valid key. Text keys are
 * interned: their bytes live NUL-terminated in one arena, and a key's id is
 * its dense number.
 *
 * Errors. Nothing is skipped: a short record, a non-number, a missing or
 * extra field, a corrupt or truncated zstd stream, an empty trace all stop
 * the load with a message naming the file and the byte offset (records,
 * zstd input) or line number (text).
 *
 * Invariants: every obj[i] < n_obj; the map holds exactly n_obj entries;
 * unique_bytes is the sum of each object's first-seen size.
 */
#include "trace.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <xxhash.h>
#include <zstd.h>

#include "gsperf/common.h"

#define IN_CHUNK (1u << 17)
#define MAX_LINE (1u << 20)
#define REC_SIZE 24u
#define EMPTY_SLOT UINT32_MAX
#define MAX_OBJECTS (UINT32_MAX - 1u)

/* ---- messages ------------------------------------------------------------ */

static void msg(char *err, size_t cap, const char *fmt, ...) GSP_PRINTF(3, 4);
static void msg(char *err, size_t cap, const char *fmt, ...) {
  va_list ap;
  if (err == NULL || cap == 0) return;
  va_start(ap, fmt);
  vsnprintf(err, cap, fmt, ap);
  va_end(ap);
}

/* ---- byte source: a plain file or a zstd stream ------------------------ */

typedef struct src {
  FILE *f;
  const char *path;
  char *err;
  size_t errcap;
  unsigned char *in; /* raw file bytes */
  ZSTD_inBuffer zin; /* in[pos..size) not yet used */
  uint64_t in_base;  /* file offset of in[0] */
  bool eof;          /* the file has no more bytes */
  ZSTD_DCtx *dctx;   /* NULL for a plain file */
  size_t zret;       /* last productive ZSTD_decompressStream result; 0 = the
                        frame is complete (nothing is left half-read) */
} src;

static bool has_suffix(const char *s, const char *suf) {
  size_t n = strlen(s), m = strlen(suf);
  return n >= m && strcasecmp(s + n - m, suf) == 0;
}

static int src_refill(src *s) {
  s->in_base += s->zin.size;
  size_t got = fread(s->in, 1, IN_CHUNK, s->f);
  if (got < IN_CHUNK && ferror(s->f)) {
    msg(s->err, s->errcap, "%s: read error at byte offset %llu: %s", s->path,
        (unsigned long long)s->in_base, strerror(errno));
    return GSP_EIO;
  }
  if (got == 0) s->eof = true;
  s->zin = (ZSTD_inBuffer){s->in, got, 0};
  return GSP_OK;
}

static bool zstd_magic(const src *s) {
  static const unsigned char magic[4] = {0x28, 0xb5, 0x2f, 0xfd};
  return s->zin.size >= 4 && memcmp(s->in, magic, 4) == 0;
}

static int src_open(src *s, const char *path, char *err, size_t errcap) {
  *s = (src){.path = path, .err = err, .errcap = errcap};
  s->f = fopen(path, "rb");
  if (s->f == NULL) {
    msg(err, errcap, "%s: cannot open: %s", path, strerror(errno));
    return GSP_EIO;
  }
  s->in = gsp_malloc(IN_CHUNK);
  if (s->in == NULL) goto out_nomem;
  int rv = src_refill(s);
  if (rv != GSP_OK) return rv;
  if (!zstd_magic(s)) {
    if (!has_suffix(path, ".zst")) return GSP_OK;
    msg(err, errcap, "%s: named .zst but does not start with the zstd magic number", path);
    return GSP_EFORMAT;
  }
  s->dctx = ZSTD_createDCtx();
  if (s->dctx == NULL) goto out_nomem;
  return GSP_OK;
out_nomem:
  msg(err, errcap, "%s: out of memory", path);
  return GSP_ENOMEM;
}

static void src_close(src *s) {
  if (s->f != NULL) fclose(s->f);
  ZSTD_freeDCtx(s->dctx);
  gsp_free(s->in);
  s->f = NULL;
  s->dctx = NULL;
  s->in = NULL;
}

static int src_read_plain(src *s, unsigned char *buf, size_t cap, size_t *got) {
  *got = 0;
  while (*got < cap) {
    if (s->zin.pos == s->zin.size) {
      if (s->eof) break;
      int rv = src_refill(s);
      if (rv != GSP_OK) return rv;
      continue;
    }
    size_t n = s->zin.size - s->zin.pos;
    if (n > cap - *got) n = cap - *got;
    memcpy(buf + *got, s->in + s->zin.pos, n);
    s->zin.pos += n;
    *got += n;
  }
  return GSP_OK;
}

static int src_read_zstd(src *s, unsigned char *buf, size_t cap, size_t *got) {
  ZSTD_outBuffer out = {buf, cap, 0};
  for (;;) {
    if (s->zin.pos == s->zin.size && !s->eof) {
      int rv = src_refill(s);
      if (rv != GSP_OK) return rv;
    }
    size_t in0 = s->zin.pos, out0 = out.pos;
    size_t r = ZSTD_decompressStream(s->dctx, &out, &s->zin);
    if (ZSTD_isError(r)) {
      msg(s->err, s->errcap, "%s: corrupt zstd data near compressed byte offset %llu: %s", s->path,
          (unsigned long long)s->in_base + s->zin.pos, ZSTD_getErrorName(r));
      return GSP_ECORRUPT;
    }
    if (s->zin.pos != in0 || out.pos != out0) s->zret = r; /* an idle call says nothing */
    if (out.pos == cap || (out.pos > 0 && s->zin.pos == s->zin.size)) break;
    if (s->zin.pos == s->zin.size && s->eof) break;
  }
  *got = out.pos;
  if (*got == 0 && s->zret != 0) {
    msg(s->err, s->errcap,
        "%s: truncated zstd stream: the file ends at byte offset %llu inside a frame", s->path,
        (unsigned long long)s->in_base);
    return GSP_ECORRUPT;
  }
  return GSP_OK;
}

/* Read up to cap bytes; fewer only at the end of the data. */
static int src_read(src *s, unsigned char *buf, size_t cap, size_t *got) {
  if (s->dctx == NULL) return src_read_plain(s, buf, cap, got);
  size_t total = 0;
  while (total < cap) {
    size_t n;
    int rv = src_read_zstd(s, buf + total, cap - total, &n);
    if (rv != GSP_OK) return rv;
    if (n == 0) break;
    total += n;
  }
  *got = total;
  return GSP_OK;
}

/* ---- the loader: dense object numbers ----------------------------------- */

typedef struct loader {
  cs_trace *t;
  const char *path;
  char *err;
  size_t errcap;
  size_t req_cap, obj_cap;
  uint64_t *slot_hash; /* map: hash per slot */
  uint32_t *slot_obj;  /* map: dense number per slot, EMPTY_SLOT if free */
  size_t nslots;       /* power of two */
  char *arena;         /* keys format: NUL-terminated key bytes */
  size_t arena_len, arena_cap;
  uint64_t *key_off; /* keys format: [obj] offset of the key in arena */
  size_t key_cap;
} loader;

static uint64_t mix64(uint64_t x) { /* splitmix64's finaliser */
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ull;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

static int grow(void **p, size_t *cap, size_t need, size_t elem) {
  if (need <= *cap) return GSP_OK;
  size_t n = *cap ? *cap : 1024;
  while (n < need) n *= 2;
  if (n > SIZE_MAX / elem) return GSP_ENOMEM;
  void *q = gsp_realloc(*p, n * elem);
  if (q == NULL) return GSP_ENOMEM;
  *p = q;
  *cap = n;
  return GSP_OK;
}

static int map_resize(loader *ld, size_t nslots) {
  uint64_t *h = gsp_malloc(nslots * sizeof *h);
  uint32_t *o = gsp_malloc(nslots * sizeof *o);
  if (h == NULL || o == NULL) {
    gsp_free(h);
    gsp_free(o);
    return GSP_ENOMEM;
  }
  memset(o, 0xff, nslots * sizeof *o);
  for (size_t i = 0; i < ld->nslots; i++) {
    if (ld->slot_obj[i] == EMPTY_SLOT) continue;
    size_t j = ld->slot_hash[i] & (nslots - 1);
    while (o[j] != EMPTY_SLOT) j = (j + 1) & (nslots - 1);
    h[j] = ld->slot_hash[i];
    o[j] = ld->slot_obj[i];
  }
  gsp_free(ld->slot_hash);
  gsp_free(ld->slot_obj);
  ld->slot_hash = h;
  ld->slot_obj = o;
  ld->nslots = nslots;
  return GSP_OK;
}

/* Does dense object o have this id (or this key, when key != NULL)? */
static bool same_object(const loader *ld, uint32_t o, uint64_t id, const char *key) {
  if (key == NULL) return ld->t->id[o] == id;
  return strcmp(ld->arena + ld->key_off[o], key) == 0;
}

static int new_object(loader *ld, uint64_t id, const char *key, size_t klen, uint32_t size) {
  cs_trace *t = ld->t;
  if (t->n_obj >= MAX_OBJECTS) return GSP_EOVERFLOW;
  if (grow((void **)&t->id, &ld->obj_cap, t->n_obj + 1, sizeof *t->id) != GSP_OK) return GSP_ENOMEM;
  if (key != NULL) {
    if (grow((void **)&ld->key_off, &ld->key_cap, t->n_obj + 1, sizeof *ld->key_off) != GSP_OK)
      return GSP_ENOMEM;
    if (grow((void **)&ld->arena, &ld->arena_cap, ld->arena_len + klen + 1, 1) != GSP_OK)
      return GSP_ENOMEM;
    memcpy(ld->arena + ld->arena_len, key, klen + 1);
    ld->key_off[t->n_obj] = ld->arena_len;
    ld->arena_len += klen + 1;
    id = t->n_obj;
  }
  t->id[t->n_obj] = id;
  t->unique_bytes += size;
  return GSP_OK;
}

/* The dense number of (id or key), adding the object if it is new. */
static int intern(loader *ld, uint64_t h, uint64_t id, const char *key, size_t klen, uint32_t size,
                  uint32_t *out) {
  if (2 * (ld->t->n_obj + 1) > ld->nslots) {
    int rv = map_resize(ld, ld->nslots ? 2 * ld->nslots : 4096);
    if (rv != GSP_OK) return rv;
  }
  size_t j = h & (ld->nslots - 1);
  for (; ld->slot_obj[j] != EMPTY_SLOT; j = (j + 1) & (ld->nslots - 1)) {
    if (ld->slot_hash[j] == h && same_object(ld, ld->slot_obj[j], id, key)) {
      *out = ld->slot_obj[j];
      return GSP_OK;
    }
  }
  int rv = new_object(ld, id, key, klen, size);
  if (rv != GSP_OK) return rv;
  ld->slot_hash[j] = h;
  ld->slot_obj[j] = (uint32_t)ld->t->n_obj;
  *out = (uint32_t)ld->t->n_obj++;
  return GSP_OK;
}

static int add_request(loader *ld, uint64_t id, const char *key, size_t klen, uint32_t size,
                       int64_t next) {
  cs_trace *t = ld->t;
  uint64_t h = key != NULL ? XXH3_64bits(key, klen) : mix64(id);
  uint32_t o;
  int rv = intern(ld, h, id, key, klen, size, &o);
  if (rv != GSP_OK) return rv;
  if (t->n == ld->req_cap) {
    size_t cap = ld->req_cap ? 2 * ld->req_cap : 65536;
    uint32_t *no = gsp_realloc(t->obj, cap * sizeof *no);
    if (no != NULL) t->obj = no;
    uint32_t *ns = gsp_realloc(t->size, cap * sizeof *ns);
    if (ns != NULL) t->size = ns;
    if (no == NULL || ns == NULL) return GSP_ENOMEM;
    if (t->format == CS_FMT_ORACLE) {
      int64_t *nn = gsp_realloc(t->next, cap * sizeof *nn);
      if (nn == NULL) return GSP_ENOMEM;
      t->next = nn;
    }
    ld->req_cap = cap;
  }
  t->obj[t->n] = o;
  t->size[t->n] = size;
  if (t->next != NULL) t->next[t->n] = next;
  t->n++;
  return GSP_OK;
}

static const char *loader_why(int rv) {
  return rv == GSP_EOVERFLOW ? "more than 4294967294 unique objects" : "out of memory";
}

/* ---- oracleGeneral ---------------------------------------------------------- */

static uint64_t le(const unsigned char *p, unsigned nbytes) {
  uint64_t v = 0;
  for (unsigned i = nbytes; i-- > 0;) v = (v << 8) | p[i];
  return v;
}

static int oracle_record(loader *ld, const unsigned char *r, uint64_t off) {
  uint64_t id = le(r + 4, 8);
  uint32_t size = (uint32_t)le(r + 12, 4);
  int64_t next = (int64_t)le(r + 16, 8);
  if (size == 0) {
    msg(ld->err, ld->errcap, "%s: byte offset %llu: object size 0 (id %llu)", ld->path,
        (unsigned long long)off, (unsigned long long)id);
    return GSP_EFORMAT;
  }
  if (next < -1) {
    msg(ld->err, ld->errcap, "%s: byte offset %llu: next-access field %lld is negative", ld->path,
        (unsigned long long)off + 16, (long long)next);
    return GSP_EFORMAT;
  }
  int rv = add_request(ld, id, NULL, 0, size, next);
  if (rv != GSP_OK)
    msg(ld->err, ld->errcap, "%s: byte offset %llu: %s", ld->path, (unsigned long long)off,
        loader_why(rv));
  return rv;
}

static int parse_oracle(loader *ld, src *s) {
  enum { CHUNK = REC_SIZE * 4096 };
  unsigned char *buf = gsp_malloc(CHUNK);
  uint64_t off = 0;
  int rv = GSP_ENOMEM;
  if (buf == NULL) goto out;
  for (;;) {
    size_t got;
    rv = src_read(s, buf, CHUNK, &got);
    if (rv != GSP_OK) goto out;
    size_t whole = got - got % REC_SIZE;
    for (size_t i = 0; i < whole && rv == GSP_OK; i += REC_SIZE, off += REC_SIZE)
      rv = oracle_record(ld, buf + i, off);
    if (rv != GSP_OK) goto out;
    if (whole != got) {
      msg(ld->err, ld->errcap,
          "%s: byte offset %llu: truncated record: %zu trailing bytes, records are %u bytes "
          "(data length %llu is not a multiple of %u)",
          ld->path, (unsigned long long)off, got - whole, REC_SIZE,
          (unsigned long long)(off + got - whole), REC_SIZE);
      rv = GSP_EFORMAT;
      goto out;
    }
    if (got < CHUNK) break;
  }
out:
  if (rv == GSP_ENOMEM && buf == NULL) msg(ld->err, ld->errcap, "%s: out of memory", ld->path);
  gsp_free(buf);
  return rv;
}

/* ---- text: lines and fields ---------------------------------------------- */

typedef struct lines {
  src *s;
  char *buf;
  size_t cap, len, pos; /* buf[pos..len) not yet returned */
  bool eof;
  uint64_t lineno;
} lines;

/* Move the unread tail to the front and read more; grows up to MAX_LINE. */
static int lines_fill(lines *L) {
  memmove(L->buf, L->buf + L->pos, L->len - L->pos);
  L->len -= L->pos;
  L->pos = 0;
  if (L->len == L->cap) {
    if (L->cap >= MAX_LINE) return GSP_EFORMAT;
    char *nb = gsp_realloc(L->buf, 2 * L->cap);
    if (nb == NULL) return GSP_ENOMEM;
    L->buf = nb;
    L->cap *= 2;
  }
  size_t got;
  int rv = src_read(L->s, (unsigned char *)L->buf + L->len, L->cap - L->len, &got);
  if (rv != GSP_OK) return rv;
  if (got == 0) L->eof = true;
  L->len += got;
  return GSP_OK;
}

/* Hand out buf[pos..nl) as a string, dropping a CR before the newline. */
static void take_line(lines *L, char *nl, char **line, size_t *len) {
  char *start = L->buf + L->pos, *end = nl;
  *nl = '\0';
  if (end > start && end[-1] == '\r') *--end = '\0';
  *line = start;
  *len = (size_t)(end - start);
  L->pos = (size_t)(nl - L->buf) + 1;
  if (L->pos > L->len) L->pos = L->len;
  L->lineno++;
}

/* The next line, NUL-terminated, without its newline; NULL at the end. */
static int lines_next(lines *L, char **line, size_t *len) {
  *line = NULL;
  for (;;) {
    char *nl = memchr(L->buf + L->pos, '\n', L->len - L->pos);
    if (nl == NULL && L->eof && L->pos < L->len) { /* last line, no newline */
      int rv = L->len == L->cap ? lines_fill(L) : GSP_OK;
      if (rv != GSP_OK) return rv;
      nl = L->buf + L->len;
    }
    if (nl != NULL) {
      take_line(L, nl, line, len);
      return GSP_OK;
    }
    if (L->eof) return GSP_OK;
    int rv = lines_fill(L);
    if (rv != GSP_OK) return rv;
  }
}

/* Split line in place at blanks; returns the number of fields (max + 1 if more). */
static int split_fields(char *line, char **f, int max) {
  int n = 0;
  char *save = NULL;
  for (char *tok = strtok_r(line, " \t", &save); tok != NULL; tok = strtok_r(NULL, " \t", &save)) {
    if (n == max) return max + 1;
    f[n++] = tok;
  }
  return n;
}

static bool parse_u64(const char *s, uint64_t *out) {
  if (*s < '0' || *s > '9') return false;
  char *end;
  errno = 0;
  unsigned long long v = strtoull(s, &end, 10);
  if (errno != 0 || *end != '\0') return false;
  *out = v;
  return true;
}

static int bad_line(loader *ld, const lines *L, const char *what, const char *field) {
  msg(ld->err, ld->errcap, "%s: line %llu: %s%s%s%s", ld->path, (unsigned long long)L->lineno, what,
      field ? " '" : "", field ? field : "", field ? "'" : "");
  return GSP_EFORMAT;
}

/* A loader failure (memory, too many objects) on this line; returns rv. */
static int line_failed(loader *ld, const lines *L, int rv) {
  bad_line(ld, L, loader_why(rv), NULL);
  return rv;
}

static int keys_line(loader *ld, const lines *L, char *line) {
  char *f[2];
  uint64_t size = 1;
  int n = split_fields(line, f, 2);
  if (n == 0) return bad_line(ld, L, "empty line (expected `key` or `key size`)", NULL);
  if (n > 2) return bad_line(ld, L, "too many fields (expected `key` or `key size`)", NULL);
  if (n == 2 && (!parse_u64(f[1], &size) || size == 0 || size > UINT32_MAX))
    return bad_line(ld, L, "size is not a whole number in 1..4294967295:", f[1]);
  if (n == 2) ld->t->has_sizes = true;
  int rv = add_request(ld, 0, f[0], strlen(f[0]), (uint32_t)size, -1);
  return rv == GSP_OK ? rv : line_failed(ld, L, rv);
}

static int lis_line(loader *ld, const lines *L, char *line) {
  char *f[2];
  uint64_t start, count;
  int n = split_fields(line, f, 2);
  if (n == 0) return bad_line(ld, L, "empty line (expected `start count ...`)", NULL);
  if (n == 1) return bad_line(ld, L, "one field (expected `start count ...`)", NULL);
  if (!parse_u64(f[0], &start)) return bad_line(ld, L, "start is not a whole number:", f[0]);
  if (!parse_u64(f[1], &count) || count == 0)
    return bad_line(ld, L, "count is not a whole number >= 1:", f[1]);
  if (count - 1 > UINT64_MAX - start) return bad_line(ld, L, "start + count overflows", NULL);
  for (uint64_t i = 0; i < count; i++) {
    int rv = add_request(ld, start + i, NULL, 0, 1, -1);
    if (rv != GSP_OK) return line_failed(ld, L, rv);
  }
  return GSP_OK;
}

static int parse_text(loader *ld, src *s, int (*one)(loader *, const lines *, char *)) {
  lines L = {.s = s, .cap = 65536};
  L.buf = gsp_malloc(L.cap);
  if (L.buf == NULL) return line_failed(ld, &L, GSP_ENOMEM);
  int rv;
  for (;;) {
    char *line;
    size_t len;
    rv = lines_next(&L, &line, &len);
    if (rv == GSP_EFORMAT) {
      L.lineno++;
      rv = bad_line(ld, &L, "line longer than 1 MiB", NULL);
    } else if (rv == GSP_ENOMEM) {
      rv = line_failed(ld, &L, GSP_ENOMEM);
    }
    if (rv != GSP_OK || line == NULL) break;
    if (strlen(line) != len) {
      rv = bad_line(ld, &L, "NUL byte in a text line (a binary file? see --format)", NULL);
      break;
    }
    rv = one(ld, &L, line);
    if (rv != GSP_OK) break;
  }
  gsp_free(L.buf);
  return rv;
}

/* ---- names and formats ------------------------------------------------------ */

static const char *const format_names[] = {"auto", "oracle", "keys", "lis"};

int cs_trace_format_parse(const char *s, cs_trace_format *out) {
  for (unsigned i = 0; i < sizeof format_names / sizeof *format_names; i++) {
    if (strcasecmp(s, format_names[i]) == 0) {
      *out = (cs_trace_format)i;
      return GSP_OK;
    }
  }
  if (strcasecmp(s, "oracleGeneral") != 0) return GSP_EINVAL;
  *out = CS_FMT_ORACLE;
  return GSP_OK;
}

const char *cs_trace_format_name(cs_trace_format f) {
  return (unsigned)f < sizeof format_names / sizeof *format_names ? format_names[f] : "?";
}

/* Cut a suffix off name (in place) if present. */
static bool cut(char *name, const char *suf) {
  if (!has_suffix(name, suf) || strlen(name) == strlen(suf)) return false;
  name[strlen(name) - strlen(suf)] = '\0';
  return true;
}

cs_trace_format cs_trace_format_guess(const char *path) {
  size_t n = strlen(path);
  if (has_suffix(path, ".zst")) n -= 4;
  char tmp[64];
  size_t k = n < sizeof tmp - 1 ? n : sizeof tmp - 1;
  memcpy(tmp, path + n - k, k); /* the last characters are enough */
  tmp[k] = '\0';
  if (has_suffix(tmp, ".lis")) return CS_FMT_LIS;
  if (has_suffix(tmp, ".oracleGeneral") || has_suffix(tmp, ".bin")) return CS_FMT_ORACLE;
  return CS_FMT_KEYS;
}

static char *trace_name(const char *path, cs_trace_format f) {
  const char *base = strrchr(path, '/');
  char *name = gsp_strdup(base != NULL && base[1] != '\0' ? base + 1 : path);
  if (name == NULL) return NULL;
  cut(name, ".zst");
  if (f == CS_FMT_LIS) {
    cut(name, ".lis");
  } else if (f == CS_FMT_ORACLE) {
    cut(name, ".bin");
    cut(name, ".oracleGeneral");
  } else if (!cut(name, ".txt")) {
    cut(name, ".keys");
  }
  return name;
}

/* ---- load ------------------------------------------------------------------- */

void cs_trace_free(cs_trace *t) {
  if (t == NULL) return;
  gsp_free(t->name);
  gsp_free(t->obj);
  gsp_free(t->size);
  gsp_free(t->next);
  gsp_free(t->id);
  *t = (cs_trace){0};
}

static void loader_fini(loader *ld) {
  gsp_free(ld->slot_hash);
  gsp_free(ld->slot_obj);
  gsp_free(ld->arena);
  gsp_free(ld->key_off);
}

static int parse(loader *ld, src *s) {
  switch (ld->t->format) {
    case CS_FMT_ORACLE:
      return parse_oracle(ld, s);
    case CS_FMT_LIS:
      return parse_text(ld, s, lis_line);
    default:
      return parse_text(ld, s, keys_line);
  }
}

int cs_trace_load(const char *path, cs_trace_format fmt, cs_trace *out, char *err, size_t errcap) {
  *out = (cs_trace){0};
  out->format = fmt == CS_FMT_AUTO ? cs_trace_format_guess(path) : fmt;
  out->has_sizes = out->format == CS_FMT_ORACLE;
  loader ld = {.t = out, .path = path, .err = err, .errcap = errcap};
  src s;
  int rv = src_open(&s, path, err, errcap);
  if (rv != GSP_OK) goto out_close;
  rv = parse(&ld, &s);
  if (rv != GSP_OK) goto out_close;
  if (out->n == 0) {
    msg(err, errcap, "%s: empty trace: no requests in %s format", path,
        cs_trace_format_name(out->format));
    rv = GSP_EFORMAT;
    goto out_close;
  }
  out->name = trace_name(path, out->format);
  if (out->name == NULL) {
    msg(err, errcap, "%s: out of memory", path);
    rv = GSP_ENOMEM;
  }
out_close:
  src_close(&s);
  loader_fini(&ld);
  if (rv != GSP_OK) cs_trace_free(out);
  return rv;
}
