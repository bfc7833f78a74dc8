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
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "prof_int.h"

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

static int build_locs(gsp_prof_report *r, umap *lm, umap *fm) {
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
        gsp__symtab_lookup(r->sym, pc, sym);
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

int gsp__report_build(gsp_prof_report *r) {
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
  build_locs(r, &lm, &fm);
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
