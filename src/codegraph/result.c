/*
 * result.c - the per-file result: everything extracted from one file, in
 * one immutable block that is also its serialized form, and the builder
 * the extractors fill while they walk a syntax tree.
 *
 * Layout (host byte order; the version field doubles as a byte-order check):
 *
 *   cg_hdr      48 bytes: "GSCR", version, language, flags, line count,
 *               record counts, string table length, checksum, total length
 *               (the checksum is XXH3-64 of everything after the header,
 *               seeded by the header bytes before it and the total length,
 *               so a change to any byte is caught)
 *   cg_def_rec  ndefs x 16    name, line, parent definition, kind
 *   cg_ref_rec  nrefs x 20    name, qualifier, line, enclosing definition, kind
 *   cg_imp_rec  nimports x 20 module, name, alias, line, kind, level
 *   strings     strtab_len bytes of NUL-terminated names; offset 0 is ""
 *
 * Names are offsets into the string table. Loading bytes from outside
 * (gsp_cg_result_load) checks the magic, version, lengths, checksum, every
 * string offset, every parent/scope index and every kind before the result
 * is used, so a corrupt or foreign block is rejected, never trusted.
 *
 * Builder: growable arrays reused from file to file by a parser (reset
 * keeps the capacity), so after the first few files a parse allocates one
 * block: the result. Names are interned in an open-addressing table keyed
 * by XXH3-64, so a name used a hundred times is stored once.
 */
#include <stddef.h>
#include <string.h>
#include <xxhash.h>

#include "cg_int.h"

struct gsp_cg_result {
  cg_hdr h; /* followed by the records and strings */
};

const cg_hdr *gsp__cg_hdr(const gsp_cg_result *r) { return &r->h; }
const cg_def_rec *gsp__cg_defs(const gsp_cg_result *r) {
  return (const cg_def_rec *)((const char *)r + sizeof(cg_hdr));
}
const cg_ref_rec *gsp__cg_refs(const gsp_cg_result *r) {
  return (const cg_ref_rec *)(gsp__cg_defs(r) + r->h.ndefs);
}
const cg_imp_rec *gsp__cg_imps(const gsp_cg_result *r) {
  return (const cg_imp_rec *)(gsp__cg_refs(r) + r->h.nrefs);
}
const char *gsp__cg_strs(const gsp_cg_result *r) {
  return (const char *)(gsp__cg_imps(r) + r->h.nimports);
}

/* XXH3-64 of the body, seeded by the header bytes before the checksum and
 * the total length: every byte of the block is covered. */
static uint64_t checksum_of(const cg_hdr *h, const void *block, size_t body) {
  uint64_t seed = XXH3_64bits(h, offsetof(cg_hdr, checksum)) ^ h->total_len;
  return XXH3_64bits_withSeed((const char *)block + sizeof(cg_hdr), body, seed);
}

/* ---- builder ---- */

void gsp__cg_builder_init(cg_builder *b) { memset(b, 0, sizeof *b); }

void gsp__cg_builder_reset(cg_builder *b) {
  b->ndefs = b->nrefs = b->nimps = 0;
  b->nstr = 0;
  b->err = 0;
  if (b->nslots_used != 0) {
    memset(b->slots, 0, b->cslots * sizeof *b->slots);
    memset(b->marks, 0, b->cslots);
  }
  b->nslots_used = 0;
}

void gsp__cg_builder_free(cg_builder *b) {
  gsp_free(b->defs);
  gsp_free(b->refs);
  gsp_free(b->imps);
  gsp_free(b->str);
  gsp_free(b->slots);
  gsp_free(b->marks);
  memset(b, 0, sizeof *b);
}

static bool grow(cg_builder *b, void **p, size_t *cap, size_t need, size_t elem) {
  if (need <= *cap) return true;
  size_t nc = *cap ? *cap * 2 : 64;
  while (nc < need) nc *= 2;
  void *q = gsp_realloc(*p, nc * elem);
  if (q == NULL) {
    b->err = GSP_ENOMEM;
    return false;
  }
  *p = q;
  *cap = nc;
  return true;
}

