/*
 * report.c - a symbolized profile: per-function self and total samples,
 * hot call paths, bottlenecks; the text and JSON writers.
 *
 * Building (gsp__report_build). Every distinct pc slot of the stack table
 * becomes a location: the leaf pc is looked up as is, a caller's return
 * address minus one (so the call instruction, not the next line, is
 * named). Locations are deduplicated by looked-up address in an open
 * addressing map; each gets its function (interned name -> function index
 * through a second map). Then one pass over the stacks adds a stack's count
 * to its leaf function's self and, once per distinct function on the stack
 * (recursion counts once), to total. Functions are sorted by self, then
 * total, and frame_func is renumbered to the sorted order.
 *
 * Data layout: frame_loc[k] / frame_func[k] parallel the stack table's
 * pcs[k]; locs[] and loc_sym[] are per location; funcs[] sorted.
 *
 * The second half loads a directory of per-process raw files into a
 * multi-process report (gsp_prof_multi, layout in multi_int.h): one
 * report per process as above, then the functions merged by name and
 * source file.
 */
#include <dirent.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "multi_int.h"

typedef struct umap {
  uint64_t *key; /* key+1, 0 = empty */
  uint32_t *val;
  size_t cap;
} umap;

static int umap_init(umap *m, size_t n) {
  m->cap = 64;
  while (m->cap < n * 2) m->cap *= 2;
  m->key = gsp_calloc(m->cap, sizeof *m->key);
  m->val = gsp_calloc(m->cap, sizeof *m->val);
  return m->key && m->val ? GSP_OK : GSP_ENOMEM;
}

static void umap_free(umap *m) {
  gsp_free(m->key);
  gsp_free(m->val);
}

/* Slot of key (found or where it goes); m never fills (cap >= 2n). */
static size_t umap_slot(const umap *m, uint64_t key) {
  size_t j = (size_t)((key * 0x9e3779b97f4a7c15ull) >> 20) & (m->cap - 1);
  while (m->key[j] != 0 && m->key[j] != key + 1) j = (j + 1) & (m->cap - 1);
  return j;
}

static int add_func(gsp_prof_report *r, umap *fm, const gsp__sym *sym, uint32_t *out) {
  size_t j = umap_slot(fm, (uint64_t)(uintptr_t)sym->func);
  if (fm->key[j] != 0) {
    *out = fm->val[j];
    return GSP_OK;
  }
  gsp_prof_func *f = &r->funcs[r->nfuncs];
  memset(f, 0, sizeof *f);
  f->name = sym->func;
  f->file = sym->file;
  f->line = sym->line;
  fm->key[j] = (uint64_t)(uintptr_t)sym->func + 1;
  fm->val[j] = (uint32_t)r->nfuncs;
  *out = (uint32_t)r->nfuncs++;
  return GSP_OK;
}

/* Looks up pc (as given) into *out; ctx is the lookup's own. */
typedef void (*lookup_fn)(void *ctx, uint64_t pc, gsp__sym *out);

static void symtab_lookup(void *ctx, uint64_t pc, gsp__sym *out) {
  gsp__symtab_lookup(ctx, pc, out);
}

static int build_locs(gsp_prof_report *r, umap *lm, umap *fm, lookup_fn lookup, void *ctx) {
  gsp__stacks *t = &r->stacks;
  for (size_t i = 0; i < t->cap; i++) {
    if (t->hash[i] == 0) continue;
    const gsp__stack *s = &t->v[i];
    for (uint32_t d = 0; d < s->depth; d++) {
      size_t k = s->off + d;
      uint64_t pc = t->pcs[k] - (d > 0 ? 1 : 0);
      size_t j = umap_slot(lm, pc);
      if (lm->key[j] == 0) {
        gsp__sym *sym = &r->loc_sym[r->nlocs];
        lookup(ctx, pc, sym);
        r->locs[r->nlocs] = (gsp__frame_info){pc, 0, sym->line};
        add_func(r, fm, sym, &r->locs[r->nlocs].func);
        lm->key[j] = pc + 1;
        lm->val[j] = (uint32_t)r->nlocs++;
      }
      r->frame_loc[k] = lm->val[j];
      r->frame_func[k] = r->locs[lm->val[j]].func;
    }
  }
  return GSP_OK;
}

static void count_stacks(gsp_prof_report *r, uint32_t *mark) {
  gsp__stacks *t = &r->stacks;
  uint32_t gen = 0;
  for (size_t i = 0; i < t->cap; i++) {
    if (t->hash[i] == 0) continue;
    const gsp__stack *s = &t->v[i];
    gen++;
    r->funcs[r->frame_func[s->off]].self += s->count;
    for (uint32_t d = 0; d < s->depth; d++) {
      uint32_t f = r->frame_func[s->off + d];
      if (mark[f] == gen) continue;
      mark[f] = gen;
      r->funcs[f].total += s->count;
    }
  }
}

