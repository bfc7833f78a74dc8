/*
 * parser.c - gsp_cg_parser: a tree-sitter parser and node-kind table per
 * language, and the builder that turns a syntax tree into a result.
 *
 * The grammars (tree-sitter-c, -python, -javascript, -typescript and -tsx
 * from npm, compiled into the library) are checked against the runtime
 * once per parser: a grammar whose ABI version lies outside
 * [TREE_SITTER_MIN_COMPATIBLE_LANGUAGE_VERSION, TREE_SITTER_LANGUAGE_VERSION]
 * is refused with GSP_ENOTSUP instead of being loaded into a runtime that
 * would misread it.
 *
 * A parse: for C, blank the annotation macros first (c_macros.c; a copy
 * only when something is blanked); parse the bytes, walk the tree once
 * with the language's extractor into the builder, delete the tree, pack
 * the builder into the result. The tree is freed before the result is
 * returned, so at most one tree per parser is alive. A package.json or a
 * tsconfig.json / jsconfig.json takes no grammar: its entry points and
 * path mappings are read with jansson (extract_pkg.c).
 * Tree-sitter's own memory comes from its allocator (the C library's), not
 * from the gsperf hooks.
 */
#include <string.h>
#include <tree_sitter/api.h>

#include "cg_int.h"
#include "extract.h"

const TSLanguage *tree_sitter_c(void);
const TSLanguage *tree_sitter_python(void);
const TSLanguage *tree_sitter_javascript(void);
const TSLanguage *tree_sitter_typescript(void);
const TSLanguage *tree_sitter_tsx(void);

#define NLANG (CG_LANG_MAX + 1)

struct gsp_cg_parser {
  TSParser *ts[NLANG];
  cg_lang_tab *tab[NLANG];
  cg_builder b;
  cg_macro_set macros; /* scratch of the C macro pre-pass */
};

static const struct {
  const char *ext;
  gsp_cg_lang lang;
} extensions[] = {
    {".c", GSP_CG_LANG_C},        {".h", GSP_CG_LANG_C},    {".py", GSP_CG_LANG_PYTHON},
    {".pyi", GSP_CG_LANG_PYTHON}, {".js", GSP_CG_LANG_JS},  {".mjs", GSP_CG_LANG_JS},
    {".cjs", GSP_CG_LANG_JS},     {".jsx", GSP_CG_LANG_JS}, {".ts", GSP_CG_LANG_TS},
    {".mts", GSP_CG_LANG_TS},     {".cts", GSP_CG_LANG_TS}, {".tsx", GSP_CG_LANG_TSX},
};

/* package.json, and the TypeScript / JavaScript project files
 * (tsconfig.json, jsconfig.json, tsconfig.<x>.json, tsconfig-<x>.json). */
static bool is_config_json(const char *path) {
  const char *base = strrchr(path, '/');
  base = base ? base + 1 : path;
  if (strcmp(base, "package.json") == 0) return true;
  size_t n = strlen(base);
  if (n < 13 || strcmp(base + n - 5, ".json") != 0) return false;
  if (strncmp(base, "tsconfig", 8) != 0 && strncmp(base, "jsconfig", 8) != 0) return false;
  return base[8] == '.' || base[8] == '-';
}

gsp_cg_lang gsp_cg_lang_of_path(const char *path) {
  const char *dot = path ? strrchr(path, '.') : NULL;
  if (dot == NULL || strchr(dot, '/') != NULL) return GSP_CG_LANG_NONE;
  if (is_config_json(path)) return GSP_CG_LANG_JSON;
  for (size_t i = 0; i < sizeof extensions / sizeof *extensions; i++)
    if (strcmp(dot, extensions[i].ext) == 0) return extensions[i].lang;
  return GSP_CG_LANG_NONE;
}

