/*
 * graph.c - the file dependency graph: edges, strongly connected
 * components, their topological order, fan-in/fan-out, impact.
 *
 * Edges: file A -> file B when an import of A resolved to B; distinct and
 * sorted per file. Stored twice in CSR form (offsets + targets): forward
 * (deps) and reverse (rdeps), built by counting, so two arrays each.
 *
 * Components: Tarjan's algorithm without recursion (an explicit stack of
 * (node, next edge) frames), started from files in index order and
 * following edges in sorted order, so the numbering is deterministic.
 * Tarjan emits a component only after every component it reaches, so
 * emission order is dependencies-first; components are numbered in the
 * reverse of that, which is a topological order of the condensation (a
 * component's dependencies have higher numbers).
 */
#include <stdlib.h>
#include <string.h>

#include "cg_int.h"

static int cmp_u32(const void *a, const void *b) {
  uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
  return x < y ? -1 : x > y;
}

static int forward_edges(gsp_cg *cg) {
  size_t n = cg->nfiles, total = 0;
  cg->dep_off = gsp_calloc(n + 1, sizeof *cg->dep_off);
  if (cg->dep_off == NULL) return GSP_ENOMEM;
  for (size_t f = 0; f < n; f++)
    total += cg->files[f].res ? gsp_cg_result_nimports(cg->files[f].res) : 0;
  cg->dep = gsp_malloc((total + 1) * sizeof *cg->dep);
  if (cg->dep == NULL) return GSP_ENOMEM;
  uint32_t w = 0;
  for (size_t f = 0; f < n; f++) {
    cg->dep_off[f] = w;
    size_t ni = cg->files[f].res ? gsp_cg_result_nimports(cg->files[f].res) : 0;
    uint32_t start = w;
    for (size_t i = 0; i < ni; i++)
      if (cg->files[f].imp_target[i] >= 0) cg->dep[w++] = (uint32_t)cg->files[f].imp_target[i];
    qsort(cg->dep + start, w - start, sizeof *cg->dep, cmp_u32);
    uint32_t u = start;
    for (uint32_t k = start; k < w; k++)
      if (u == start || cg->dep[u - 1] != cg->dep[k]) cg->dep[u++] = cg->dep[k];
    w = u;
  }
  cg->dep_off[n] = w;
  cg->st.file_edges = w;
  return GSP_OK;
}

static int reverse_edges(gsp_cg *cg) {
  size_t n = cg->nfiles;
  uint32_t m = cg->dep_off[n];
  cg->rdep_off = gsp_calloc(n + 1, sizeof *cg->rdep_off);
  cg->rdep = gsp_malloc((m + 1) * sizeof *cg->rdep);
  if (cg->rdep_off == NULL || cg->rdep == NULL) return GSP_ENOMEM;
  for (uint32_t e = 0; e < m; e++) cg->rdep_off[cg->dep[e] + 1]++;
  for (size_t f = 0; f < n; f++) cg->rdep_off[f + 1] += cg->rdep_off[f];
  uint32_t *fill = gsp_malloc((n + 1) * sizeof *fill);
  if (fill == NULL) return GSP_ENOMEM;
  memcpy(fill, cg->rdep_off, (n + 1) * sizeof *fill);
  for (size_t f = 0; f < n; f++) /* sources ascending, so each list comes out sorted */
    for (uint32_t e = cg->dep_off[f]; e < cg->dep_off[f + 1]; e++)
      cg->rdep[fill[cg->dep[e]]++] = (uint32_t)f;
  gsp_free(fill);
  return GSP_OK;
}

int gsp__cg_build_edges(gsp_cg *cg) {
  int rv = forward_edges(cg);
  return rv == GSP_OK ? reverse_edges(cg) : rv;
}

/* ---- Tarjan ---- */

typedef struct tarjan {
  uint32_t *index, *low, *stack, *frame_node, *frame_edge;
  uint8_t *on_stack;
  uint32_t next_index, sp, fp, emitted;
} tarjan;