static int by_self_desc(const void *a, const void *b) {
  const gsp_prof_func *x = a, *y = b;
  if (x->self != y->self) return x->self < y->self ? 1 : -1;
  if (x->total != y->total) return x->total < y->total ? 1 : -1;
  return strcmp(x->name, y->name);
}

static int sort_funcs(gsp_prof_report *r) {
  double all = r->stacks.total ? (double)r->stacks.total : 1.0;
  for (size_t i = 0; i < r->nfuncs; i++) {
    r->funcs[i].self_pct = 100.0 * (double)r->funcs[i].self / all;
    r->funcs[i].total_pct = 100.0 * (double)r->funcs[i].total / all;
    r->funcs[i].line = (unsigned)i; /* old index, restored below */
  }
  qsort(r->funcs, r->nfuncs, sizeof *r->funcs, by_self_desc);
  uint32_t *newidx = gsp_malloc((r->nfuncs + 1) * sizeof *newidx);
  if (!newidx) return GSP_ENOMEM;
  for (size_t i = 0; i < r->nfuncs; i++) newidx[r->funcs[i].line] = (uint32_t)i;
  for (size_t i = 0; i < r->nfuncs; i++) r->funcs[i].line = 0;
  for (size_t k = 0; k < r->stacks.npcs; k++) r->frame_func[k] = newidx[r->frame_func[k]];
  for (size_t i = 0; i < r->nlocs; i++) {
    r->locs[i].func = newidx[r->locs[i].func];
    gsp_prof_func *f = &r->funcs[r->locs[i].func];
    if (f->line == 0 && r->loc_sym[i].line != 0) {
      f->line = r->loc_sym[i].line;
      f->file = r->loc_sym[i].file;
    }
  }
  gsp_free(newidx);
  return GSP_OK;
}

static int report_build(gsp_prof_report *r, lookup_fn lookup, void *ctx) {
  size_t npcs = r->stacks.npcs;
  r->frame_func = gsp_calloc(npcs + 1, sizeof *r->frame_func);
  r->frame_loc = gsp_calloc(npcs + 1, sizeof *r->frame_loc);
  r->locs = gsp_calloc(npcs + 1, sizeof *r->locs);
  r->loc_sym = gsp_calloc(npcs + 1, sizeof *r->loc_sym);
  r->funcs = gsp_calloc(npcs + 1, sizeof *r->funcs);
  umap lm = {0}, fm = {0};
  int rv = GSP_ENOMEM;
  if (!r->frame_func || !r->frame_loc || !r->locs || !r->loc_sym || !r->funcs) goto out;
  if (umap_init(&lm, npcs) != GSP_OK || umap_init(&fm, npcs) != GSP_OK) goto out;
  build_locs(r, &lm, &fm, lookup, ctx);
  uint32_t *mark = gsp_calloc(r->nfuncs + 1, sizeof *mark);
  if (!mark) goto out;
  count_stacks(r, mark);
  gsp_free(mark);
  rv = sort_funcs(r);
out:
  umap_free(&lm);
  umap_free(&fm);
  return rv;
}

int gsp__report_build(gsp_prof_report *r) { return report_build(r, symtab_lookup, r->sym); }

uint32_t gsp__report_func_at(const gsp_prof_report *r, const gsp__stack *s, uint32_t i) {
  return r->frame_func[s->off + (s->depth - 1 - i)];
}

void gsp_prof_report_destroy(gsp_prof_report *r) {
  if (!r) return;
  gsp__stacks_free(&r->stacks);
  gsp__symtab_destroy(r->sym);
  gsp_free(r->funcs);
  gsp_free(r->frame_func);
  gsp_free(r->frame_loc);
  gsp_free(r->locs);
  gsp_free(r->loc_sym);
  gsp_free(r);
}

uint64_t gsp_prof_report_samples(const gsp_prof_report *r) { return r ? r->stacks.total : 0; }

size_t gsp_prof_report_functions(const gsp_prof_report *r, const gsp_prof_func **out) {
  *out = r->funcs;
  return r->nfuncs;
}

