/*
 * extract_py.c - definitions, references and imports of a Python file.
 *
 * Definitions: def (METHOD directly inside a class, FUNCTION elsewhere),
 * class (STRUCT), and module-level assignments to plain names (GLOBAL,
 * once per name however often it is assigned). Class attributes are GLOBAL
 * with the class as parent, once per class and name: names assigned in the
 * class body (`x = 0`, annotated fields `x: int = 0` and `x: int`), then
 * `self.x = ...` directly in its __init__, then `self.x = ...` / `cls.x =
 * ...` directly in any other method of the class (the first such
 * assignment in the file is the definition). The body's and __init__'s are
 * defined as the walk meets them; the other methods' are candidates
 * (class, name, line) emitted after the walk for the names still missing,
 * so __init__ wins wherever it stands. Functions nested in a method define
 * nothing.
 * References: calls through a name (f()) or an attribute (obj.f(),
 * mod.sub.f(): name "f", qualifier the object's text; "super" for
 * super().f(); "?" for any other object such as g().f(), which binds to
 * nothing), base classes and names inside type annotations (TYPE), and
 * reads of self.x / cls.x in a function (TYPE, qualifier self / cls; not a
 * call target, not an assignment target). A base class reference has the
 * class itself as scope and CG_REF_BASE in pad[0], so resolution finds a
 * class's bases without another table.
 * Imports: `import a.b [as c]` (MODULE) and `from [.]a.b import x [as y]`
 * (FROM, one import per imported name; "*" for a wildcard; level = number
 * of leading dots). `from __future__` is not an import of anything.
 *
 * Variable reads (USE): inside a function, a bare name that the module
 * defines at top level by assignment or brings in with `from m import`
 * (the "known" names, collected from the module's top-level statements
 * before the walk) and that the function does not bind itself. Bindings
 * are parameters, assignment / for / comprehension / `as` targets, unless
 * a `global` statement names them. Reads are candidates during the walk
 * (only known names: a hash set over byte ranges of the source) and are
 * emitted after it, once the bindings of every function are known; a
 * binding in an enclosing function shadows too. Attribute names, keyword
 * argument names and call targets (already CALL references) are not reads,
 * nor is q in q.x (for a call q.f() it is the reference's qualifier), nor
 * the name assigned to (`global X; X = 1` writes X).
 */
#include <string.h>
#include <xxhash.h>

#include "extract.h"

/* ---- variable reads ---- */

typedef struct py_name {
  uint32_t start, len;
  uint32_t line;
  int32_t scope; /* for candidates and bindings: the function; known names: unused */
} py_name;

typedef struct py_list {
  py_name *v;
  size_t n, cap;
} py_list;

struct py_reads {
  uint32_t *slots; /* known names: index + 1 into known.v, 0 = empty */
  size_t cslots;
  py_list known, cand, bound, declared;
  py_list attrs; /* self.x / cls.x assigned outside __init__: scope = the class */
};

static bool list_push(cg_walk *w, py_list *l, py_name x) {
  if (l->n == l->cap) {
    size_t nc = l->cap ? l->cap * 2 : 32;
    py_name *v = gsp_realloc(l->v, nc * sizeof *v);
    if (v == NULL) {
      if (w->b->err == 0) w->b->err = GSP_ENOMEM;
      return false;
    }
    l->v = v, l->cap = nc;
  }
  l->v[l->n++] = x;
  return true;
}

static bool same_text(const cg_walk *w, const py_name *a, uint32_t start, uint32_t len) {
  return a->len == len && memcmp(w->src + a->start, w->src + start, len) == 0;
}

static size_t known_slot(const cg_walk *w, uint32_t start, uint32_t len) {
  const struct py_reads *r = w->reads;
  size_t mask = r->cslots - 1, h = (size_t)XXH3_64bits(w->src + start, len) & mask;
  while (r->slots[h] && !same_text(w, &r->known.v[r->slots[h] - 1], start, len)) h = (h + 1) & mask;
  return h;
}

