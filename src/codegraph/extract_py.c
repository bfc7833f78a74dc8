/*
 * extract_py.c - definitions, references and imports of a Python file.
 *
 * Definitions: def (METHOD directly inside a class, FUNCTION elsewhere),
 * class (STRUCT), and module-level assignments to plain names (GLOBAL,
 * once per name however often it is assigned). References: calls through a
 * name (f()) or an attribute (obj.f(), mod.sub.f(): name "f", qualifier the
 * object's text), base classes and names inside type annotations (TYPE).
 * Imports: `import a.b [as c]` (MODULE) and `from [.]a.b import x [as y]`
 * (FROM, one import per imported name; "*" for a wildcard; level = number
 * of leading dots). `from __future__` is not an import of anything.
 */
#include "extract.h"

static void add_type_ref(cg_walk *w, TSNode n) {
  int k = cg_kind(w, n);
  if (k == NK_IDENTIFIER) {
    gsp__cg_add_ref(w->b, cg_intern_node(w, n), 0, GSP_CG_REF_TYPE, cg_line(n), cg_scope_def(w));
  } else if (k == NK_ATTRIBUTE) {
    TSNode a = cg_field(w, n, F_ATTRIBUTE), o = cg_field(w, n, F_OBJECT);
    if (ts_node_is_null(a) || ts_node_is_null(o)) return;
    gsp__cg_add_ref(w->b, cg_intern_node(w, a), cg_intern_node(w, o), GSP_CG_REF_TYPE, cg_line(a),
                    cg_scope_def(w));
  }
}

static void definition(cg_walk *w, TSNode n, bool is_class) {
  TSNode name = cg_field(w, n, F_NAME);
  if (ts_node_is_null(name)) return;
  bool in_class = w->nscopes && w->scopes[w->nscopes - 1].is_class;
  gsp_cg_def_kind k = is_class   ? GSP_CG_DEF_STRUCT
                      : in_class ? GSP_CG_DEF_METHOD
                                 : GSP_CG_DEF_FUNCTION;
  int32_t d = gsp__cg_add_def(w->b, cg_intern_node(w, name), k, cg_line(name), cg_scope_def(w));
  if (is_class) {
    TSNode sup = cg_field(w, n, F_SUPERCLASSES);
    uint32_t nc = ts_node_is_null(sup) ? 0 : ts_node_named_child_count(sup);
    for (uint32_t i = 0; i < nc; i++) add_type_ref(w, ts_node_named_child(sup, i));
  }
  gsp__cg_push_scope(w, d, is_class);
}

static void global_name(cg_walk *w, TSNode id) {
  uint32_t s = ts_node_start_byte(id), e = ts_node_end_byte(id);
  size_t slot;
  uint32_t off = gsp__cg_intern(w->b, w->src + s, e - s, &slot);
  if (off == 0 || w->b->marks[slot]) return;
  w->b->marks[slot] = 1;
  gsp__cg_add_def(w->b, off, GSP_CG_DEF_GLOBAL, cg_line(id), -1);
}

static void assignment(cg_walk *w, TSNode n) {
  TSNode left = cg_field(w, n, F_LEFT);
  if (ts_node_is_null(left)) return;
  int k = cg_kind(w, left);
  if (k == NK_IDENTIFIER) {
    global_name(w, left);
  } else if (k == NK_PATTERN_LIST) {
    uint32_t nc = ts_node_named_child_count(left);
    for (uint32_t i = 0; i < nc; i++) {
      TSNode c = ts_node_named_child(left, i);
      if (cg_kind(w, c) == NK_IDENTIFIER) global_name(w, c);
    }
  }
}

static void call(cg_walk *w, TSNode n) {
  TSNode f = cg_field(w, n, F_FUNCTION);
  if (ts_node_is_null(f)) return;
  int k = cg_kind(w, f);
  if (k == NK_IDENTIFIER) {
    gsp__cg_add_ref(w->b, cg_intern_node(w, f), 0, GSP_CG_REF_CALL, cg_line(f), cg_scope_def(w));
  } else if (k == NK_ATTRIBUTE) {
    TSNode a = cg_field(w, f, F_ATTRIBUTE), o = cg_field(w, f, F_OBJECT);
    if (ts_node_is_null(a) || ts_node_is_null(o)) return;
    int ok = cg_kind(w, o);
    uint32_t q = ok == NK_IDENTIFIER || ok == NK_ATTRIBUTE ? cg_intern_node(w, o) : 0;
    gsp__cg_add_ref(w->b, cg_intern_node(w, a), q, GSP_CG_REF_CALL, cg_line(a), cg_scope_def(w));
  }
}