int gsp_prof_report_load(const char *raw_path, double bottleneck_pct, gsp_prof_report **out) {
  if (!raw_path || !out) return GSP_EINVAL;
  gsp_prof_report *r = gsp_calloc(1, sizeof *r);
  if (!r) return GSP_ENOMEM;
  r->bottleneck_pct = bottleneck_pct > 0 ? bottleneck_pct : 5.0;
  size_t plen = strlen(raw_path), mlen = 0;
  char *mpath = gsp_malloc(plen + 6), *maps = NULL;
  int rv = mpath ? GSP_OK : GSP_ENOMEM;
  if (rv == GSP_OK) {
    snprintf(mpath, plen + 6, "%s.maps", raw_path);
    rv = gsp__raw_read(raw_path, &r->stacks, &r->hz);
  }
  if (rv == GSP_OK) rv = gsp__read_file(mpath, &maps, &mlen);
  if (rv == GSP_OK) rv = gsp__symtab_create(maps, mlen, &r->sym);
  if (rv == GSP_OK) rv = gsp__report_build(r);
  gsp_free(maps);
  gsp_free(mpath);
  if (rv != GSP_OK) {
    gsp_prof_report_destroy(r);
    return rv;
  }
  *out = r;
  return GSP_OK;
}

int gsp_prof_report_create(gsp_prof *p, gsp_prof_report **out) {
  if (!p || !out) return GSP_EINVAL;
  gsp_prof_report *r = gsp_calloc(1, sizeof *r);
  if (!r) return GSP_ENOMEM;
  int rv = gsp__prof_snapshot(p, r);
  char *maps = NULL;
  size_t len = 0;
  if (rv == GSP_OK) rv = gsp__read_file("/proc/self/maps", &maps, &len);
  if (rv == GSP_OK) rv = gsp__symtab_create(maps, len, &r->sym);
  if (rv == GSP_OK) rv = gsp__report_build(r);
  gsp_free(maps);
  if (rv != GSP_OK) {
    gsp_prof_report_destroy(r);
    return rv;
  }
  *out = r;
  return GSP_OK;
}

/* ---- several processes ------------------------------------------------------
 * gsp_prof_multi_load: every DIR/cpu.<pid>.raw is read into its own
 * report (read_raw_checked: the raw format of prof_int.h, telling a last
 * record cut short from a bad one), built with its pcs looked up through
 * the symbol cache shared by the load (cached_lookup; a miss is looked
 * up in its own cpu.<pid>.raw.maps), and its strings moved into the
 * shared pool (pool_report) so its libdw session, if one was opened, can
 * be closed. Then functions are merged by name and file (merge_funcs).
 * A file that fails is a problem, never an error: only running out of
 * memory stops the load. */

#define RAW_FILE_MAGIC "GSPRAW1\n" /* the raw format of prof_int.h */
#define RAW_REC_MAGIC 0x52535047u

typedef struct raw_check {
  size_t len, used; /* file bytes; bytes of header + whole records */
  bool cut;         /* what follows `used` is the start of a record */
} raw_check;

static int read_raw_checked(const char *path, gsp__stacks *t, unsigned *hz, raw_check *c) {
  char *b;
  int rv = gsp__read_file(path, &b, &c->len);
  if (rv != GSP_OK) return rv;
  if (c->len < 16 || memcmp(b, RAW_FILE_MAGIC, 8) != 0) {
    gsp_free(b);
    return GSP_EFORMAT;
  }
  uint32_t v[2], h[4] = {0};
  memcpy(v, b + 8, 8);
  *hz = v[0];
  uint64_t pcs[GSP__PROF_MAX_DEPTH];
  size_t off = 16;
  c->cut = false;
  while (rv == GSP_OK && off < c->len) {
    size_t left = c->len - off;
    memcpy(h, b + off, left < 16 ? left : 16);
    bool head_ok = left < 4 || h[0] == RAW_REC_MAGIC;
    if (left < 16 || !head_ok || h[2] == 0 || h[2] > GSP__PROF_MAX_DEPTH) {
      c->cut = head_ok && (left < 12 || (h[2] > 0 && h[2] <= GSP__PROF_MAX_DEPTH));
      break;
    }
    size_t need = 16 + (size_t)h[2] * 8;
    if (need > left) {
      c->cut = true;
      break;
    }
    memcpy(pcs, b + off + 16, (size_t)h[2] * 8);
    rv = gsp__stacks_add(t, pcs, h[2], h[1] ? h[1] : 1);
    off += need;
  }
  c->used = off;
  gsp_free(b);
  return rv;
}