const char *gsp_cg_lang_name(gsp_cg_lang lang) {
  static const char *const names[] = {"none",       "c",   "python", "javascript",
                                      "typescript", "tsx", "json"};
  return (unsigned)lang < sizeof names / sizeof *names ? names[lang] : "none";
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
  switch (lang) {
    case GSP_CG_LANG_C:
      return tree_sitter_c();
    case GSP_CG_LANG_PYTHON:
      return tree_sitter_python();
    case GSP_CG_LANG_JS:
      return tree_sitter_javascript();
    case GSP_CG_LANG_TS:
      return tree_sitter_typescript();
    default:
      return tree_sitter_tsx();
  }
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
  int rv = GSP_OK;
  for (int l = GSP_CG_LANG_C; l <= GSP_CG_LANG_TSX && rv == GSP_OK; l++)
    rv = add_lang(p, (gsp_cg_lang)l);
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
  gsp__cg_macro_set_free(&p->macros);
  gsp_free(p);
}

static uint32_t line_count(TSNode root) {
  TSPoint e = ts_node_end_point(root);
  return e.row + (e.column > 0 ? 1 : 0);
}

static uint32_t count_lines(const char *src, size_t len) {
  uint32_t n = 0;
  for (const char *q = src; (q = memchr(q, '\n', len - (size_t)(q - src))) != NULL; q++) n++;
  return n + (len > 0 && src[len - 1] != '\n');
}

static int parse_package_json(gsp_cg_parser *p, const char *src, size_t len, gsp_cg_result **out) {
  gsp__cg_builder_reset(&p->b);
  bool ok = gsp__cg_extract_pkg(src, len, &p->b);
  return gsp__cg_builder_finish(&p->b, GSP_CG_LANG_JSON, !ok, count_lines(src, len), out);
}

int gsp_cg_parse(gsp_cg_parser *p, gsp_cg_lang lang, const char *src, size_t len,
                 gsp_cg_result **out) {
  return gsp__cg_parse_with(p, lang, src, len, NULL, out);
}

/* The C pre-pass with extra names (from the includes) for this file only. */
static int blank_c(gsp_cg_parser *p, const char *src, size_t len, const cg_macro_tab *extra,
                   char **blanked) {
  p->macros.extra = extra;
  int rv = gsp__cg_c_blank_macros(src, len, &p->macros, blanked);
  p->macros.extra = NULL;
  return rv;
}

int gsp__cg_parse_with(gsp_cg_parser *p, gsp_cg_lang lang, const char *src, size_t len,
                       const cg_macro_tab *extra, gsp_cg_result **out) {
  if (out) *out = NULL;
  if (p == NULL || out == NULL || (src == NULL && len) || len > UINT32_MAX ||
      lang < GSP_CG_LANG_C || lang > CG_LANG_MAX)
    return GSP_EINVAL;
  if (src == NULL) src = "";
  if (lang == GSP_CG_LANG_JSON) return parse_package_json(p, src, len, out);
  /* C: annotation macros blanked first (same length, so lines and byte
   * offsets stay); the extractor reads names from the blanked copy. */
  char *blanked = NULL;
  if (lang == GSP_CG_LANG_C && blank_c(p, src, len, extra, &blanked) != GSP_OK) return GSP_ENOMEM;
  const char *text = blanked ? blanked : src;
  TSTree *t = ts_parser_parse_string(p->ts[lang], NULL, text, (uint32_t)len);
  if (t == NULL) {
    gsp_free(blanked);
    return GSP_ENOMEM;
  }
  gsp__cg_builder_reset(&p->b);
  if (lang == GSP_CG_LANG_C)
    gsp__cg_extract_c(p->tab[lang], t, text, &p->b);
  else if (lang == GSP_CG_LANG_PYTHON)
    gsp__cg_extract_py(p->tab[lang], t, text, &p->b);
  else
    gsp__cg_extract_js(p->tab[lang], t, text, &p->b);
  TSNode root = ts_tree_root_node(t);
  bool err = ts_node_has_error(root);
  uint32_t lines = line_count(root);
  ts_tree_delete(t);
  gsp_free(blanked);
  return gsp__cg_builder_finish(&p->b, lang, err, lines, out);
}
