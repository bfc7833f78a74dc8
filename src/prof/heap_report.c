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
 * in the symbol table of the site's process (syms[], one per file read).
 *
 * A directory (gsp_prof_heap_load_dir) is every heap.<pid>.raw in it,
 * each symbolized against its own .maps, its sites tagged with the pid
 * and the program's base name; a file that cannot be read is skipped
 * with a problem naming it (its sites are rolled back), a last line cut
 * short (no newline: the writer was killed) is dropped with a problem.
 */
#include <dirent.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "prof_int.h"

#define MAX_SITE_DEPTH 64

struct gsp_prof_heap {
  gsp__symtab **syms; /* one per process read */
  size_t nsyms;
  char **problems;
  size_t nproblems;
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

/* Parses one site line of a process (symbols sym, pid, comm); the stack
 * goes to names (its offset kept in first[] until names stops moving, see
 * finish_load). */
static int parse_site(gsp_prof_heap *h, char *line, gsp__symtab *sym, long pid, const char *comm) {
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
    gsp__sym got;
    gsp__symtab_lookup(sym, pc - 1, &got);
    h->names[h->nnames++] = got.func;
  }
  s = (gsp_prof_heap_site){NULL, v[7], v[0], v[1], v[2], v[3], v[4], v[5], v[6], pid, comm};
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
  if (h->nsites > 1) qsort(h->sites, h->nsites, sizeof *h->sites, by_peak);
  h->leaks = gsp_calloc(h->nsites + 1, sizeof *h->leaks);
  if (!h->leaks) return GSP_ENOMEM;
  for (size_t i = 0; i < h->nsites; i++)
    if (h->sites[i].leak_count > 0) h->leaks[h->nleaks++] = h->sites[i];
  if (h->nleaks > 1) qsort(h->leaks, h->nleaks, sizeof *h->leaks, by_leak);
  return GSP_OK;
}

typedef struct heap_file {
  gsp__symtab *sym;
  long pid;
  const char *comm;
  bool cut; /* out: the last line had no newline and was dropped */
} heap_file;

/* The header and site lines of one file; on failure h keeps no site of
 * it. The first file sets the sampling interval; leaks count as checked
 * only when every file checked them. */
static int parse(gsp_prof_heap *h, char *text, heap_file *hf) {
  static const char k_head[] = "gsperf-heap 1 sample ";
  if (strncmp(text, k_head, sizeof k_head - 1) != 0) return GSP_EFORMAT;
  char *end;
  uint64_t sample = strtoull(text + sizeof k_head - 1, &end, 10);
  if (strncmp(end, " leaks ", 7) != 0 || (end[7] != '0' && end[7] != '1')) return GSP_EFORMAT;
  bool checked = end[7] == '1';
  size_t len = strlen(text), nsites = h->nsites, nnames = h->nnames;
  hf->cut = len > 0 && text[len - 1] != '\n';
  if (hf->cut) *(strrchr(text, '\n') ? strrchr(text, '\n') : text) = '\0';
  char *save = NULL, *line;
  if (!strtok_r(text, "\n", &save)) return GSP_EFORMAT;
  int rv = GSP_OK;
  while (rv == GSP_OK && (line = strtok_r(NULL, "\n", &save)) != NULL)
    rv = parse_site(h, line, hf->sym, hf->pid, hf->comm);
  if (rv != GSP_OK) {
    h->nsites = nsites;
    h->nnames = nnames;
    return rv;
  }
  if (h->nsyms == 1) h->sample = sample; /* hf's table is the last one added */
  h->checked = (h->nsyms == 1 || h->checked) && checked;
  return GSP_OK;
}

static int add_sym(gsp_prof_heap *h, gsp__symtab *sym) {
  gsp__symtab **v = gsp_realloc(h->syms, (h->nsyms + 1) * sizeof(gsp__symtab *));
  if (!v) return GSP_ENOMEM;
  h->syms = v;
  h->syms[h->nsyms++] = sym;
  return GSP_OK;
}

/* The base name of the program of a maps text (its first file mapping). */
static void maps_comm(const char *maps, char *out, size_t cap) {
  out[0] = '\0';
  for (const char *l = maps; l && *l;) {
    const char *e = strchr(l, '\n'), *slash = strchr(l, '/');
    if (slash && (!e || slash < e)) {
      const char *stop = e ? e : slash + strlen(slash);
      const char *b = slash;
      for (const char *q = slash; q < stop; q++)
        if (*q == '/') b = q + 1;
      size_t n = (size_t)(stop - b);
      if (n > 10 && strncmp(stop - 10, " (deleted)", 10) == 0) n -= 10;
      snprintf(out, cap, "%.*s", (int)n, b);
      return;
    }
    l = e ? e + 1 : NULL;
  }
}