int gsp__multi_problem(gsp_prof_multi *m, const char *path, const char *what) {
  if (m->nproblems == m->problems_cap) {
    size_t cap = m->problems_cap ? m->problems_cap * 2 : 8;
    char **v = gsp_realloc(m->problems, cap * sizeof *v);
    if (!v) return GSP_ENOMEM;
    m->problems = v;
    m->problems_cap = cap;
  }
  size_t n = strlen(path) + strlen(what) + 3;
  char *s = gsp_malloc(n);
  if (!s) return GSP_ENOMEM;
  snprintf(s, n, "%s: %s", path, what);
  m->problems[m->nproblems++] = s;
  return GSP_OK;
}

/* The program of a maps text: the path of its first file mapping. */
static void maps_exe(const char *maps, char *out, size_t cap) {
  out[0] = '\0';
  for (const char *l = maps; l && *l; l = strchr(l, '\n'), l = l ? l + 1 : NULL) {
    const char *e = strchr(l, '\n'), *p = l;
    size_t n = e ? (size_t)(e - l) : strlen(l);
    for (int field = 0; field < 5 && p < l + n; field++) {
      while (p < l + n && *p != ' ') p++;
      while (p < l + n && *p == ' ') p++;
    }
    if (p < l + n && *p == '/') {
      size_t k = (size_t)(l + n - p);
      const char *del = " (deleted)";
      if (k > strlen(del) && strncmp(p + k - strlen(del), del, strlen(del)) == 0) k -= strlen(del);
      snprintf(out, cap, "%.*s", (int)k, p);
      return;
    }
  }
}

static const char *pool_str(gsp__symtab *pool, const char *s, bool *oom) {
  const char *p = gsp__symtab_intern(pool, s ? s : "");
  if (strcmp(p, s ? s : "") != 0) *oom = true; /* intern gave its "?" */
  return p;
}

/* Moves r's strings into the pool and closes r's symbol table. */
static int pool_report(gsp__symtab *pool, gsp_prof_report *r) {
  bool oom = false;
  for (size_t i = 0; i < r->nfuncs; i++) {
    r->funcs[i].name = pool_str(pool, r->funcs[i].name, &oom);
    r->funcs[i].file = pool_str(pool, r->funcs[i].file, &oom);
  }
  for (size_t i = 0; i < r->nlocs; i++) {
    r->loc_sym[i].func = pool_str(pool, r->loc_sym[i].func, &oom);
    r->loc_sym[i].file = pool_str(pool, r->loc_sym[i].file, &oom);
    r->loc_sym[i].map_file = pool_str(pool, r->loc_sym[i].map_file, &oom);
  }
  gsp__symtab_destroy(r->sym);
  r->sym = NULL;
  return oom ? GSP_ENOMEM : GSP_OK;
}

static int push_proc(gsp_prof_multi *m, const gsp_prof_process *p, gsp_prof_report *r) {
  if (m->n == m->cap) {
    size_t cap = m->cap ? m->cap * 2 : 8;
    gsp_prof_process *v = gsp_realloc(m->procs, cap * sizeof *v);
    if (!v) return GSP_ENOMEM;
    m->procs = v;
    gsp_prof_report **w = gsp_realloc(m->reps, cap * sizeof(gsp_prof_report *));
    if (!w) return GSP_ENOMEM;
    m->reps = w;
    m->cap = cap;
  }
  m->procs[m->n] = *p;
  m->reps[m->n++] = r;
  return GSP_OK;
}

/* ---- symbols shared by the processes ---------------------------------------
 * A make or a test runner starts the same programs and libraries again
 * and again; opening them with libdw for each process (and the C
 * library's debug information) costs tens of ms a process. So lookups go
 * through a cache shared by the load: the key is the mapped file (pooled
 * path and inode, from the process's maps) and the pc's offset in it,
 * the value the symbol found (strings pooled, module bounds relative to
 * the file's load base). A process's libdw table is opened only at its
 * first miss; a process whose pcs all hit never opens one. A pc outside
 * any file mapping (JIT code, the vdso) is looked up without the cache.
 * The cache cannot be less right than libdw alone: libdw opens each file
 * by the path in the map at report time, so two processes that mapped
 * the same path get the same answer either way. */

typedef struct maprange {
  uint64_t start, end, base, inode; /* base: start - file offset */
  const char *path;                 /* pooled */
} maprange;

struct gsp__scache_ent {
  const char *path; /* NULL: empty slot */
  uint64_t inode, off;
  gsp__sym sym;
};

typedef struct proc_syms {
  gsp_prof_multi *m;
  gsp_prof_report *r;
  const char *maps, *mpath;
  size_t mlen, nranges;
  maprange *ranges;
  int err; /* GSP_ENOMEM met during lookups */
} proc_syms;

