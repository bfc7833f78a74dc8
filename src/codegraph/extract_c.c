/*
 * extract_c.c - definitions, references and includes of a C file.
 *
 * Definitions: function definitions; file-scope declarations (a declarator
 * whose innermost wrapper is a function declarator is a prototype, DECL;
 * anything else a GLOBAL); typedef names; struct/union/enum tags that have
 * a body; #define names. References: calls through a plain identifier,
 * calls through a struct field (p->f(), s.f(): name f, qualifier p or s;
 * left unresolved by the binder), and type uses (a type name, or a
 * struct/union/enum tag without a body). The text is the macro pre-pass's
 * output (c_macros.c): annotation macros blanked, offsets unchanged.
 * Imports: #include "x" (quoted) and #include <x> (system); #include NAME
 * (a macro, level CG_C_VIA_MACRO, module NAME, kind system: the macro's
 * value decides at resolution); and `#define NAME <x.h>` / `"x.h"` (a
 * header-path macro, level CG_C_PATH_MACRO, module the path, name NAME:
 * what an #include NAME of this file or of a file including it names).
 * A quoted value counts only when it ends in a header extension (.h, .hh,
 * .hpp, .hxx, .inc, .def, .inl, .tcc), so version strings are not taken.
 *
 * Everything inside a function body is local: its declarations define
 * nothing, its calls and type uses are references scoped to the function.
 * The declarator of a typedef and the tag of a struct are names being
 * defined, so the type-identifier visit skips nodes in those fields.
 */
#include <string.h>

#include "extract.h"

/* Name of a declarator chain, and whether it declares a function. */
static TSNode declarator_name(const cg_walk *w, TSNode d, bool *is_func) {
  bool func = false;
  for (int guard = 0; guard < 64 && !ts_node_is_null(d); guard++) {
    switch (cg_kind(w, d)) {
      case NK_IDENTIFIER:
      case NK_TYPE_IDENTIFIER:
      case NK_FIELD_IDENTIFIER:
        if (is_func) *is_func = func;
        return d;
      case NK_FUNCTION_DECLARATOR:
        func = true;
        d = cg_field(w, d, F_DECLARATOR);
        break;
      case NK_POINTER_DECLARATOR:
      case NK_ARRAY_DECLARATOR:
        func = false;
        d = cg_field(w, d, F_DECLARATOR);
        break;
      case NK_INIT_DECLARATOR:
        d = cg_field(w, d, F_DECLARATOR);
        break;
      case NK_PARENTHESIZED_DECLARATOR:
      case NK_ATTRIBUTED_DECLARATOR:
        d = ts_node_named_child(d, 0);
        break;
      default:
        return (TSNode){0};
    }
  }
  return (TSNode){0};
}

/* Each child of n in the declarator field, defined as `kind` (or DECL/GLOBAL
 * by shape when kind is 0). */
static void define_declarators(cg_walk *w, TSNode n, gsp_cg_def_kind kind) {
  TSTreeCursor *c = &w->scratch;
  ts_tree_cursor_reset(c, n);
  if (!ts_tree_cursor_goto_first_child(c)) return;
  do {
    if (ts_tree_cursor_current_field_id(c) != w->tab->field[F_DECLARATOR]) continue;
    bool func = false;
    TSNode id = declarator_name(w, ts_tree_cursor_current_node(c), &func);
    if (ts_node_is_null(id)) continue;
    gsp_cg_def_kind k = kind ? kind : func ? GSP_CG_DEF_DECL : GSP_CG_DEF_GLOBAL;
    gsp__cg_add_def(w->b, cg_intern_node(w, id), k, cg_line(id), -1);
  } while (ts_tree_cursor_goto_next_sibling(c));
}

static void function_definition(cg_walk *w, TSNode n) {
  TSNode id = declarator_name(w, cg_field(w, n, F_DECLARATOR), NULL);
  if (ts_node_is_null(id)) return;
  int32_t d = gsp__cg_add_def(w->b, cg_intern_node(w, id), GSP_CG_DEF_FUNCTION, cg_line(id),
                              cg_scope_def(w));
  gsp__cg_push_scope(w, d, false);
}

static void tagged_type(cg_walk *w, TSNode n) {
  TSNode name = cg_field(w, n, F_NAME);
  if (ts_node_is_null(name)) return;
  uint32_t s = cg_intern_node(w, name);
  if (!ts_node_is_null(cg_field(w, n, F_BODY)))
    gsp__cg_add_def(w->b, s, GSP_CG_DEF_STRUCT, cg_line(name), -1);
  else
    gsp__cg_add_ref(w->b, s, 0, GSP_CG_REF_TYPE, cg_line(name), cg_scope_def(w));
}

static void include(cg_walk *w, TSNode n) {
  TSNode p = cg_field(w, n, F_PATH);
  if (ts_node_is_null(p)) return;
  uint32_t s = ts_node_start_byte(p), e = ts_node_end_byte(p);
  int k = cg_kind(w, p);
  if (k == NK_IDENTIFIER) { /* #include NAME */
    cg_imp_rec rec = {.line = cg_line(n), .kind = GSP_CG_IMPORT_INCLUDE_SYSTEM};
    rec.level = CG_C_VIA_MACRO;
    rec.module = cg_intern_node(w, p);
    if (rec.module != 0) gsp__cg_add_import(w->b, &rec);
    return;
  }
  if ((k != NK_STRING_LITERAL && k != NK_SYSTEM_LIB_STRING) || e - s < 3) return;
  cg_imp_rec rec = {.line = cg_line(n)};
  rec.kind = k == NK_STRING_LITERAL ? GSP_CG_IMPORT_INCLUDE_QUOTED : GSP_CG_IMPORT_INCLUDE_SYSTEM;
  rec.module = gsp__cg_intern(w->b, w->src + s + 1, e - s - 2, NULL);
  if (rec.module != 0) gsp__cg_add_import(w->b, &rec);
}