/* Reads one process's file into h. *problem (static text) says why a
 * file was skipped or cut; only GSP_ENOMEM is returned as an error by
 * callers that go on with other files. */
static int load_one(gsp_prof_heap *h, const char *raw_path, long pid, const char **problem) {
  size_t plen = strlen(raw_path), len = 0, mlen = 0;
  char *mpath = gsp_malloc(plen + 6), *text = NULL, *maps = NULL, comm[256];
  heap_file hf = {NULL, pid, "", false};
  int rv = mpath ? GSP_OK : GSP_ENOMEM;
  if (rv == GSP_OK) {
    snprintf(mpath, plen + 6, "%s.maps", raw_path);
    rv = gsp__read_file(raw_path, &text, &len);
    *problem = rv == GSP_OK ? NULL : "cannot be read: skipped";
  }
  if (rv == GSP_OK) {
    rv = gsp__read_file(mpath, &maps, &mlen);
    *problem = rv == GSP_OK ? NULL : "its .maps file is missing: skipped";
  }
  if (rv == GSP_OK) {
    rv = gsp__symtab_create(maps, mlen, &hf.sym);
    *problem = rv == GSP_OK ? NULL : "its .maps file is not a memory map: skipped";
  }
  if (rv == GSP_OK) rv = add_sym(h, hf.sym);
  if (rv != GSP_OK) gsp__symtab_destroy(hf.sym);
  if (rv == GSP_OK) {
    maps_comm(maps, comm, sizeof comm);
    hf.comm = gsp__symtab_intern(hf.sym, comm);
    rv = parse(h, text, &hf);
    if (rv != GSP_OK) gsp__symtab_destroy(h->syms[--h->nsyms]);
    *problem = rv == GSP_EFORMAT ? "not a gsperf heap file (bad header or site line): skipped"
               : hf.cut          ? "last line cut short (a killed writer?): dropped"
                                 : NULL;
  }
  gsp_free(text);
  gsp_free(maps);
  gsp_free(mpath);
  return rv;
}

int gsp_prof_heap_load(const char *raw_path, gsp_prof_heap **out) {
  if (!raw_path || !out) return GSP_EINVAL;
  gsp_prof_heap *h = gsp_calloc(1, sizeof *h);
  if (!h) return GSP_ENOMEM;
  const char *problem, *base = strrchr(raw_path, '/');
  base = base ? base + 1 : raw_path;
  long pid = strncmp(base, "heap.", 5) == 0 ? strtol(base + 5, NULL, 10) : 0;
  int rv = load_one(h, raw_path, pid > 0 ? pid : 0, &problem);
  if (rv == GSP_OK) rv = finish_load(h);
  if (rv != GSP_OK) {
    gsp_prof_heap_destroy(h);
    return rv;
  }
  *out = h;
  return GSP_OK;
}

static int add_problem(gsp_prof_heap *h, const char *path, const char *what) {
  char **v = gsp_realloc(h->problems, (h->nproblems + 1) * sizeof *v);
  if (!v) return GSP_ENOMEM;
  h->problems = v;
  size_t n = strlen(path) + strlen(what) + 3;
  char *s = gsp_malloc(n);
  if (!s) return GSP_ENOMEM;
  snprintf(s, n, "%s: %s", path, what);
  h->problems[h->nproblems++] = s;
  return GSP_OK;
}

/* pid of "heap.<pid>.raw"; 0: another file; -1: heap.*.raw, bad pid. */
static long heap_pid(const char *name) {
  size_t n = strlen(name);
  if (strncmp(name, "heap.", 5) != 0 || n <= 9 || strcmp(name + n - 4, ".raw") != 0) return 0;
  long pid = 0;
  for (const char *p = name + 5; p < name + n - 4; p++) {
    if (*p < '0' || *p > '9' || pid > 100000000) return -1;
    pid = pid * 10 + (*p - '0');
  }
  return pid > 0 ? pid : -1;
}

