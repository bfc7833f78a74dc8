/*
 * heap_report.c - reads a heap file written by the preload library
 * (heap_hook.c) and symbolizes it: allocation sites with their
 * statistics, and the leaks.
 *
 * File format (text): a first line "gsperf-heap 1 sample N leaks 0|1",
 * then one line per site: allocs bytes live_bytes live_count peak_bytes
 * leak_count leak_bytes depth pc... (pcs in hex, return addresses, the
 * allocating function's first). Each pc is looked up at pc - 1 in the
 * process's memory map (PATH.maps).
 *
 * Layout: sites[] sorted by peak; leaks[] is a second array of copies
 * of the sites with leaks, sorted by leaked bytes; the stacks' name
 * arrays are one block (names) indexed by each site, the strings interned
 * in the symbol table.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "prof_int.h"

#define MAX_SITE_DEPTH 64

struct gsp_prof_heap {
  gsp__symtab *sym;
  gsp_prof_heap_site *sites, *leaks;
  size_t *first; /* per site while loading: its stack's offset in names */
  size_t nsites, nleaks, cap;
  const char **names;
  size_t nnames, names_cap;
  uint64_t sample;
  bool checked;
};

static int push_names(gsp_prof_heap *h, size_t n) {
  if (h->nnames + n <= h->names_cap) return GSP_OK;
  size_t cap = h->names_cap ? h->names_cap * 2 : 1024;
  while (cap < h->nnames + n) cap *= 2;
  const char **v = gsp_realloc(h->names, cap * sizeof *v);
  if (!v) return GSP_ENOMEM;
  h->names = v;
  h->names_cap = cap;
  return GSP_OK;
}

/* Parses one site line; the stack goes to names (its offset kept in
 * first[] until names stops moving, see finish_load). */
static int parse_site(gsp_prof_heap *h, char *line) {
  gsp_prof_heap_site s;
  memset(&s, 0, sizeof s);
  char *p = line, *end;
  uint64_t v[8];
  for (int i = 0; i < 8; i++) {
    v[i] = strtoull(p, &end, 10);
    if (end == p) return GSP_EFORMAT;
    p = end;
  }
  if (v[7] > MAX_SITE_DEPTH) return GSP_EFORMAT;
  if (push_names(h, v[7]) != GSP_OK) return GSP_ENOMEM;
  size_t first = h->nnames;
  for (uint64_t d = 0; d < v[7]; d++) {
    uint64_t pc = strtoull(p, &end, 16);
    if (end == p) return GSP_EFORMAT;
    p = end;
    gsp__sym sym;
    gsp__symtab_lookup(h->sym, pc - 1, &sym);
    h->names[h->nnames++] = sym.func;
  }
  s = (gsp_prof_heap_site){NULL, v[7], v[0], v[1], v[2], v[3], v[4], v[5], v[6]};
  if (h->nsites == h->cap) {
    size_t cap = h->cap ? h->cap * 2 : 256;
    gsp_prof_heap_site *n = gsp_realloc(h->sites, cap * sizeof *n);
    if (!n) return GSP_ENOMEM;
    h->sites = n;
    size_t *f = gsp_realloc(h->first, cap * sizeof *f);
    if (!f) return GSP_ENOMEM;
    h->first = f;
    h->cap = cap;
  }
  h->first[h->nsites] = first;
  h->sites[h->nsites++] = s;
  return GSP_OK;
}

static int by_peak(const void *a, const void *b) {
  const gsp_prof_heap_site *x = a, *y = b;
  return x->peak_bytes < y->peak_bytes ? 1 : x->peak_bytes > y->peak_bytes ? -1 : 0;
}

static int by_leak(const void *a, const void *b) {
  const gsp_prof_heap_site *x = a, *y = b;
  return x->leak_bytes < y->leak_bytes ? 1 : x->leak_bytes > y->leak_bytes ? -1 : 0;
}

static int finish_load(gsp_prof_heap *h) {
  for (size_t i = 0; i < h->nsites; i++) h->sites[i].stack = h->names + h->first[i];
  qsort(h->sites, h->nsites, sizeof *h->sites, by_peak);
  h->leaks = gsp_calloc(h->nsites + 1, sizeof *h->leaks);
  if (!h->leaks) return GSP_ENOMEM;
  for (size_t i = 0; i < h->nsites; i++)
    if (h->sites[i].leak_count > 0) h->leaks[h->nleaks++] = h->sites[i];
  qsort(h->leaks, h->nleaks, sizeof *h->leaks, by_leak);
  return GSP_OK;
}

static int parse(gsp_prof_heap *h, char *text) {
  static const char k_head[] = "gsperf-heap 1 sample ";
  if (strncmp(text, k_head, sizeof k_head - 1) != 0) return GSP_EFORMAT;
  char *end;
  h->sample = strtoull(text + sizeof k_head - 1, &end, 10);
  if (strncmp(end, " leaks ", 7) != 0 || (end[7] != '0' && end[7] != '1')) return GSP_EFORMAT;
  h->checked = end[7] == '1';
  char *save = NULL, *line;
  if (!strtok_r(text, "\n", &save)) return GSP_EFORMAT;
  int rv = GSP_OK;
  while (rv == GSP_OK && (line = strtok_r(NULL, "\n", &save)) != NULL) rv = parse_site(h, line);
  return rv == GSP_OK ? finish_load(h) : rv;
}

