/*
 * parser.c - gsp_cg_parser: a tree-sitter parser and node-kind table per
 * language, and the builder that turns a syntax tree into a result.
 *
 * The grammars (tree-sitter-c, tree-sitter-python from npm, compiled into
 * the library) are checked against the runtime once per parser: a grammar
 * whose ABI version lies outside [TREE_SITTER_MIN_COMPATIBLE_LANGUAGE_VERSION,
 * TREE_SITTER_LANGUAGE_VERSION] is refused with GSP_ENOTSUP instead of
 * being loaded into a runtime that would misread it.
 *
 * A parse: parse the bytes, walk the tree once with the language's
 * extractor into the builder, delete the tree, pack the builder into the
 * result. The tree is freed before the result is returned, so at most one
 * tree per parser is alive. Tree-sitter's own memory comes from its
 * allocator (the C library's), not from the gsperf hooks.
 */
#include <string.h>
#include <tree_sitter/api.h>

#include "cg_int.h"
#include "extract.h"

const TSLanguage *tree_sitter_c(void);
const TSLanguage *tree_sitter_python(void);

#define NLANG 3

struct gsp_cg_parser {
  TSParser *ts[NLANG];
  cg_lang_tab *tab[NLANG];
  cg_builder b;
};

gsp_cg_lang gsp_cg_lang_of_path(const char *path) {
  const char *dot = path ? strrchr(path, '.') : NULL;
  if (dot == NULL || strchr(dot, '/') != NULL) return GSP_CG_LANG_NONE;
  if (strcmp(dot, ".c") == 0 || strcmp(dot, ".h") == 0) return GSP_CG_LANG_C;
  if (strcmp(dot, ".py") == 0 || strcmp(dot, ".pyi") == 0) return GSP_CG_LANG_PYTHON;
  return GSP_CG_LANG_NONE;
}

const char *gsp_cg_lang_name(gsp_cg_lang lang) {
  return lang == GSP_CG_LANG_C ? "c" : lang == GSP_CG_LANG_PYTHON ? "python" : "none";
}

const char *gsp_cg_def_kind_name(gsp_cg_def_kind k) {
  static const char *const names[] = {"?",       "function", "method", "struct",
                                      "typedef", "global",   "decl",   "macro"};
  return (unsigned)k < sizeof names / sizeof *names ? names[k] : "?";
}

const char *gsp_cg_ref_kind_name(gsp_cg_ref_kind k) {
  return k == GSP_CG_REF_CALL ? "call" : k == GSP_CG_REF_TYPE ? "use" : "?";
}

const char *gsp_cg_import_kind_name(gsp_cg_import_kind k) {
  static const char *const names[] = {"?", "include", "include_system", "import", "from"};
  return (unsigned)k < sizeof names / sizeof *names ? names[k] : "?";
}

static const TSLanguage *grammar(gsp_cg_lang lang) {
  return lang == GSP_CG_LANG_C ? tree_sitter_c() : tree_sitter_python();
}

static int add_lang(gsp_cg_parser *p, gsp_cg_lang lang) {
  const TSLanguage *l = grammar(lang);
  uint32_t v = ts_language_version(l);
  if (v < TREE_SITTER_MIN_COMPATIBLE_LANGUAGE_VERSION || v > TREE_SITTER_LANGUAGE_VERSION)
    return GSP_ENOTSUP;
  p->ts[lang] = ts_parser_new();
  if (p->ts[lang] == NULL) return GSP_ENOMEM;
  if (!ts_parser_set_language(p->ts[lang], l)) return GSP_ENOTSUP;
  return gsp__cg_tab_create(lang, l, &p->tab[lang]);
}

int gsp_cg_parser_create(gsp_cg_parser **out) {
  if (out == NULL) return GSP_EINVAL;
  *out = NULL;
  gsp_cg_parser *p = gsp_calloc(1, sizeof *p);
  if (p == NULL) return GSP_ENOMEM;
  gsp__cg_builder_init(&p->b);
  int rv = add_lang(p, GSP_CG_LANG_C);
  if (rv == GSP_OK) rv = add_lang(p, GSP_CG_LANG_PYTHON);
  if (rv != GSP_OK) {
    gsp_cg_parser_destroy(p);
    return rv;
  }
  *out = p;
  return GSP_OK;
}

void gsp_cg_parser_destroy(gsp_cg_parser *p) {
  if (p == NULL) return;
  for (int i = 0; i < NLANG; i++) {
    if (p->ts[i]) ts_parser_delete(p->ts[i]);
    gsp__cg_tab_destroy(p->tab[i]);
  }
  gsp__cg_builder_free(&p->b);
  gsp_free(p);
}

static uint32_t line_count(TSNode root) {
  TSPoint e = ts_node_end_point(root);
  return e.row + (e.column > 0 ? 1 : 0);
}

int gsp_cg_parse(gsp_cg_parser *p, gsp_cg_lang lang, const char *src, size_t len,
                 gsp_cg_result **out) {
  if (out) *out = NULL;
  if (p == NULL || out == NULL || (src == NULL && len) || len > UINT32_MAX ||
      (lang != GSP_CG_LANG_C && lang != GSP_CG_LANG_PYTHON))
    return GSP_EINVAL;
  TSTree *t = ts_parser_parse_string(p->ts[lang], NULL, src ? src : "", (uint32_t)len);
  if (t == NULL) return GSP_ENOMEM;
  gsp__cg_builder_reset(&p->b);
  if (lang == GSP_CG_LANG_C)
    gsp__cg_extract_c(p->tab[lang], t, src, &p->b);
  else
    gsp__cg_extract_py(p->tab[lang], t, src, &p->b);
  TSNode root = ts_tree_root_node(t);
  bool err = ts_node_has_error(root);
  uint32_t lines = line_count(root);
  ts_tree_delete(t);
  return gsp__cg_builder_finish(&p->b, lang, err, lines, out);
}
