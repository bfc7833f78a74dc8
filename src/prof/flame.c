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
 * click of the root. Frames narrower than 0.1% are left out.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "prof_int.h"

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

static int build_tree(const gsp_prof_report *r, ftree *t) {
  t->cap = 1024;
  t->v = gsp_calloc(t->cap, sizeof *t->v);
  if (!t->v) return GSP_ENOMEM;
  t->n = 1;
  t->v[0] = (fnode){UINT32_MAX, 0, 0, r->stacks.total};
  const gsp__stacks *st = &r->stacks;
  for (size_t i = 0; i < st->cap; i++) {
    if (st->hash[i] == 0) continue;
    const gsp__stack *s = &st->v[i];
    uint32_t node = 0;
    for (uint32_t d = 0; d < s->depth; d++) {
      node = child_of(t, node, gsp__report_func_at(r, s, d));
      if (node == 0) return GSP_ENOMEM;
      t->v[node].count += s->count;
    }
  }
  return GSP_OK;
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
  const gsp_prof_report *r;
  ftree *t;
  FILE *f;
  unsigned max_depth;
  double min_count;
} flame_ctx;

static void emit_frame(flame_ctx *c, uint32_t node, uint64_t x, unsigned depth) {
  const fnode *n = &c->t->v[node];
  const char *name = node == 0 ? "all" : c->r->funcs[n->func].name;
  double pct = 100.0 * (double)n->count / (double)c->t->v[0].count;
  double k = FLAME_W / (double)c->t->v[0].count;
  unsigned hue = 0;
  for (const char *p = name; *p; p++) hue = hue * 31u + (unsigned char)*p;
  fprintf(c->f, "<g class=\"f\" data-x=\"%" PRIu64 "\" data-w=\"%" PRIu64 "\" data-d=\"%u\">", x,
          n->count, depth);
  fputs("<title>", c->f);
  xml_text(c->f, name);
  fprintf(c->f, " (%" PRIu64 " samples, %.2f%%)</title>", n->count, pct);
  fprintf(c->f,
          "<rect x=\"%.2f\" y=\"%u\" width=\"%.2f\" height=\"%u\" fill=\"hsl(%u,80%%,%u%%)\"/>"
          "<text x=\"%.2f\" y=\"%u\">",
          (double)x * k, (c->max_depth - depth) * ROW_H, (double)n->count * k, ROW_H - 1,
          10 + hue % 40, 55 + (hue >> 8) % 15, (double)x * k + 3,
          (c->max_depth - depth) * ROW_H + ROW_H - 4);
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

static const char *k_flame_script =
    "<style>text{font:11px monospace;pointer-events:none}g.f{cursor:pointer}"
    "g.f:hover rect{stroke:#000;stroke-width:.5}</style>\n"
    "<script><![CDATA[\n"
    "var W=%.0f;var fr=document.querySelectorAll('g.f');\n"
    "function zoom(g){var x0=+g.dataset.x,w0=+g.dataset.w,d0=+g.dataset.d,k=W/w0;\n"
    " fr.forEach(function(e){var x=+e.dataset.x,w=+e.dataset.w,d=+e.dataset.d;\n"
    "  var on=(d<d0)?(x<=x0&&x+w>=x0+w0):(x>=x0&&x+w<=x0+w0);\n"
    "  e.style.display=on?'':'none';if(!on)return;\n"
    "  var r=e.querySelector('rect'),t=e.querySelector('text');\n"
    "  var nx=d<d0?0:(x-x0)*k,nw=d<d0?W:w*k;r.setAttribute('x',nx);r.setAttribute('width',nw);\n"
    "  t.setAttribute('x',nx+3);t.textContent=nw<30?'':t.textContent;});}\n"
    "fr.forEach(function(e){e.addEventListener('click',function(){zoom(e);});});\n"
    "]]></script>\n";

int gsp_prof_report_write_flame(const gsp_prof_report *r, const char *path, const char *title) {
  if (!r || !path) return GSP_EINVAL;
  ftree t = {0};
  int rv = build_tree(r, &t);
  FILE *f = rv == GSP_OK ? fopen(path, "w") : NULL;
  if (rv == GSP_OK && !f) rv = GSP_EIO;
  if (rv == GSP_OK) {
    flame_ctx c = {r, &t, f, tree_depth(&t, 0) + 1, (double)r->stacks.total / 1000.0};
    fprintf(f,
            "<?xml version=\"1.0\"?>\n<svg xmlns=\"http://www.w3.org/2000/svg\" "
            "width=\"%.0f\" height=\"%u\" viewBox=\"0 0 %.0f %u\">\n",
            FLAME_W, (c.max_depth + 2) * ROW_H, FLAME_W, (c.max_depth + 2) * ROW_H);
    fprintf(f, k_flame_script, FLAME_W);
    fprintf(f, "<text x=\"4\" y=\"%u\">", (c.max_depth + 1) * ROW_H + 12);
    xml_text(f, title ? title : "CPU flame graph");
    fprintf(f, " (click a frame to zoom, the bottom frame to reset)</text>\n");
    if (r->stacks.total > 0) emit_frame(&c, 0, 0, 0);
    fputs("</svg>\n", f);
    int bad = ferror(f);
    if (fclose(f) != 0 || bad) rv = GSP_EIO;
  }
  gsp_free(t.v);
  return rv;
}