/* File mappings of a maps text, in address order. */
static int parse_ranges(proc_syms *ps) {
  size_t cap = 16;
  ps->ranges = gsp_malloc(cap * sizeof *ps->ranges);
  if (!ps->ranges) return GSP_ENOMEM;
  bool oom = false;
  for (const char *l = ps->maps; l && *l; l = strchr(l, '\n'), l = l ? l + 1 : NULL) {
    char *e;
    maprange r = {0};
    r.start = strtoull(l, &e, 16);
    if (*e != '-') continue;
    r.end = strtoull(e + 1, &e, 16);
    while (*e == ' ') e++;
    e += strcspn(e, " \n"); /* perms */
    uint64_t off = strtoull(e, &e, 16);
    while (*e == ' ') e++;
    e += strcspn(e, " \n"); /* device */
    r.inode = strtoull(e, &e, 10);
    while (*e == ' ') e++;
    if (*e != '/' || r.end <= r.start) continue;
    char path[4096];
    snprintf(path, sizeof path, "%.*s", (int)strcspn(e, "\n"), e);
    r.path = pool_str(ps->m->pool, path, &oom);
    r.base = r.start - off;
    if (ps->nranges == cap) {
      maprange *v = gsp_realloc(ps->ranges, (cap *= 2) * sizeof *v);
      if (!v) return GSP_ENOMEM;
      ps->ranges = v;
    }
    ps->ranges[ps->nranges++] = r;
  }
  return oom ? GSP_ENOMEM : GSP_OK;
}

static const maprange *range_of(const proc_syms *ps, uint64_t pc) {
  size_t lo = 0, hi = ps->nranges;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (pc < ps->ranges[mid].start)
      hi = mid;
    else if (pc >= ps->ranges[mid].end)
      lo = mid + 1;
    else
      return &ps->ranges[mid];
  }
  return NULL;
}

static size_t cache_slot(const gsp_prof_multi *m, const char *path, uint64_t inode, uint64_t off) {
  uint64_t h = ((uint64_t)(uintptr_t)path ^ inode * 31) * 0x9e3779b97f4a7c15ull ^ off;
  size_t j = (size_t)((h * 0x9e3779b97f4a7c15ull) >> 20) & (m->cache_cap - 1);
  for (const struct gsp__scache_ent *e; (e = &m->cache[j])->path; j = (j + 1) & (m->cache_cap - 1))
    if (e->path == path && e->inode == inode && e->off == off) break;
  return j;
}

static int cache_grow(gsp_prof_multi *m) {
  size_t cap = m->cache_cap ? m->cache_cap * 2 : 1024;
  struct gsp__scache_ent *old = m->cache, *v = gsp_calloc(cap, sizeof *v);
  if (!v) return GSP_ENOMEM;
  size_t old_cap = m->cache_cap;
  m->cache = v;
  m->cache_cap = cap;
  for (size_t i = 0; i < old_cap; i++)
    if (old[i].path) m->cache[cache_slot(m, old[i].path, old[i].inode, old[i].off)] = old[i];
  gsp_free(old);
  return GSP_OK;
}

/* r's libdw table, opened at the first miss; a bad map is a problem. */
static gsp__symtab *open_symtab(proc_syms *ps) {
  if (ps->r->sym) return ps->r->sym;
  int rv = gsp__symtab_create(ps->maps, ps->mlen, &ps->r->sym);
  if (rv != GSP_OK && rv != GSP_ENOMEM)
    rv = gsp__multi_problem(ps->m, ps->mpath, "not a memory map: addresses left unsymbolized");
  if (rv == GSP_OK && !ps->r->sym) rv = gsp__symtab_create(NULL, 0, &ps->r->sym);
  if (rv != GSP_OK) ps->err = rv;
  return ps->r->sym;
}

static void cached_lookup(void *ctx, uint64_t pc, gsp__sym *out) {
  proc_syms *ps = ctx;
  gsp_prof_multi *m = ps->m;
  const maprange *mr = range_of(ps, pc);
  if ((m->cache_n + 1) * 2 > m->cache_cap && cache_grow(m) != GSP_OK) mr = NULL;
  size_t j = mr ? cache_slot(m, mr->path, mr->inode, pc - mr->base) : 0;
  if (mr && m->cache[j].path) {
    *out = m->cache[j].sym;
    out->map_start += mr->base;
    out->map_limit += mr->base;
    return;
  }
  gsp__symtab *sym = open_symtab(ps);
  bool oom = !sym;
  if (sym) gsp__symtab_lookup(sym, pc, out);
  out->func = pool_str(m->pool, sym ? out->func : "?", &oom);
  out->file = pool_str(m->pool, sym ? out->file : "", &oom);
  out->map_file = pool_str(m->pool, sym ? out->map_file : "", &oom);
  if (oom) ps->err = GSP_ENOMEM;
  if (!mr || oom) return;
  m->cache[j] = (struct gsp__scache_ent){mr->path, mr->inode, pc - mr->base, *out};
  m->cache[j].sym.map_start -= mr->base;
  m->cache[j].sym.map_limit -= mr->base;
  m->cache_n++;
}