static void emit_component(gsp_cg *cg, tarjan *t, uint32_t root) {
  uint32_t c = t->emitted++, v;
  do {
    v = t->stack[--t->sp];
    t->on_stack[v] = 0;
    cg->comp_of[v] = c; /* emission number; renumbered later */
  } while (v != root);
}

static void strongconnect(gsp_cg *cg, tarjan *t, uint32_t start) {
  t->fp = 0;
  t->frame_node[t->fp] = start, t->frame_edge[t->fp++] = cg->dep_off[start];
  t->index[start] = t->low[start] = ++t->next_index;
  t->stack[t->sp++] = start, t->on_stack[start] = 1;
  while (t->fp) {
    uint32_t v = t->frame_node[t->fp - 1], e = t->frame_edge[t->fp - 1];
    if (e < cg->dep_off[v + 1]) {
      t->frame_edge[t->fp - 1]++;
      uint32_t w = cg->dep[e];
      if (t->index[w] == 0) {
        t->index[w] = t->low[w] = ++t->next_index;
        t->stack[t->sp++] = w, t->on_stack[w] = 1;
        t->frame_node[t->fp] = w, t->frame_edge[t->fp++] = cg->dep_off[w];
      } else if (t->on_stack[w] && t->index[w] < t->low[v]) {
        t->low[v] = t->index[w];
      }
      continue;
    }
    t->fp--;
    if (t->low[v] == t->index[v]) emit_component(cg, t, v);
    if (t->fp) {
      uint32_t u = t->frame_node[t->fp - 1];
      if (t->low[v] < t->low[u]) t->low[u] = t->low[v];
    }
  }
}

static int group_components(gsp_cg *cg) {
  size_t n = cg->nfiles;
  cg->comp_off = gsp_calloc(cg->ncomp + 1, sizeof *cg->comp_off);
  cg->comp_files = gsp_malloc((n + 1) * sizeof *cg->comp_files);
  cg->comp_cycle = gsp_calloc(cg->ncomp + 1, 1);
  uint32_t *fill = gsp_malloc((cg->ncomp + 1) * sizeof *fill);
  int rv = cg->comp_off && cg->comp_files && cg->comp_cycle && fill ? GSP_OK : GSP_ENOMEM;
  if (rv != GSP_OK) goto out;
  for (size_t f = 0; f < n; f++) cg->comp_of[f] = (uint32_t)cg->ncomp - 1 - cg->comp_of[f];
  for (size_t f = 0; f < n; f++) cg->comp_off[cg->comp_of[f] + 1]++;
  for (size_t c = 0; c < cg->ncomp; c++) cg->comp_off[c + 1] += cg->comp_off[c];
  memcpy(fill, cg->comp_off, (cg->ncomp + 1) * sizeof *fill);
  for (size_t f = 0; f < n; f++) cg->comp_files[fill[cg->comp_of[f]]++] = (uint32_t)f;
  for (size_t c = 0; c < cg->ncomp; c++) {
    uint32_t size = cg->comp_off[c + 1] - cg->comp_off[c], f0 = cg->comp_files[cg->comp_off[c]];
    bool self = false;
    for (uint32_t e = cg->dep_off[f0]; size == 1 && e < cg->dep_off[f0 + 1]; e++)
      self |= cg->dep[e] == f0;
    cg->comp_cycle[c] = size > 1 || self;
    cg->st.cycles += cg->comp_cycle[c];
    if (cg->comp_cycle[c]) cg->st.files_in_cycles += size;
  }
out:
  gsp_free(fill);
  return rv;
}