static bool header_name(const char *s, size_t n) {
  static const char *const ext[] = {".h", ".hh", ".hpp", ".hxx", ".inc", ".def", ".inl", ".tcc"};
  for (size_t i = 0; i < sizeof ext / sizeof *ext; i++) {
    size_t l = strlen(ext[i]);
    if (n > l && memcmp(s + n - l, ext[i], l) == 0) return true;
  }
  return false;
}

/* `#define NAME <x.h>` or `#define NAME "x.h"`: a header-path macro. */
static void path_macro(cg_walk *w, TSNode n, TSNode name) {
  TSNode v = cg_field(w, n, F_VALUE);
  if (ts_node_is_null(v)) return;
  const char *s = w->src + ts_node_start_byte(v), *e = w->src + ts_node_end_byte(v);
  while (s < e && (*s == ' ' || *s == '\t')) s++;
  while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r')) e--;
  if (e - s < 3) return;
  bool sys = s[0] == '<' && e[-1] == '>', quoted = s[0] == '"' && e[-1] == '"';
  if (!sys && !quoted) return;
  for (const char *q = s + 1; q < e - 1; q++)
    if (*q == '"' || *q == '<' || *q == '>' || *q == ' ' || *q == '\n') return;
  if (quoted && !header_name(s + 1, (size_t)(e - s - 2))) return;
  cg_imp_rec rec = {.line = cg_line(n), .level = CG_C_PATH_MACRO};
  rec.kind = sys ? GSP_CG_IMPORT_INCLUDE_SYSTEM : GSP_CG_IMPORT_INCLUDE_QUOTED;
  rec.module = gsp__cg_intern(w->b, s + 1, (size_t)(e - s - 2), NULL);
  rec.name = cg_intern_node(w, name);
  if (rec.module != 0 && rec.name != 0) gsp__cg_add_import(w->b, &rec);
}

/* f() binds by name; p->f() and s.f() are calls through a struct field:
 * name the field, qualifier the object's text ("?" for any other
 * expression). The binder leaves field calls unresolved: the field's
 * function pointer has no definition, and its target is known only at run
 * time. */
static void call(cg_walk *w, TSNode n) {
  TSNode f = cg_field(w, n, F_FUNCTION);
  int k = ts_node_is_null(f) ? NK_OTHER : cg_kind(w, f);
  if (k == NK_IDENTIFIER) {
    gsp__cg_add_ref(w->b, cg_intern_node(w, f), 0, GSP_CG_REF_CALL, cg_line(f), cg_scope_def(w));
  } else if (k == NK_FIELD_EXPRESSION) {
    TSNode obj = cg_field(w, f, F_ARGUMENT), field = cg_field(w, f, F_FIELD);
    if (ts_node_is_null(obj) || ts_node_is_null(field)) return;
    int ok = cg_kind(w, obj);
    uint32_t q = ok == NK_IDENTIFIER || ok == NK_FIELD_EXPRESSION
                     ? cg_intern_node(w, obj)
                     : gsp__cg_intern(w->b, "?", 1, NULL);
    gsp__cg_add_ref(w->b, cg_intern_node(w, field), q, GSP_CG_REF_CALL, cg_line(field),
                    cg_scope_def(w));
  }
}

static bool visit_c(cg_walk *w, TSNode n, TSFieldId field) {
  switch (cg_kind(w, n)) {
    case NK_FUNCTION_DEFINITION:
      function_definition(w, n);
      return true;
    case NK_DECLARATION:
      if (w->nscopes == 0) define_declarators(w, n, 0);
      return true;
    case NK_TYPE_DEFINITION:
      define_declarators(w, n, GSP_CG_DEF_TYPEDEF);
      return true;
    case NK_STRUCT_SPECIFIER:
    case NK_UNION_SPECIFIER:
    case NK_ENUM_SPECIFIER:
      tagged_type(w, n);
      return true;
    case NK_CALL_EXPRESSION:
      call(w, n);
      return true;
    case NK_TYPE_IDENTIFIER:
      if (field != w->tab->field[F_NAME] && field != w->tab->field[F_DECLARATOR])
        gsp__cg_add_ref(w->b, cg_intern_node(w, n), 0, GSP_CG_REF_TYPE, cg_line(n),
                        cg_scope_def(w));
      return false;
    case NK_PREPROC_INCLUDE:
      include(w, n);
      return false;
    case NK_PREPROC_DEF:
    case NK_PREPROC_FUNCTION_DEF: {
      TSNode name = cg_field(w, n, F_NAME);
      if (ts_node_is_null(name)) return false;
      gsp__cg_add_def(w->b, cg_intern_node(w, name), GSP_CG_DEF_MACRO, cg_line(name), -1);
      if (cg_kind(w, n) == NK_PREPROC_DEF) path_macro(w, n, name);
      return false;
    }
    default:
      return true;
  }
}

void gsp__cg_extract_c(const cg_lang_tab *t, const TSTree *tree, const char *src, cg_builder *b) {
  cg_walk w = {.tab = t, .src = src, .b = b};
  gsp__cg_walk(&w, tree, visit_c);
}
