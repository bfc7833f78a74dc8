/*
 * flame.c - collapsed stacks (FlameGraph's format: "root;...;leaf COUNT"
 * per line) and a self-contained interactive SVG flame graph.
 *
 * The SVG is built from a call tree: every stack is inserted root first
 * (children of a node in a singly linked list, found by function index),
 * each node counting the samples that pass through it. Children are laid
 * out left to right in name order, widths proportional to samples, one
 * row per depth, root at the bottom. Each frame is a <g> carrying its
 * x/width in samples (data attributes) with a <title> for hover; a small
 * embedded script zooms on click (the clicked frame fills the width, its
 * ancestors stay, others outside its span are hidden) and resets on a
 * click of the root; a search paints the frames whose name matches a
 * regular expression and shows their share (see k_flame_script). Frames
 * narrower than 0.1% are left out. The page needs nothing from outside.
 *
 * A multi-process report (multi_int.h) is drawn the same way with one
 * more level: under the root, one frame "comm [pid]" per process (tree
 * function index nfuncs + p), its stacks above it; its collapsed stacks
 * start with that frame too.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "multi_int.h"

int gsp_prof_report_write_collapsed(const gsp_prof_report *r, const char *path) {
  if (!r || !path) return GSP_EINVAL;
  FILE *f = fopen(path, "w");
  if (!f) return GSP_EIO;
  const gsp__stacks *t = &r->stacks;
  for (size_t i = 0; i < t->cap; i++) {
    if (t->hash[i] == 0) continue;
    const gsp__stack *s = &t->v[i];
    for (uint32_t d = 0; d < s->depth; d++)
      fprintf(f, "%s%s", d ? ";" : "", r->funcs[gsp__report_func_at(r, s, d)].name);
    fprintf(f, " %" PRIu64 "\n", s->count);
  }
  int bad = ferror(f);
  return (fclose(f) != 0 || bad) ? GSP_EIO : GSP_OK;
}

/* "comm [pid]" with the characters that split collapsed lines (';' and
 * newlines) replaced. */
static void proc_label(const gsp_prof_process *p, char *out, size_t cap) {
  snprintf(out, cap, "%s [%ld]", p->comm, p->pid);
  for (char *c = out; *c; c++)
    if (*c == ';' || *c == '\n' || *c == '\r') *c = '_';
}

int gsp_prof_multi_write_collapsed(const gsp_prof_multi *m, const char *path) {
  if (!m || !path) return GSP_EINVAL;
  FILE *f = fopen(path, "w");
  if (!f) return GSP_EIO;
  char root[128];
  for (size_t p = 0; p < m->n; p++) {
    proc_label(&m->procs[p], root, sizeof root);
    const gsp__stacks *t = &m->reps[p]->stacks;
    for (size_t i = 0; i < t->cap; i++) {
      if (t->hash[i] == 0) continue;
      const gsp__stack *s = &t->v[i];
      fputs(root, f);
      for (uint32_t d = 0; d < s->depth; d++)
        fprintf(f, ";%s", m->funcs[gsp__multi_func_at(m, p, s, d)].f.name);
      fprintf(f, " %" PRIu64 "\n", s->count);
    }
  }
  int bad = ferror(f);
  return (fclose(f) != 0 || bad) ? GSP_EIO : GSP_OK;
}

typedef struct fnode {
  uint32_t func, child, next; /* child/next: node index, 0 = none */
  uint64_t count;
} fnode;

typedef struct ftree {
  fnode *v;
  size_t n, cap;
} ftree;

static uint32_t child_of(ftree *t, uint32_t parent, uint32_t func) {
  for (uint32_t c = t->v[parent].child; c; c = t->v[c].next)
    if (t->v[c].func == func) return c;
  if (t->n == t->cap) {
    size_t cap = t->cap * 2;
    fnode *v = gsp_realloc(t->v, cap * sizeof *v);
    if (!v) return 0;
    t->v = v;
    t->cap = cap;
  }
  uint32_t c = (uint32_t)t->n++;
  t->v[c] = (fnode){func, 0, t->v[parent].child, 0};
  t->v[parent].child = c;
  return c;
}