/* Reads the process's maps (a missing one is a problem: its addresses
 * stay unsymbolized), its program, and builds r through the cache. */
static int proc_build(gsp_prof_multi *m, const char *path, gsp_prof_report *r, char *exe,
                      size_t cap) {
  size_t plen = strlen(path);
  char *mpath = gsp_malloc(plen + 6), *maps = NULL;
  if (!mpath) return GSP_ENOMEM;
  snprintf(mpath, plen + 6, "%s.maps", path);
  proc_syms ps = {.m = m, .r = r, .mpath = mpath};
  int rv = gsp__read_file(mpath, &maps, &ps.mlen);
  if (rv == GSP_OK) {
    maps_exe(maps, exe, cap);
    ps.maps = maps;
    if (r->stacks.total > 0) rv = parse_ranges(&ps); /* no sample: nothing to look up */
  } else if (rv != GSP_ENOMEM) {
    rv = gsp__multi_problem(m, mpath, "missing: addresses left unsymbolized");
    ps.mlen = 0;
  }
  if (rv == GSP_OK) rv = report_build(r, cached_lookup, &ps);
  if (rv == GSP_OK) rv = ps.err;
  gsp_free(ps.ranges);
  gsp_free(maps);
  gsp_free(mpath);
  return rv;
}

static int raw_problem(gsp_prof_multi *m, const char *path, int rv, const raw_check *c) {
  char what[160];
  if (rv == GSP_EFORMAT)
    snprintf(what, sizeof what, "not a gsperf CPU sample file (bad header): skipped");
  else if (rv != GSP_OK)
    snprintf(what, sizeof what, "cannot be read (%s): skipped", gsp_strerror(rv));
  else if (c->cut)
    snprintf(what, sizeof what,
             "last record cut short (a killed writer?): read up to byte %zu of %zu", c->used,
             c->len);
  else
    snprintf(what, sizeof what, "bad record at byte %zu of %zu: the rest ignored", c->used, c->len);
  return gsp__multi_problem(m, path, what);
}

static int load_proc(gsp_prof_multi *m, const char *path, long pid) {
  gsp_prof_report *r = gsp_calloc(1, sizeof *r);
  if (!r) return GSP_ENOMEM;
  r->bottleneck_pct = m->bottleneck_pct;
  raw_check c = {0};
  char exe[4096] = "", comm[64];
  int rv = read_raw_checked(path, &r->stacks, &r->hz, &c);
  bool partial = rv == GSP_OK && c.used < c.len;
  if ((rv != GSP_OK || partial) && rv != GSP_ENOMEM) {
    int prv = raw_problem(m, path, rv, &c);
    if (prv != GSP_OK) rv = prv;
  }
  if (rv == GSP_OK) rv = proc_build(m, path, r, exe, sizeof exe);
  if (rv == GSP_OK) rv = pool_report(m->pool, r);
  const char *base = strrchr(exe, '/');
  snprintf(comm, sizeof comm, "%s", base ? base + 1 : "");
  if (!comm[0]) snprintf(comm, sizeof comm, "pid %ld", pid);
  bool oom = false;
  gsp_prof_process p = {pid,
                        pool_str(m->pool, exe, &oom),
                        pool_str(m->pool, comm, &oom),
                        pool_str(m->pool, path, &oom),
                        r->stacks.total,
                        r->hz,
                        partial && c.cut,
                        GSP_PROF_EXIT_UNKNOWN};
  if (rv == GSP_OK && oom) rv = GSP_ENOMEM;
  if (rv == GSP_OK) rv = push_proc(m, &p, r);
  if (rv != GSP_OK) gsp_prof_report_destroy(r);
  return rv == GSP_EFORMAT || rv == GSP_ENOENT || rv == GSP_EIO ? GSP_OK : rv;
}

typedef struct mfunc {
  gsp_prof_multi_func pub;
  size_t old; /* index before sorting */
  size_t last_proc;
} mfunc;

static int by_mfunc(const void *a, const void *b) {
  return by_self_desc(&((const mfunc *)a)->pub.f, &((const mfunc *)b)->pub.f);
}