int gsp__cg_components(gsp_cg *cg) {
  size_t n = cg->nfiles;
  tarjan t = {0};
  cg->comp_of = gsp_malloc((n + 1) * sizeof *cg->comp_of);
  t.index = gsp_calloc(n + 1, sizeof *t.index);
  t.low = gsp_malloc((n + 1) * sizeof *t.low);
  t.stack = gsp_malloc((n + 1) * sizeof *t.stack);
  t.frame_node = gsp_malloc((n + 1) * sizeof *t.frame_node);
  t.frame_edge = gsp_malloc((n + 1) * sizeof *t.frame_edge);
  t.on_stack = gsp_calloc(n + 1, 1);
  int rv = cg->comp_of && t.index && t.low && t.stack && t.frame_node && t.frame_edge && t.on_stack
               ? GSP_OK
               : GSP_ENOMEM;
  for (size_t f = 0; rv == GSP_OK && f < n; f++)
    if (t.index[f] == 0) strongconnect(cg, &t, (uint32_t)f);
  cg->ncomp = t.emitted;
  if (rv == GSP_OK) rv = group_components(cg);
  gsp_free(t.index), gsp_free(t.low), gsp_free(t.stack);
  gsp_free(t.frame_node), gsp_free(t.frame_edge), gsp_free(t.on_stack);
  return rv;
}

/* ---- accessors ---- */

const uint32_t *gsp_cg_deps(const gsp_cg *cg, size_t f, size_t *n) {
  *n = cg->dep_off[f + 1] - cg->dep_off[f];
  return cg->dep + cg->dep_off[f];
}

const uint32_t *gsp_cg_rdeps(const gsp_cg *cg, size_t f, size_t *n) {
  *n = cg->rdep_off[f + 1] - cg->rdep_off[f];
  return cg->rdep + cg->rdep_off[f];
}

size_t gsp_cg_ncomponents(const gsp_cg *cg) { return cg->ncomp; }
size_t gsp_cg_component_of(const gsp_cg *cg, size_t f) { return cg->comp_of[f]; }
const uint32_t *gsp_cg_component(const gsp_cg *cg, size_t c, size_t *n) {
  *n = cg->comp_off[c + 1] - cg->comp_off[c];
  return cg->comp_files + cg->comp_off[c];
}
bool gsp_cg_component_is_cycle(const gsp_cg *cg, size_t c) { return cg->comp_cycle[c] != 0; }

size_t gsp_cg_top_depended(const gsp_cg *cg, size_t k, uint32_t *out) {
  size_t got = 0;
  for (size_t f = 0; f < cg->nfiles; f++) { /* insertion into a sorted top-k */
    uint32_t fin = cg->rdep_off[f + 1] - cg->rdep_off[f];
    if (fin == 0) continue;
    size_t pos = got;
    while (pos > 0 && cg->rdep_off[out[pos - 1] + 1] - cg->rdep_off[out[pos - 1]] < fin) pos--;
    if (pos >= k) continue;
    size_t last = got < k ? got : k - 1;
    memmove(out + pos + 1, out + pos, (last - pos) * sizeof *out);
    out[pos] = (uint32_t)f;
    if (got < k) got++;
  }
  return got;
}

int gsp_cg_impact(const gsp_cg *cg, size_t f, uint32_t **out, size_t *n) {
  if (cg == NULL || out == NULL || n == NULL || f >= cg->nfiles) return GSP_EINVAL;
  uint8_t *seen = gsp_calloc(cg->nfiles, 1);
  uint32_t *q = gsp_malloc((cg->nfiles + 1) * sizeof *q);
  if (seen == NULL || q == NULL) {
    gsp_free(seen), gsp_free(q);
    return GSP_ENOMEM;
  }
  size_t head = 0, tail = 0;
  seen[f] = 1, q[tail++] = (uint32_t)f;
  while (head < tail) {
    uint32_t v = q[head++];
    for (uint32_t e = cg->rdep_off[v]; e < cg->rdep_off[v + 1]; e++)
      if (!seen[cg->rdep[e]]) seen[cg->rdep[e]] = 1, q[tail++] = cg->rdep[e];
  }
  size_t m = 0;
  for (size_t i = 0; i < cg->nfiles; i++)
    if (seen[i] && i != f) q[m++] = (uint32_t)i;
  gsp_free(seen);
  *out = q, *n = m;
  return GSP_OK;
}