static int tree_init(ftree *t, uint64_t total) {
  t->cap = 1024;
  t->v = gsp_calloc(t->cap, sizeof *t->v);
  if (!t->v) return GSP_ENOMEM;
  t->n = 1;
  t->v[0] = (fnode){UINT32_MAX, 0, 0, total};
  return GSP_OK;
}

/* Adds stack s of report r under node `under`; fmap (or NULL) renumbers
 * r's functions. */
static int tree_add(ftree *t, uint32_t under, const gsp_prof_report *r, const uint32_t *fmap,
                    const gsp__stack *s) {
  uint32_t node = under;
  for (uint32_t d = 0; d < s->depth; d++) {
    uint32_t fn = gsp__report_func_at(r, s, d);
    node = child_of(t, node, fmap ? fmap[fn] : fn);
    if (node == 0) return GSP_ENOMEM;
    t->v[node].count += s->count;
  }
  return GSP_OK;
}

static int build_tree(const gsp_prof_report *r, ftree *t) {
  int rv = tree_init(t, r->stacks.total);
  const gsp__stacks *st = &r->stacks;
  for (size_t i = 0; rv == GSP_OK && i < st->cap; i++)
    if (st->hash[i] != 0) rv = tree_add(t, 0, r, NULL, &st->v[i]);
  return rv;
}

/* Process p's node is function nfuncs + p, under the root. */
static int build_multi_tree(const gsp_prof_multi *m, ftree *t) {
  int rv = tree_init(t, m->total);
  for (size_t p = 0; rv == GSP_OK && p < m->n; p++) {
    const gsp__stacks *st = &m->reps[p]->stacks;
    uint32_t pn = child_of(t, 0, (uint32_t)(m->nfuncs + p));
    if (pn == 0) return GSP_ENOMEM;
    t->v[pn].count = st->total;
    const uint32_t *fmap = m->fmap + m->fmap_off[p];
    for (size_t i = 0; rv == GSP_OK && i < st->cap; i++)
      if (st->hash[i] != 0) rv = tree_add(t, pn, m->reps[p], fmap, &st->v[i]);
  }
  return rv;
}

static void xml_text(FILE *f, const char *s) {
  for (; *s; s++) {
    switch (*s) {
      case '<':
        fputs("&lt;", f);
        break;
      case '>':
        fputs("&gt;", f);
        break;
      case '&':
        fputs("&amp;", f);
        break;
      case '"':
        fputs("&quot;", f);
        break;
      default:
        fputc(*s, f);
    }
  }
}

#define FLAME_W 1200.0
#define ROW_H 16

typedef struct flame_ctx {
  const char *const *names; /* per function index of the tree */
  uint32_t first_proc;      /* functions from here on are process frames */
  ftree *t;
  FILE *f;
  unsigned max_depth;
  double min_count;
} flame_ctx;

static void emit_frame(flame_ctx *c, uint32_t node, uint64_t x, unsigned depth) {
  const fnode *n = &c->t->v[node];
  const char *name = node == 0 ? "all" : c->names[n->func];
  double pct = 100.0 * (double)n->count / (double)c->t->v[0].count;
  double k = FLAME_W / (double)c->t->v[0].count;
  unsigned h = 0, hue;
  for (const char *p = name; *p; p++) h = h * 31u + (unsigned char)*p;
  hue = (node != 0 && n->func >= c->first_proc) ? 190 + h % 40 : 10 + h % 40; /* processes blue */
  fprintf(c->f, "<g class=\"f\" data-x=\"%" PRIu64 "\" data-w=\"%" PRIu64 "\" data-d=\"%u\">", x,
          n->count, depth);
  fputs("<title>", c->f);
  xml_text(c->f, name);
  fprintf(c->f, " (%" PRIu64 " samples, %.2f%%)</title>", n->count, pct);
  fprintf(c->f,
          "<rect x=\"%.2f\" y=\"%u\" width=\"%.2f\" height=\"%u\" fill=\"hsl(%u,80%%,%u%%)\"/>"
          "<text x=\"%.2f\" y=\"%u\">",
          (double)x * k, (c->max_depth - depth) * ROW_H, (double)n->count * k, ROW_H - 1, hue,
          55 + (h >> 8) % 15, (double)x * k + 3, (c->max_depth - depth) * ROW_H + ROW_H - 4);
  xml_text(c->f, name);
  fputs("</text></g>\n", c->f);
  for (uint32_t ch = n->child; ch; ch = c->t->v[ch].next) {
    if ((double)c->t->v[ch].count >= c->min_count) emit_frame(c, ch, x, depth + 1);
    x += c->t->v[ch].count;
  }
}