/* Slot in fm of the merged function (name, file) (pooled pointers):
 * where it is, or where it goes (key 0). */
static size_t mfunc_slot(const umap *fm, const mfunc *mf, const char *name, const char *file) {
  uint64_t h = (uint64_t)(uintptr_t)name * 0x9e3779b97f4a7c15ull ^ (uint64_t)(uintptr_t)file;
  size_t j = (size_t)((h * 0x9e3779b97f4a7c15ull) >> 20) & (fm->cap - 1);
  while (fm->key[j] != 0 &&
         (mf[fm->val[j]].pub.f.name != name || mf[fm->val[j]].pub.f.file != file))
    j = (j + 1) & (fm->cap - 1);
  return j;
}

/* Adds report p's functions to mf, by (name, source file): the same
 * function in several processes is one, two programs' own `main`s are
 * two. Fills fmap. */
static size_t merge_proc(gsp_prof_multi *m, size_t p, umap *fm, mfunc *mf, size_t n) {
  const gsp_prof_report *r = m->reps[p];
  for (size_t i = 0; i < r->nfuncs; i++) {
    const gsp_prof_func *f = &r->funcs[i];
    size_t j = mfunc_slot(fm, mf, f->name, f->file);
    if (fm->key[j] == 0) {
      fm->key[j] = 1;
      fm->val[j] = (uint32_t)n;
      mf[n] = (mfunc){.pub.f = {f->name, f->file, f->line, 0, 0, 0, 0}, .old = n};
      n++;
    }
    mfunc *g = &mf[fm->val[j]];
    if (g->pub.f.line == 0) g->pub.f.line = f->line;
    g->pub.f.self += f->self;
    g->pub.f.total += f->total;
    if (g->last_proc != p + 1) g->pub.nprocs++;
    g->last_proc = p + 1;
    m->fmap[m->fmap_off[p] + i] = fm->val[j];
  }
  return n;
}

/* Sorts the merged functions, renumbers fmap, fills each one's processes. */
static int finish_funcs(gsp_prof_multi *m, mfunc *mf, size_t n, size_t nloc) {
  qsort(mf, n, sizeof *mf, by_mfunc);
  size_t *newidx = gsp_malloc((n + 1) * sizeof *newidx), *fill = gsp_calloc(n + 1, sizeof *fill);
  m->funcs = gsp_calloc(n + 1, sizeof *m->funcs);
  m->fprocs = gsp_calloc(nloc + 1, sizeof *m->fprocs);
  int rv = newidx && fill && m->funcs && m->fprocs ? GSP_OK : GSP_ENOMEM;
  double all = m->total ? (double)m->total : 1.0;
  size_t off = 0;
  for (size_t i = 0; rv == GSP_OK && i < n; i++) {
    newidx[mf[i].old] = i;
    m->funcs[i] = mf[i].pub;
    m->funcs[i].f.self_pct = 100.0 * (double)mf[i].pub.f.self / all;
    m->funcs[i].f.total_pct = 100.0 * (double)mf[i].pub.f.total / all;
    m->funcs[i].procs = m->fprocs + off;
    off += mf[i].pub.nprocs;
  }
  for (size_t p = 0; rv == GSP_OK && p < m->n; p++) {
    for (size_t k = 0; k < m->reps[p]->nfuncs; k++) {
      uint32_t *slot = &m->fmap[m->fmap_off[p] + k];
      *slot = (uint32_t)newidx[*slot];
      size_t at = (size_t)(m->funcs[*slot].procs - m->fprocs);
      m->fprocs[at + fill[*slot]++] = p;
    }
  }
  m->nfuncs = rv == GSP_OK ? n : 0;
  gsp_free(newidx);
  gsp_free(fill);
  return rv;
}

static int merge_funcs(gsp_prof_multi *m) {
  size_t nloc = 0;
  m->fmap_off = gsp_calloc(m->n + 1, sizeof *m->fmap_off);
  if (!m->fmap_off) return GSP_ENOMEM;
  for (size_t p = 0; p < m->n; p++) {
    m->fmap_off[p] = nloc;
    nloc += m->reps[p]->nfuncs;
    m->total += m->reps[p]->stacks.total;
  }
  m->fmap = gsp_calloc(nloc + 1, sizeof *m->fmap);
  mfunc *mf = gsp_calloc(nloc + 1, sizeof *mf);
  umap fm = {0};
  int rv = m->fmap && mf ? umap_init(&fm, nloc) : GSP_ENOMEM;
  size_t n = 0;
  for (size_t p = 0; rv == GSP_OK && p < m->n; p++) n = merge_proc(m, p, &fm, mf, n);
  if (rv == GSP_OK) rv = finish_funcs(m, mf, n, nloc);
  umap_free(&fm);
  gsp_free(mf);
  return rv;
}