static bool rehash(cg_builder *b) {
  size_t nc = b->cslots ? b->cslots * 2 : 256;
  uint32_t *ns = gsp_calloc(nc, sizeof *ns);
  uint8_t *nm = gsp_calloc(nc, 1);
  if (ns == NULL || nm == NULL) {
    gsp_free(ns);
    gsp_free(nm);
    b->err = GSP_ENOMEM;
    return false;
  }
  for (size_t i = 0; i < b->cslots; i++) {
    uint32_t off = b->slots[i];
    if (off == 0) continue;
    size_t h = (size_t)XXH3_64bits(b->str + off, strlen(b->str + off)) & (nc - 1);
    while (ns[h] != 0) h = (h + 1) & (nc - 1);
    ns[h] = off;
    nm[h] = b->marks[i];
  }
  gsp_free(b->slots);
  gsp_free(b->marks);
  b->slots = ns;
  b->marks = nm;
  b->cslots = nc;
  return true;
}

uint32_t gsp__cg_intern(cg_builder *b, const char *s, size_t n, size_t *slot) {
  if (n == 0 || b->err) return 0;
  if ((b->nslots_used + 1) * 2 > b->cslots && !rehash(b)) return 0;
  size_t mask = b->cslots - 1, h = (size_t)XXH3_64bits(s, n) & mask;
  for (; b->slots[h] != 0; h = (h + 1) & mask) {
    const char *t = b->str + b->slots[h];
    if (strncmp(t, s, n) == 0 && t[n] == '\0') goto found;
  }
  if (b->nstr == 0 && !grow(b, (void **)&b->str, &b->cstr, 1, 1)) return 0;
  if (b->nstr == 0) b->str[b->nstr++] = '\0'; /* offset 0 is "" */
  if (b->nstr + n + 1 > UINT32_MAX) {
    b->err = GSP_EOVERFLOW;
    return 0;
  }
  if (!grow(b, (void **)&b->str, &b->cstr, b->nstr + n + 1, 1)) return 0;
  memcpy(b->str + b->nstr, s, n);
  b->str[b->nstr + n] = '\0';
  b->slots[h] = (uint32_t)b->nstr;
  b->nstr += n + 1;
  b->nslots_used++;
found:
  if (slot) *slot = h;
  return b->slots[h];
}

int32_t gsp__cg_add_def(cg_builder *b, uint32_t name, gsp_cg_def_kind k, uint32_t line,
                        int32_t parent) {
  if (b->err || name == 0 || b->ndefs >= INT32_MAX) return -1;
  if (!grow(b, (void **)&b->defs, &b->cdefs, b->ndefs + 1, sizeof *b->defs)) return -1;
  b->defs[b->ndefs] =
      (cg_def_rec){.name = name, .line = line, .parent = parent, .kind = (uint8_t)k};
  return (int32_t)b->ndefs++;
}

void gsp__cg_add_ref(cg_builder *b, uint32_t name, uint32_t qual, gsp_cg_ref_kind k, uint32_t line,
                     int32_t scope) {
  if (b->err || name == 0) return;
  if (!grow(b, (void **)&b->refs, &b->crefs, b->nrefs + 1, sizeof *b->refs)) return;
  b->refs[b->nrefs++] =
      (cg_ref_rec){.name = name, .qual = qual, .line = line, .scope = scope, .kind = (uint8_t)k};
}

void gsp__cg_add_import(cg_builder *b, const cg_imp_rec *rec) {
  if (b->err) return;
  if (!grow(b, (void **)&b->imps, &b->cimps, b->nimps + 1, sizeof *b->imps)) return;
  b->imps[b->nimps++] = *rec;
}

/* memcpy that accepts (NULL, 0); returns the end of what was copied. */
static char *append(char *p, const void *src, size_t n) {
  if (n) memcpy(p, src, n);
  return p + n;
}