static int load_entry(gsp_prof_heap *h, const char *dir, const char *name) {
  long pid = heap_pid(name);
  if (pid == 0) return GSP_OK;
  size_t n = strlen(dir) + strlen(name) + 2;
  char *path = gsp_malloc(n);
  if (!path) return GSP_ENOMEM;
  snprintf(path, n, "%s/%s", dir, name);
  const char *problem = "not named heap.<pid>.raw: skipped";
  int rv = pid > 0 ? load_one(h, path, pid, &problem) : GSP_EFORMAT;
  if (rv != GSP_ENOMEM && problem) rv = add_problem(h, path, problem);
  if (rv != GSP_ENOMEM) rv = GSP_OK;
  gsp_free(path);
  return rv;
}

int gsp_prof_heap_load_dir(const char *dir, gsp_prof_heap **out) {
  if (!dir || !out) return GSP_EINVAL;
  DIR *d = opendir(dir);
  if (!d) return GSP_ENOENT;
  gsp_prof_heap *h = gsp_calloc(1, sizeof *h);
  int rv = h ? GSP_OK : GSP_ENOMEM;
  struct dirent *e;
  while (rv == GSP_OK && (e = readdir(d)) != NULL) rv = load_entry(h, dir, e->d_name);
  closedir(d);
  if (rv == GSP_OK) rv = finish_load(h);
  if (rv != GSP_OK) {
    gsp_prof_heap_destroy(h);
    return rv;
  }
  *out = h;
  return GSP_OK;
}

void gsp_prof_heap_destroy(gsp_prof_heap *h) {
  if (!h) return;
  for (size_t i = 0; i < h->nsyms; i++) gsp__symtab_destroy(h->syms[i]);
  for (size_t i = 0; i < h->nproblems; i++) gsp_free(h->problems[i]);
  gsp_free(h->syms);
  gsp_free(h->problems);
  gsp_free(h->sites);
  gsp_free(h->first);
  gsp_free(h->leaks);
  gsp_free(h->names);
  gsp_free(h);
}

size_t gsp_prof_heap_processes(const gsp_prof_heap *h) { return h->nsyms; }

size_t gsp_prof_heap_problems(const gsp_prof_heap *h, const char *const **out) {
  *out = (const char *const *)h->problems;
  return h->nproblems;
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

/* The stack, and with several processes "  [comm pid]". */
static void text_stack(FILE *f, const gsp_prof_heap *h, const gsp_prof_heap_site *s) {
  for (size_t d = 0; d < s->depth; d++) fprintf(f, "%s%s", d ? " <- " : "", s->stack[d]);
  if (h->nsyms > 1) fprintf(f, "  [%s %ld]", s->comm, s->pid);
}

int gsp_prof_heap_write_text(const gsp_prof_heap *h, FILE *f, size_t top) {
  if (!h || !f) return GSP_EINVAL;
  if (h->sample)
    fprintf(f, "Heap (one allocation tracked per %" PRIu64 " bytes)", h->sample);
  else
    fprintf(f, "Heap (every allocation tracked)");
  fprintf(f, ", %zu process(es)\n", h->nsyms);
  for (size_t i = 0; i < h->nproblems; i++) fprintf(f, "problem: %s\n", h->problems[i]);
  fprintf(f, "%12s %12s %10s  %s\n", "peak B", "live B", "allocs", "site");
  for (size_t i = 0; i < h->nsites && i < top; i++) {
    const gsp_prof_heap_site *s = &h->sites[i];
    fprintf(f, "%12" PRIu64 " %12" PRIu64 " %10" PRIu64 "  ", s->peak_bytes, s->live_bytes,
            s->allocs);
    text_stack(f, h, s);
    fputc('\n', f);
  }
  if (!h->checked) {
    fprintf(f, "\nLeaks: not checked (sampled tracking)\n");
  } else {
    fprintf(f, "\nLeaks: %zu site(s)\n", h->nleaks);
    for (size_t i = 0; i < h->nleaks; i++) {
      fprintf(f, "  %" PRIu64 " bytes in %" PRIu64 " block(s) from ", h->leaks[i].leak_bytes,
              h->leaks[i].leak_count);
      text_stack(f, h, &h->leaks[i]);
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
    fputc(']', f);
    if (s->pid > 0) {
      fprintf(f, ",\"pid\":%ld,\"comm\":", s->pid);
      json_str(f, s->comm);
    }
    fputc('}', f);
  }
  fputc(']', f);
  return ferror(f) ? GSP_EIO : GSP_OK;
}