static bool is_known(const cg_walk *w, TSNode id) {
  if (w->reads == NULL || w->reads->cslots == 0) return false;
  uint32_t s = ts_node_start_byte(id), e = ts_node_end_byte(id);
  return w->reads->slots[known_slot(w, s, e - s)] != 0;
}

static void know(cg_walk *w, TSNode id) {
  if (ts_node_is_null(id) || cg_kind(w, id) != NK_IDENTIFIER) return;
  uint32_t s = ts_node_start_byte(id);
  list_push(w, &w->reads->known, (py_name){s, ts_node_end_byte(id) - s, 0, -1});
}

/* Identifiers of a target: a name, or the names of a tuple/list pattern. */
static void each_target(cg_walk *w, TSNode t, void (*fn)(cg_walk *, TSNode)) {
  if (ts_node_is_null(t)) return;
  if (cg_kind(w, t) == NK_IDENTIFIER) {
    fn(w, t);
    return;
  }
  uint32_t nc = ts_node_named_child_count(t);
  for (uint32_t i = 0; i < nc && cg_kind(w, t) != NK_ATTRIBUTE; i++) {
    TSNode c = ts_node_named_child(t, i);
    if (cg_kind(w, c) == NK_IDENTIFIER) fn(w, c);
  }
}

static void know_import_from(cg_walk *w, TSNode n) {
  uint32_t nc = ts_node_named_child_count(n);
  for (uint32_t i = 0; i < nc; i++) {
    TSNode c = ts_node_named_child(n, i);
    if (ts_node_eq(c, cg_field(w, n, F_MODULE_NAME))) continue;
    if (cg_kind(w, c) == NK_ALIASED_IMPORT)
      c = cg_field(w, c, F_ALIAS);
    else if (cg_kind(w, c) == NK_DOTTED_NAME && ts_node_named_child_count(c) == 1)
      c = ts_node_named_child(c, 0);
    know(w, c);
  }
}

/* The known names: top-level assignment targets and from-imported names. */
static int collect_known(cg_walk *w, TSNode root) {
  struct py_reads *r = w->reads;
  uint32_t nc = ts_node_named_child_count(root);
  for (uint32_t i = 0; i < nc; i++) {
    TSNode c = ts_node_named_child(root, i);
    int k = cg_kind(w, c);
    if (k == NK_EXPRESSION_STATEMENT && ts_node_named_child_count(c) == 1) {
      TSNode a = ts_node_named_child(c, 0);
      if (cg_kind(w, a) == NK_ASSIGNMENT) each_target(w, cg_field(w, a, F_LEFT), know);
    } else if (k == NK_IMPORT_FROM_STATEMENT) {
      know_import_from(w, c);
    }
  }
  if (r->known.n == 0 || w->b->err) return w->b->err;
  r->cslots = 16;
  while (r->cslots < r->known.n * 2) r->cslots *= 2;
  r->slots = gsp_calloc(r->cslots, sizeof *r->slots);
  if (r->slots == NULL) {
    r->cslots = 0;
    return GSP_ENOMEM;
  }
  for (size_t i = 0; i < r->known.n; i++) {
    size_t h = known_slot(w, r->known.v[i].start, r->known.v[i].len);
    if (r->slots[h] == 0) r->slots[h] = (uint32_t)i + 1;
  }
  return GSP_OK;
}

/* The innermost enclosing function, or -1 (module level or a class body). */
static int32_t function_scope(const cg_walk *w) {
  if (w->nscopes == 0 || w->scopes[w->nscopes - 1].is_class) return -1;
  return w->scopes[w->nscopes - 1].def;
}

static void bind_local(cg_walk *w, TSNode id) {
  int32_t f = function_scope(w);
  if (f < 0 || !is_known(w, id)) return;
  uint32_t s = ts_node_start_byte(id);
  list_push(w, &w->reads->bound, (py_name){s, ts_node_end_byte(id) - s, 0, f});
}