int gsp_prof_heap_load(const char *raw_path, gsp_prof_heap **out) {
  if (!raw_path || !out) return GSP_EINVAL;
  gsp_prof_heap *h = gsp_calloc(1, sizeof *h);
  if (!h) return GSP_ENOMEM;
  size_t plen = strlen(raw_path), len = 0, mlen = 0;
  char *mpath = gsp_malloc(plen + 6), *text = NULL, *maps = NULL;
  int rv = mpath ? GSP_OK : GSP_ENOMEM;
  if (rv == GSP_OK) {
    snprintf(mpath, plen + 6, "%s.maps", raw_path);
    rv = gsp__read_file(raw_path, &text, &len);
  }
  if (rv == GSP_OK) rv = gsp__read_file(mpath, &maps, &mlen);
  if (rv == GSP_OK) rv = gsp__symtab_create(maps, mlen, &h->sym);
  if (rv == GSP_OK) rv = parse(h, text);
  gsp_free(text);
  gsp_free(maps);
  gsp_free(mpath);
  if (rv != GSP_OK) {
    gsp_prof_heap_destroy(h);
    return rv;
  }
  *out = h;
  return GSP_OK;
}

void gsp_prof_heap_destroy(gsp_prof_heap *h) {
  if (!h) return;
  gsp__symtab_destroy(h->sym);
  gsp_free(h->sites);
  gsp_free(h->first);
  gsp_free(h->leaks);
  gsp_free(h->names);
  gsp_free(h);
}

size_t gsp_prof_heap_sites(const gsp_prof_heap *h, const gsp_prof_heap_site **out) {
  *out = h->sites;
  return h->nsites;
}

size_t gsp_prof_heap_leaks(const gsp_prof_heap *h, const gsp_prof_heap_site **out) {
  *out = h->leaks;
  return h->nleaks;
}

bool gsp_prof_heap_leaks_checked(const gsp_prof_heap *h) { return h->checked; }
uint64_t gsp_prof_heap_sample_bytes(const gsp_prof_heap *h) { return h->sample; }

static void text_stack(FILE *f, const gsp_prof_heap_site *s) {
  for (size_t d = 0; d < s->depth; d++) fprintf(f, "%s%s", d ? " <- " : "", s->stack[d]);
}

int gsp_prof_heap_write_text(const gsp_prof_heap *h, FILE *f, size_t top) {
  if (!h || !f) return GSP_EINVAL;
  if (h->sample)
    fprintf(f, "Heap (one allocation tracked per %" PRIu64 " bytes)\n", h->sample);
  else
    fprintf(f, "Heap (every allocation tracked)\n");
  fprintf(f, "%12s %12s %10s  %s\n", "peak B", "live B", "allocs", "site");
  for (size_t i = 0; i < h->nsites && i < top; i++) {
    const gsp_prof_heap_site *s = &h->sites[i];
    fprintf(f, "%12" PRIu64 " %12" PRIu64 " %10" PRIu64 "  ", s->peak_bytes, s->live_bytes,
            s->allocs);
    text_stack(f, s);
    fputc('\n', f);
  }
  if (!h->checked) {
    fprintf(f, "\nLeaks: not checked (sampled tracking)\n");
  } else {
    fprintf(f, "\nLeaks: %zu site(s)\n", h->nleaks);
    for (size_t i = 0; i < h->nleaks; i++) {
      fprintf(f, "  %" PRIu64 " bytes in %" PRIu64 " block(s) from ", h->leaks[i].leak_bytes,
              h->leaks[i].leak_count);
      text_stack(f, &h->leaks[i]);
      fputc('\n', f);
    }
  }
  return ferror(f) ? GSP_EIO : GSP_OK;
}

static void json_str(FILE *f, const char *s) {
  fputc('"', f);
  for (; *s; s++) {
    unsigned char c = (unsigned char)*s;
    if (c == '"' || c == '\\')
      fprintf(f, "\\%c", c);
    else if (c < 0x20)
      fprintf(f, "\\u%04x", c);
    else
      fputc(c, f);
  }
  fputc('"', f);
}

int gsp_prof_heap_write_leaks_json(const gsp_prof_heap *h, FILE *f) {
  if (!h || !f) return GSP_EINVAL;
  fputc('[', f);
  for (size_t i = 0; i < h->nleaks; i++) {
    const gsp_prof_heap_site *s = &h->leaks[i];
    fprintf(f, "%s{\"bytes\":%" PRIu64 ",\"count\":%" PRIu64 ",\"stack\":[", i ? "," : "",
            s->leak_bytes, s->leak_count);
    for (size_t d = 0; d < s->depth; d++) {
      if (d) fputc(',', f);
      json_str(f, s->stack[d]);
    }
    fprintf(f, "]}");
  }
  fputc(']', f);
  return ferror(f) ? GSP_EIO : GSP_OK;
}