/* pid of "cpu.<pid>.raw", or 0 when name is not one. */
static long raw_pid(const char *name, const char *kind) {
  size_t k = strlen(kind), n = strlen(name);
  if (strncmp(name, kind, k) != 0 || n <= k + 4 || strcmp(name + n - 4, ".raw") != 0) return 0;
  long pid = 0;
  for (const char *p = name + k; p < name + n - 4; p++) {
    if (*p < '0' || *p > '9' || pid > 100000000) return -1;
    pid = pid * 10 + (*p - '0');
  }
  return pid > 0 ? pid : -1;
}

static int by_samples(const void *a, const void *b) {
  const gsp_prof_process *x = a, *y = b;
  if (x->samples != y->samples) return x->samples < y->samples ? 1 : -1;
  return x->pid < y->pid ? -1 : x->pid > y->pid;
}

/* Sorts procs (and reps with them) by samples. */
static int sort_procs(gsp_prof_multi *m) {
  gsp_prof_report **by_pid = gsp_calloc(m->n + 1, sizeof(gsp_prof_report *));
  long *pids = gsp_calloc(m->n + 1, sizeof *pids);
  int rv = by_pid && pids ? GSP_OK : GSP_ENOMEM;
  for (size_t i = 0; rv == GSP_OK && i < m->n; i++) {
    by_pid[i] = m->reps[i];
    pids[i] = m->procs[i].pid;
  }
  if (rv == GSP_OK && m->n > 1) qsort(m->procs, m->n, sizeof *m->procs, by_samples);
  for (size_t i = 0; rv == GSP_OK && i < m->n; i++)
    for (size_t j = 0; j < m->n; j++)
      if (pids[j] == m->procs[i].pid) m->reps[i] = by_pid[j];
  gsp_free(by_pid);
  gsp_free(pids);
  return rv;
}

static int load_dir(gsp_prof_multi *m, const char *dir) {
  DIR *d = opendir(dir);
  if (!d) return GSP_ENOENT;
  struct dirent *e;
  int rv = GSP_OK;
  size_t dlen = strlen(dir);
  while (rv == GSP_OK && (e = readdir(d)) != NULL) {
    long pid = raw_pid(e->d_name, "cpu.");
    if (pid == 0) continue;
    size_t n = dlen + strlen(e->d_name) + 2;
    char *path = gsp_malloc(n);
    if (!path) {
      rv = GSP_ENOMEM;
      break;
    }
    snprintf(path, n, "%s/%s", dir, e->d_name);
    if (pid < 0)
      rv = gsp__multi_problem(m, path, "not named cpu.<pid>.raw: skipped");
    else
      rv = load_proc(m, path, pid);
    gsp_free(path);
  }
  closedir(d);
  return rv;
}

int gsp_prof_multi_load(const char *dir, double bottleneck_pct, gsp_prof_multi **out) {
  if (!dir || !out) return GSP_EINVAL;
  gsp_prof_multi *m = gsp_calloc(1, sizeof *m);
  if (!m) return GSP_ENOMEM;
  m->bottleneck_pct = bottleneck_pct > 0 ? bottleneck_pct : 5.0;
  int rv = gsp__symtab_create(NULL, 0, &m->pool);
  if (rv == GSP_OK) rv = load_dir(m, dir);
  if (rv == GSP_OK) rv = sort_procs(m);
  if (rv == GSP_OK) rv = gsp__multi_load_exits(m, dir);
  if (rv == GSP_OK) rv = merge_funcs(m);
  if (rv != GSP_OK) {
    gsp_prof_multi_destroy(m);
    return rv;
  }
  m->hz = m->n ? m->procs[0].hz : 0;
  *out = m;
  return GSP_OK;
}

void gsp_prof_multi_destroy(gsp_prof_multi *m) {
  if (!m) return;
  for (size_t i = 0; i < m->n; i++) gsp_prof_report_destroy(m->reps[i]);
  for (size_t i = 0; i < m->nproblems; i++) gsp_free(m->problems[i]);
  gsp_free(m->problems);
  gsp_free(m->procs);
  gsp_free(m->sig);
  gsp_free(m->kernel);
  gsp_free(m->reps);
  gsp_free(m->fmap);
  gsp_free(m->fmap_off);
  gsp_free(m->funcs);
  gsp_free(m->fprocs);
  gsp_free(m->cache);
  gsp__symtab_destroy(m->pool);
  gsp_free(m);
}