static unsigned tree_depth(const ftree *t, uint32_t node) {
  unsigned m = 0;
  for (uint32_t c = t->v[node].child; c; c = t->v[c].next) {
    unsigned d = tree_depth(t, c) + 1;
    if (d > m) m = d;
  }
  return m;
}

/* The page's behaviour (format string: W is the width). Frame labels are
 * fitted to their width; click zooms (the frame fills the width, its
 * ancestors stay, frames outside its span hide); "Reset zoom", a click on
 * the root or Escape resets; "Search", Ctrl+F or '/' asks for a regular
 * expression, paints the matching frames and shows the share of samples
 * under them (overlapping spans counted once); Escape clears it. */
static const char *k_flame_script =
    "<style>text{font:11px monospace;pointer-events:none}g.f{cursor:pointer}"
    "g.f:hover rect{stroke:#000;stroke-width:.5}"
    "#search,#reset{pointer-events:auto;cursor:pointer;fill:#03c}</style>\n"
    "<script><![CDATA[\n"
    "var W=%.0f;var fr=[].slice.call(document.querySelectorAll('g.f'));\n"
    "function nm(e){var t=e.querySelector('title').textContent;return t.slice(0,t.lastIndexOf(' "
    "('));}\n"
    "function fit(e,w){var t=e.querySelector('text'),n=nm(e),c=Math.floor((w-6)/6.7);\n"
    " t.textContent=c<3?'':(n.length<=c?n:n.slice(0,c-2)+'..');}\n"
    "function zoom(g){var x0=+g.dataset.x,w0=+g.dataset.w,d0=+g.dataset.d,k=W/w0;\n"
    " fr.forEach(function(e){var x=+e.dataset.x,w=+e.dataset.w,d=+e.dataset.d;\n"
    "  var on=(d<d0)?(x<=x0&&x+w>=x0+w0):(x>=x0&&x+w<=x0+w0);\n"
    "  e.style.display=on?'':'none';if(!on)return;\n"
    "  var r=e.querySelector('rect'),t=e.querySelector('text');\n"
    "  var "
    "nx=d<d0?0:(x-x0)*k,nw=d<d0?W:w*k;r.setAttribute('x',+nx.toFixed(2));r.setAttribute('width',+"
    "nw.toFixed(2));\n"
    "  t.setAttribute('x',nx+3);fit(e,nw);});}\n"
    "function search(re){var tot=+fr[0].dataset.w,sp=[],cov=0,end=-1;\n"
    " fr.forEach(function(e){var m=!!re&&re.test(nm(e));\n"
    "  e.querySelector('rect').style.fill=m?'rgb(230,0,230)':'';\n"
    "  if(m)sp.push([+e.dataset.x,+e.dataset.x + +e.dataset.w]);});\n"
    " sp.sort(function(a,b){return a[0]-b[0];});\n"
    " sp.forEach(function(s){if(s[1]<=end)return;cov+=s[1]-Math.max(s[0],end);end=s[1];});\n"
    " document.getElementById('matched').textContent=\n"
    "  re?'Matched: '+(tot?100*cov/tot:0).toFixed(2)+'%%':'';return tot?100*cov/tot:0;}\n"
    "function ask(){var q=prompt('Search (regular expression)','');if(q===null)return;\n"
    " try{search(q?new RegExp(q):null);}catch(x){alert(x);}}\n"
    "function reset(){if(fr.length)zoom(fr[0]);}\n"
    "document.getElementById('search').addEventListener('click',ask);\n"
    "document.getElementById('reset').addEventListener('click',reset);\n"
    "document.addEventListener('keydown',function(ev){\n"
    " if(((ev.ctrlKey||ev.metaKey)&&ev.key==='f')||ev.key==='/'){ev.preventDefault();ask();}\n"
    " if(ev.key==='Escape'){search(null);reset();}});\n"
    "fr.forEach(function(e){e.addEventListener('click',function(){zoom(e);});\n"
    " fit(e,+e.querySelector('rect').getAttribute('width'));});\n"
    "]]></script>\n";