static void declare_global(cg_walk *w, TSNode id) {
  int32_t f = function_scope(w);
  if (f < 0 || cg_kind(w, id) != NK_IDENTIFIER) return;
  uint32_t s = ts_node_start_byte(id);
  list_push(w, &w->reads->declared, (py_name){s, ts_node_end_byte(id) - s, 0, f});
}

static void parameters(cg_walk *w, TSNode n) {
  uint32_t nc = ts_node_named_child_count(n);
  for (uint32_t i = 0; i < nc; i++) {
    TSNode c = ts_node_named_child(n, i), name = c;
    int k = cg_kind(w, c);
    if (k == NK_DEFAULT_PARAMETER || k == NK_TYPED_DEFAULT_PARAMETER)
      name = cg_field(w, c, F_NAME);
    else if (k == NK_TYPED_PARAMETER || k == NK_LIST_SPLAT_PATTERN ||
             k == NK_DICTIONARY_SPLAT_PATTERN)
      name = ts_node_named_child(c, 0);
    if (!ts_node_is_null(name) && cg_kind(w, name) == NK_IDENTIFIER) bind_local(w, name);
  }
}

static void read_candidate(cg_walk *w, TSNode id, TSFieldId field) {
  const TSFieldId *f = w->tab->field;
  int32_t fn = function_scope(w);
  if (fn < 0 || field == f[F_NAME] || field == f[F_ALIAS] || field == f[F_ATTRIBUTE] ||
      field == f[F_FUNCTION] || field == f[F_OBJECT] ||
      w->skip_name == ts_node_start_byte(id) + 1 || !is_known(w, id))
    return;
  uint32_t s = ts_node_start_byte(id);
  list_push(w, &w->reads->cand, (py_name){s, ts_node_end_byte(id) - s, cg_line(id), fn});
}

/* Whether name (text of c) is bound in function fn or a function enclosing it. */
static bool shadowed(const cg_walk *w, const py_name *c) {
  const struct py_reads *r = w->reads;
  for (size_t i = 0; i < r->declared.n; i++)
    if (r->declared.v[i].scope == c->scope && same_text(w, &r->declared.v[i], c->start, c->len))
      return false;
  for (int32_t fn = c->scope; fn >= 0; fn = w->b->defs[fn].parent) {
    if (w->b->defs[fn].kind == GSP_CG_DEF_STRUCT) continue;
    for (size_t i = 0; i < r->bound.n; i++)
      if (r->bound.v[i].scope == fn && same_text(w, &r->bound.v[i], c->start, c->len)) return true;
  }
  return false;
}

static void emit_reads(cg_walk *w) {
  const struct py_reads *r = w->reads;
  for (size_t i = 0; i < r->cand.n && w->b->err == 0; i++) {
    const py_name *c = &r->cand.v[i];
    if (shadowed(w, c)) continue;
    uint32_t name = gsp__cg_intern(w->b, w->src + c->start, c->len, NULL);
    gsp__cg_add_ref(w->b, name, 0, GSP_CG_REF_TYPE, c->line, c->scope);
  }
}

static void reads_free(struct py_reads *r) {
  gsp_free(r->slots);
  gsp_free(r->known.v), gsp_free(r->cand.v), gsp_free(r->bound.v), gsp_free(r->declared.v);
  gsp_free(r->attrs.v);
}

/* ---- definitions, references, imports ---- */

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
  gsp__cg_push_scope(w, d, is_class);
  if (is_class && d >= 0) { /* bases, in the class's own scope and flagged */
    TSNode sup = cg_field(w, n, F_SUPERCLASSES);
    uint32_t nc = ts_node_is_null(sup) ? 0 : ts_node_named_child_count(sup);
    for (uint32_t i = 0; i < nc; i++) {
      size_t before = w->b->nrefs;
      add_type_ref(w, ts_node_named_child(sup, i));
      if (w->b->nrefs > before) w->b->refs[before].pad[0] = CG_REF_BASE;
    }
  }
}

/* ---- class attributes ---- */