int gsp__cg_builder_finish(cg_builder *b, gsp_cg_lang lang, bool has_error, uint32_t lines,
                           gsp_cg_result **out) {
  *out = NULL;
  if (b->err) return b->err;
  if (b->nstr == 0) b->nstr = 1; /* the empty string alone */
  if (b->cstr == 0 && !grow(b, (void **)&b->str, &b->cstr, 1, 1)) return b->err;
  b->str[0] = '\0';
  size_t body = b->ndefs * sizeof(cg_def_rec) + b->nrefs * sizeof(cg_ref_rec) +
                b->nimps * sizeof(cg_imp_rec) + b->nstr;
  if (body > UINT32_MAX) return GSP_EOVERFLOW;
  gsp_cg_result *r = gsp_malloc(sizeof(cg_hdr) + body);
  if (r == NULL) return GSP_ENOMEM;
  memcpy(r->h.magic, CG_RESULT_MAGIC, 4);
  r->h.version = CG_RESULT_VERSION;
  r->h.lang = (uint8_t)lang;
  r->h.flags = has_error ? 1 : 0;
  r->h.lines = lines;
  r->h.ndefs = (uint32_t)b->ndefs;
  r->h.nrefs = (uint32_t)b->nrefs;
  r->h.nimports = (uint32_t)b->nimps;
  r->h.strtab_len = (uint32_t)b->nstr;
  r->h.reserved = 0;
  r->h.total_len = sizeof(cg_hdr) + body;
  char *p = (char *)r + sizeof(cg_hdr);
  p = append(p, b->defs, b->ndefs * sizeof(cg_def_rec));
  p = append(p, b->refs, b->nrefs * sizeof(cg_ref_rec));
  p = append(p, b->imps, b->nimps * sizeof(cg_imp_rec));
  append(p, b->str, b->nstr);
  r->h.checksum = checksum_of(&r->h, r, body);
  *out = r;
  return GSP_OK;
}

/* ---- serialized form ---- */

const void *gsp_cg_result_bytes(const gsp_cg_result *r, size_t *len) {
  if (len) *len = r ? (size_t)r->h.total_len : 0;
  return r;
}

static bool str_ok(const gsp_cg_result *r, uint32_t off) { return off < r->h.strtab_len; }

static bool records_ok(const gsp_cg_result *r) {
  const cg_def_rec *d = gsp__cg_defs(r);
  int32_t nd = (int32_t)r->h.ndefs;
  for (uint32_t i = 0; i < r->h.ndefs; i++)
    if (!str_ok(r, d[i].name) || d[i].parent < -1 || d[i].parent >= nd || d[i].kind < 1 ||
        d[i].kind > GSP_CG_DEF_MACRO)
      return false;
  const cg_ref_rec *f = gsp__cg_refs(r);
  for (uint32_t i = 0; i < r->h.nrefs; i++)
    if (!str_ok(r, f[i].name) || !str_ok(r, f[i].qual) || f[i].scope < -1 || f[i].scope >= nd ||
        f[i].kind < 1 || f[i].kind > GSP_CG_REF_TYPE)
      return false;
  const cg_imp_rec *m = gsp__cg_imps(r);
  for (uint32_t i = 0; i < r->h.nimports; i++)
    if (!str_ok(r, m[i].module) || !str_ok(r, m[i].name) || !str_ok(r, m[i].alias) ||
        m[i].kind < 1 || m[i].kind > GSP_CG_IMPORT_FROM)
      return false;
  return true;
}

static bool header_ok(const cg_hdr *h, size_t len) {
  if (memcmp(h->magic, CG_RESULT_MAGIC, 4) != 0 || h->version != CG_RESULT_VERSION) return false;
  if (h->total_len != len || h->lang < GSP_CG_LANG_C || h->lang > CG_LANG_MAX) return false;
  uint64_t body = (uint64_t)h->ndefs * sizeof(cg_def_rec) +
                  (uint64_t)h->nrefs * sizeof(cg_ref_rec) +
                  (uint64_t)h->nimports * sizeof(cg_imp_rec) + h->strtab_len;
  return h->strtab_len >= 1 && body + sizeof(cg_hdr) == len;
}