/* Writes tree t (labels names[func]) as the SVG page at path. */
static int write_svg(ftree *t, const char *const *names, uint32_t first_proc, const char *path,
                     const char *title) {
  FILE *f = fopen(path, "w");
  if (!f) return GSP_EIO;
  flame_ctx c = {names, first_proc, t, f, tree_depth(t, 0) + 1, (double)t->v[0].count / 1000.0};
  unsigned h = (c.max_depth + 2) * ROW_H, ty = (c.max_depth + 1) * ROW_H + 12;
  fprintf(f,
          "<?xml version=\"1.0\"?>\n<svg xmlns=\"http://www.w3.org/2000/svg\" "
          "width=\"%.0f\" height=\"%u\" viewBox=\"0 0 %.0f %u\">\n",
          FLAME_W, h, FLAME_W, h);
  fprintf(f, "<text x=\"4\" y=\"%u\">", ty);
  xml_text(f, title ? title : "CPU flame graph");
  fprintf(f, " (click a frame to zoom)</text>\n");
  fprintf(f, "<text id=\"matched\" x=\"%.0f\" y=\"%u\"></text>", FLAME_W - 420, ty);
  fprintf(f, "<text id=\"reset\" x=\"%.0f\" y=\"%u\">Reset zoom</text>", FLAME_W - 200, ty);
  fprintf(f, "<text id=\"search\" x=\"%.0f\" y=\"%u\">Search</text>\n", FLAME_W - 60, ty);
  if (t->v[0].count > 0) emit_frame(&c, 0, 0, 0);
  fprintf(f, k_flame_script, FLAME_W);
  fputs("</svg>\n", f);
  int bad = ferror(f);
  return (fclose(f) != 0 || bad) ? GSP_EIO : GSP_OK;
}

int gsp_prof_report_write_flame(const gsp_prof_report *r, const char *path, const char *title) {
  if (!r || !path) return GSP_EINVAL;
  ftree t = {0};
  const char **names = gsp_calloc(r->nfuncs + 1, sizeof *names);
  int rv = names ? build_tree(r, &t) : GSP_ENOMEM;
  for (size_t i = 0; rv == GSP_OK && i < r->nfuncs; i++) names[i] = r->funcs[i].name;
  if (rv == GSP_OK) rv = write_svg(&t, names, UINT32_MAX, path, title);
  gsp_free(names);
  gsp_free(t.v);
  return rv;
}

/* Labels of a multi-process tree: merged functions, then "comm [pid]"
 * per process (in one block after the pointers). */
static const char **multi_names(const gsp_prof_multi *m) {
  size_t n = m->nfuncs + m->n;
  char *block = NULL;
  const char **names = gsp_malloc((n + 1) * sizeof *names + m->n * 128 + 1);
  if (!names) return NULL;
  block = (char *)(names + n + 1);
  for (size_t i = 0; i < m->nfuncs; i++) names[i] = m->funcs[i].f.name;
  for (size_t p = 0; p < m->n; p++) {
    proc_label(&m->procs[p], block + p * 128, 128);
    names[m->nfuncs + p] = block + p * 128;
  }
  return names;
}

int gsp_prof_multi_write_flame(const gsp_prof_multi *m, const char *path, const char *title) {
  if (!m || !path) return GSP_EINVAL;
  ftree t = {0};
  const char **names = multi_names(m);
  int rv = names ? build_multi_tree(m, &t) : GSP_ENOMEM;
  if (rv == GSP_OK) rv = write_svg(&t, names, (uint32_t)m->nfuncs, path, title);
  gsp_free(names);
  gsp_free(t.v);
  return rv;
}