static bool text_is(const cg_walk *w, TSNode n, const char *s) {
  uint32_t a = ts_node_start_byte(n), e = ts_node_end_byte(n);
  size_t l = strlen(s);
  return e - a == l && memcmp(w->src + a, s, l) == 0;
}

/* The class of method m (a def directly in a class), or -1. */
static int32_t method_class(const cg_walk *w, int32_t m) {
  const cg_def_rec *d = &w->b->defs[m];
  return d->kind == GSP_CG_DEF_METHOD ? d->parent : -1;
}

static bool is_init(const cg_walk *w, int32_t m) {
  return strcmp(w->b->str + w->b->defs[m].name, "__init__") == 0;
}

/* Attribute name (interned at off) of class cls at line, once per class and name. */
static void attribute_def_at(cg_walk *w, uint32_t off, uint32_t line, int32_t cls) {
  if (off == 0 || w->b->err) return;
  for (size_t i = (size_t)cls + 1; i < w->b->ndefs; i++)
    if (w->b->defs[i].parent == cls && w->b->defs[i].name == off) return;
  gsp__cg_add_def(w->b, off, GSP_CG_DEF_GLOBAL, line, cls);
}

static void attribute_def(cg_walk *w, TSNode id, int32_t cls) {
  attribute_def_at(w, cg_intern_node(w, id), cg_line(id), cls);
}

/* o.a = ... in method m of class cls: self.a in __init__ is defined now;
 * self.a / cls.a in another method is a candidate for after the walk. */
static void method_attribute(cg_walk *w, TSNode t, int32_t m, int32_t cls) {
  TSNode o = cg_field(w, t, F_OBJECT), a = cg_field(w, t, F_ATTRIBUTE);
  if (ts_node_is_null(o) || ts_node_is_null(a) || cg_kind(w, o) != NK_IDENTIFIER) return;
  bool self = text_is(w, o, "self");
  if (!self && !text_is(w, o, "cls")) return;
  if (self && is_init(w, m)) {
    attribute_def(w, a, cls);
    return;
  }
  uint32_t s = ts_node_start_byte(a);
  list_push(w, &w->reads->attrs, (py_name){s, ts_node_end_byte(a) - s, cg_line(a), cls});
}

/* The candidates, in the order met: the first of each name still missing. */
static void emit_attributes(cg_walk *w) {
  const py_list *l = &w->reads->attrs;
  for (size_t i = 0; i < l->n && w->b->err == 0; i++) {
    uint32_t off = gsp__cg_intern(w->b, w->src + l->v[i].start, l->v[i].len, NULL);
    attribute_def_at(w, off, l->v[i].line, l->v[i].scope);
  }
}

/* `x = ...` / `x: T` in a class body, `self.x = ...` in a method: attributes. */
static void class_attributes(cg_walk *w, TSNode left) {
  if (w->b->err || w->nscopes == 0 || ts_node_is_null(left)) return;
  const cg_scope *top = &w->scopes[w->nscopes - 1];
  bool body = top->is_class;
  int32_t cls = body ? top->def : method_class(w, top->def);
  if (cls < 0) return;
  bool list = cg_kind(w, left) == NK_PATTERN_LIST;
  uint32_t nc = list ? ts_node_named_child_count(left) : 1;
  for (uint32_t i = 0; i < nc; i++) {
    TSNode t = list ? ts_node_named_child(left, i) : left;
    int k = cg_kind(w, t);
    if (body && k == NK_IDENTIFIER)
      attribute_def(w, t, cls);
    else if (!body && k == NK_ATTRIBUTE)
      method_attribute(w, t, top->def, cls);
  }
}

/* A read of self.x / cls.x in a function: not a call target, not written
 * (an assignment's target, or one of a target list). */