static void add_import(cg_walk *w, gsp_cg_import_kind kind, uint32_t module, uint32_t level,
                       TSNode name_node, uint32_t line) {
  cg_imp_rec rec = {.module = module, .line = line, .kind = (uint8_t)kind, .level = (uint8_t)level};
  if (!ts_node_is_null(name_node)) {
    TSNode target = name_node, alias = {0};
    if (cg_kind(w, name_node) == NK_ALIASED_IMPORT) {
      target = cg_field(w, name_node, F_NAME);
      alias = cg_field(w, name_node, F_ALIAS);
    }
    if (ts_node_is_null(target)) return;
    uint32_t t = cg_intern_node(w, target);
    if (kind == GSP_CG_IMPORT_MODULE)
      rec.module = t;
    else
      rec.name = t;
    if (!ts_node_is_null(alias)) rec.alias = cg_intern_node(w, alias);
  } else {
    rec.name = gsp__cg_intern(w->b, "*", 1, NULL);
  }
  if (rec.module != 0 || rec.level != 0) gsp__cg_add_import(w->b, &rec);
}

/* Every child of n in the `name` field, imported as kind. */
static void import_names(cg_walk *w, TSNode n, gsp_cg_import_kind kind, uint32_t module,
                         uint32_t level) {
  TSTreeCursor *c = &w->scratch;
  ts_tree_cursor_reset(c, n);
  if (!ts_tree_cursor_goto_first_child(c)) return;
  do {
    TSNode ch = ts_tree_cursor_current_node(c);
    if (ts_tree_cursor_current_field_id(c) == w->tab->field[F_NAME])
      add_import(w, kind, module, level, ch, cg_line(n));
    else if (cg_kind(w, ch) == NK_WILDCARD_IMPORT)
      add_import(w, kind, module, level, (TSNode){0}, cg_line(n));
  } while (ts_tree_cursor_goto_next_sibling(c));
}

static void import_from(cg_walk *w, TSNode n) {
  TSNode m = cg_field(w, n, F_MODULE_NAME);
  if (ts_node_is_null(m)) return;
  uint32_t module = 0, level = 0;
  if (cg_kind(w, m) == NK_RELATIVE_IMPORT) {
    uint32_t nc = ts_node_named_child_count(m);
    for (uint32_t i = 0; i < nc; i++) {
      TSNode c = ts_node_named_child(m, i);
      if (cg_kind(w, c) == NK_IMPORT_PREFIX)
        level = ts_node_end_byte(c) - ts_node_start_byte(c);
      else if (cg_kind(w, c) == NK_DOTTED_NAME)
        module = cg_intern_node(w, c);
    }
    if (level > 255) level = 255;
  } else {
    module = cg_intern_node(w, m);
  }
  import_names(w, n, GSP_CG_IMPORT_FROM, module, level);
}

static bool visit_py(cg_walk *w, TSNode n, TSFieldId field) {
  (void)field;
  switch (cg_kind(w, n)) {
    case NK_FUNCTION_DEFINITION:
      definition(w, n, false);
      return true;
    case NK_CLASS_DEFINITION:
      definition(w, n, true);
      return true;
    case NK_ASSIGNMENT:
      if (w->nscopes == 0) assignment(w, n);
      return true;
    case NK_CALL:
      call(w, n);
      return true;
    case NK_TYPE:
      if (w->type_depth == UINT32_MAX) w->type_depth = w->depth;
      return true;
    case NK_IDENTIFIER:
    case NK_ATTRIBUTE:
      if (w->type_depth == UINT32_MAX) return true;
      add_type_ref(w, n);
      return false;
    case NK_IMPORT_STATEMENT:
      import_names(w, n, GSP_CG_IMPORT_MODULE, 0, 0);
      return false;
    case NK_IMPORT_FROM_STATEMENT:
      import_from(w, n);
      return false;
    case NK_FUTURE_IMPORT_STATEMENT:
      return false;
    default:
      return true;
  }
}

void gsp__cg_extract_py(const cg_lang_tab *t, const TSTree *tree, const char *src, cg_builder *b) {
  cg_walk w = {.tab = t, .src = src, .b = b};
  gsp__cg_walk(&w, tree, visit_py);
}