int gsp_cg_result_load(const void *buf, size_t len, gsp_cg_result **out) {
  if (out == NULL) return GSP_EINVAL;
  *out = NULL;
  if (buf == NULL || len < sizeof(cg_hdr)) return GSP_ECORRUPT;
  cg_hdr h;
  memcpy(&h, buf, sizeof h);
  if (!header_ok(&h, len)) return GSP_ECORRUPT;
  if (checksum_of(&h, buf, len - sizeof h) != h.checksum) return GSP_ECORRUPT;
  gsp_cg_result *r = gsp_malloc(len);
  if (r == NULL) return GSP_ENOMEM;
  memcpy(r, buf, len);
  const char *s = gsp__cg_strs(r);
  if (s[0] != '\0' || s[h.strtab_len - 1] != '\0' || !records_ok(r)) {
    gsp_free(r);
    return GSP_ECORRUPT;
  }
  *out = r;
  return GSP_OK;
}

static int adopt(void *buf, size_t len, bool sum, gsp_cg_result **out) {
  *out = NULL;
  cg_hdr h;
  if (buf == NULL || len < sizeof h) return GSP_ECORRUPT;
  memcpy(&h, buf, sizeof h);
  if (!header_ok(&h, len) || (sum && checksum_of(&h, buf, len - sizeof h) != h.checksum))
    return GSP_ECORRUPT;
  gsp_cg_result *r = buf;
  const char *s = gsp__cg_strs(r);
  if (s[0] != '\0' || s[h.strtab_len - 1] != '\0' || !records_ok(r)) return GSP_ECORRUPT;
  *out = r;
  return GSP_OK;
}

int gsp__cg_result_adopt(void *buf, size_t len, gsp_cg_result **out) {
  return adopt(buf, len, true, out);
}

int gsp__cg_result_adopt_intact(void *buf, size_t len, gsp_cg_result **out) {
  return adopt(buf, len, false, out);
}

void gsp_cg_result_free(gsp_cg_result *r) { gsp_free(r); }

/* ---- accessors ---- */

gsp_cg_lang gsp_cg_result_lang(const gsp_cg_result *r) { return (gsp_cg_lang)r->h.lang; }
bool gsp_cg_result_has_error(const gsp_cg_result *r) { return (r->h.flags & 1) != 0; }
uint32_t gsp_cg_result_lines(const gsp_cg_result *r) { return r->h.lines; }
size_t gsp_cg_result_ndefs(const gsp_cg_result *r) { return r->h.ndefs; }
size_t gsp_cg_result_nrefs(const gsp_cg_result *r) { return r->h.nrefs; }
size_t gsp_cg_result_nimports(const gsp_cg_result *r) { return r->h.nimports; }

void gsp_cg_result_def(const gsp_cg_result *r, size_t i, gsp_cg_def *out) {
  const cg_def_rec *d = gsp__cg_defs(r) + i;
  const char *s = gsp__cg_strs(r);
  *out = (gsp_cg_def){s + d->name, (gsp_cg_def_kind)d->kind, d->line, d->parent};
}

void gsp_cg_result_ref(const gsp_cg_result *r, size_t i, gsp_cg_ref *out) {
  const cg_ref_rec *f = gsp__cg_refs(r) + i;
  const char *s = gsp__cg_strs(r);
  *out = (gsp_cg_ref){s + f->name, s + f->qual, (gsp_cg_ref_kind)f->kind, f->line, f->scope};
}

void gsp_cg_result_import(const gsp_cg_result *r, size_t i, gsp_cg_import *out) {
  const cg_imp_rec *m = gsp__cg_imps(r) + i;
  const char *s = gsp__cg_strs(r);
  *out = (gsp_cg_import){s + m->module, s + m->name, s + m->alias, (gsp_cg_import_kind)m->kind,
                         m->level,      m->line};
}