static void self_attribute(cg_walk *w, TSNode n, TSFieldId field) {
  if (field == w->tab->field[F_FUNCTION] || function_scope(w) < 0 ||
      w->skip_name == ts_node_start_byte(n) + 1)
    return;
  TSNode o = cg_field(w, n, F_OBJECT), a = cg_field(w, n, F_ATTRIBUTE);
  if (ts_node_is_null(o) || ts_node_is_null(a) || cg_kind(w, o) != NK_IDENTIFIER ||
      !(text_is(w, o, "self") || text_is(w, o, "cls")))
    return;
  /* last, as ts_node_parent walks down from the root */
  if (cg_kind(w, ts_node_parent(n)) == NK_PATTERN_LIST) return;
  gsp__cg_add_ref(w->b, cg_intern_node(w, a), cg_intern_node(w, o), GSP_CG_REF_TYPE, cg_line(a),
                  cg_scope_def(w));
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

/* o in o.f(): its text for a name or an attribute, "super" for super(),
 * "?" for any other expression (bound to nothing). */
static uint32_t call_qualifier(cg_walk *w, TSNode o) {
  int k = cg_kind(w, o);
  if (k == NK_IDENTIFIER || k == NK_ATTRIBUTE) return cg_intern_node(w, o);
  if (k == NK_CALL) {
    TSNode fn = cg_field(w, o, F_FUNCTION);
    if (!ts_node_is_null(fn) && cg_kind(w, fn) == NK_IDENTIFIER && text_is(w, fn, "super"))
      return gsp__cg_intern(w->b, "super", 5, NULL);
  }
  return gsp__cg_intern(w->b, "?", 1, NULL);
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
    uint32_t q = call_qualifier(w, o);
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
  switch (cg_kind(w, n)) {
    case NK_FUNCTION_DEFINITION:
      definition(w, n, false);
      return true;
    case NK_CLASS_DEFINITION:
      definition(w, n, true);
      return true;
    case NK_ASSIGNMENT:
    case NK_AUGMENTED_ASSIGNMENT: {
      TSNode left = cg_field(w, n, F_LEFT);
      if (w->nscopes == 0 && cg_kind(w, n) == NK_ASSIGNMENT) assignment(w, n);
      if (w->nscopes > 0 && cg_kind(w, n) == NK_ASSIGNMENT) class_attributes(w, left);
      each_target(w, left, bind_local);
      if (!ts_node_is_null(left)) w->skip_name = ts_node_start_byte(left) + 1; /* a write */
      return true;
    }
    case NK_FOR_STATEMENT:
    case NK_FOR_IN_CLAUSE:
      each_target(w, cg_field(w, n, F_LEFT), bind_local);
      return true;
    case NK_AS_PATTERN_TARGET:
      each_target(w, ts_node_named_child(n, 0), bind_local);
      return true;
    case NK_PARAMETERS:
      parameters(w, n);
      return true;
    case NK_GLOBAL_STATEMENT:
    case NK_NONLOCAL_STATEMENT: { /* nonlocal X: an enclosing function's X, not the module's */
      bool global = cg_kind(w, n) == NK_GLOBAL_STATEMENT;
      uint32_t nc = ts_node_named_child_count(n);
      for (uint32_t i = 0; i < nc; i++)
        (global ? declare_global : bind_local)(w, ts_node_named_child(n, i));
      return false;
    }
    case NK_CALL:
      call(w, n);
      return true;
    case NK_TYPE:
      if (w->type_depth == UINT32_MAX) w->type_depth = w->depth;
      return true;
    case NK_IDENTIFIER:
      if (w->type_depth == UINT32_MAX) {
        read_candidate(w, n, field);
        return false;
      }
      add_type_ref(w, n);
      return false;
    case NK_ATTRIBUTE:
      if (w->type_depth == UINT32_MAX) {
        self_attribute(w, n, field);
        return true;
      }
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
  struct py_reads reads = {0};
  cg_walk w = {.tab = t, .src = src, .b = b, .reads = &reads};
  if (collect_known(&w, ts_tree_root_node(tree)) != GSP_OK && b->err == 0) b->err = GSP_ENOMEM;
  gsp__cg_walk(&w, tree, visit_py);
  emit_attributes(&w);
  if (reads.cslots) emit_reads(&w);
  reads_free(&reads);
}
