/*
 * extract_js.c - definitions, references and imports of a JavaScript,
 * TypeScript or TSX file (one extractor: the TypeScript grammars extend the
 * JavaScript one, so the node kinds are shared).
 *
 * Definitions: function declarations (FUNCTION; nested ones get their
 * enclosing definition as parent), classes (STRUCT), methods of a class
 * (METHOD, parent the class; an object literal's are none), TypeScript
 * interfaces and enums (STRUCT), type aliases (TYPEDEF), overload and
 * ambient signatures (DECL), and top-level `const`/`let`/`var` names
 * (GLOBAL, or FUNCTION when the value is an arrow function or a function
 * expression). `export default ...` also defines the name "default"
 * (GLOBAL): it is what a default import binds to.
 *
 * References: calls and `new` through a name (f(), new C()) or a member
 * (obj.f(), this.f(), a.b.f(): name "f", qualifier the object's text, "?"
 * when the object is any other expression), JSX components (<Widget/>,
 * <ui.Widget/> as calls; <div> is no reference), a class's `extends`
 * (TYPE), and TypeScript type names (TYPE; `ns.T` gives name T, qualifier
 * ns). The name of a definition is not a reference: skip_name remembers
 * its start.
 *
 * Imports (module = the specifier as written, level 1 marks a re-export):
 *   import d from 'm'                FROM  name "default", alias d
 *   import {a, b as c} from 'm'      FROM  a; b alias c
 *   import * as ns from 'm'          MODULE alias ns
 *   import 'm'                       MODULE
 *   import x = require('m')  (TS)    MODULE alias x
 *   export {a, b as c} from 'm'      FROM  level 1
 *   export * from 'm'                FROM  name "*", level 1
 *   export * as ns from 'm'          MODULE alias ns, level 1
 *   const x = require('m')           MODULE alias x
 *   const {a, b: c} = require('m')   FROM  a; b alias c
 *   require('m'), import('m')        MODULE (a string literal argument only)
 * A require() taken with its declaration is not taken again (skip_call).
 * Every require() import, and `import x = require('m')`, carries
 * CG_IMP_REQUIRE in its record's pad[0]: it takes the "require" conditions
 * of a package's "exports" (an import() or import statement the "import"
 * ones).
 */
#include <string.h>

#include "extract.h"

static bool node_is(const cg_walk *w, TSNode n, int kind) {
  return !ts_node_is_null(n) && cg_kind(w, n) == kind;
}

/* The text of a string literal node (its one fragment), interned; 0 if none. */
static uint32_t string_text(cg_walk *w, TSNode s) {
  if (!node_is(w, s, NK_STRING) || ts_node_named_child_count(s) != 1) return 0;
  TSNode frag = ts_node_named_child(s, 0);
  return node_is(w, frag, NK_STRING_FRAGMENT) ? cg_intern_node(w, frag) : 0;
}

static uint32_t intern_str(cg_walk *w, const char *s) {
  return gsp__cg_intern(w->b, s, strlen(s), NULL);
}

static void add_imp(cg_walk *w, gsp_cg_import_kind kind, uint32_t module, uint32_t name,
                    uint32_t alias, bool reexport, uint32_t line) {
  if (module == 0) return;
  cg_imp_rec rec = {.module = module,
                    .name = name,
                    .alias = alias,
                    .line = line,
                    .kind = (uint8_t)kind,
                    .level = reexport ? 1 : 0};
  gsp__cg_add_import(w->b, &rec);
}

/* The imports added since index `from` are require()s: they take a
 * package's "require" conditions (CG_IMP_REQUIRE). */
static void mark_require(cg_walk *w, size_t from) {
  for (size_t i = from; i < w->b->nimps; i++) w->b->imps[i].pad[0] |= CG_IMP_REQUIRE;
}

static int32_t define(cg_walk *w, TSNode name, gsp_cg_def_kind kind, int32_t parent) {
  if (ts_node_is_null(name)) return -1;
  w->skip_name = ts_node_start_byte(name) + 1;
  return gsp__cg_add_def(w->b, cg_intern_node(w, name), kind, cg_line(name), parent);
}

/* ---- imports ---- */

/* import_specifier / export_specifier: name [as alias]. */
static void specifier(cg_walk *w, TSNode sp, uint32_t module, bool reexport, uint32_t line) {
  TSNode name = cg_field(w, sp, F_NAME), alias = cg_field(w, sp, F_ALIAS);
  if (ts_node_is_null(name)) return;
  uint32_t a = ts_node_is_null(alias) ? 0 : cg_intern_node(w, alias);
  add_imp(w, GSP_CG_IMPORT_FROM, module, cg_intern_node(w, name), a, reexport, line);
}

static void specifiers(cg_walk *w, TSNode list, uint32_t module, bool reexport, uint32_t line) {
  uint32_t nc = ts_node_named_child_count(list);
  for (uint32_t i = 0; i < nc; i++)
    specifier(w, ts_node_named_child(list, i), module, reexport, line);
}

static void import_clause(cg_walk *w, TSNode cl, uint32_t module, uint32_t line) {
  uint32_t nc = ts_node_named_child_count(cl);
  for (uint32_t i = 0; i < nc; i++) {
    TSNode c = ts_node_named_child(cl, i);
    switch (cg_kind(w, c)) {
      case NK_IDENTIFIER: /* default import */
        add_imp(w, GSP_CG_IMPORT_FROM, module, intern_str(w, "default"), cg_intern_node(w, c),
                false, line);
        break;
      case NK_NAMESPACE_IMPORT: {
        TSNode id = ts_node_named_child(c, 0);
        add_imp(w, GSP_CG_IMPORT_MODULE, module, 0,
                node_is(w, id, NK_IDENTIFIER) ? cg_intern_node(w, id) : 0, false, line);
        break;
      }
      case NK_NAMED_IMPORTS:
        specifiers(w, c, module, false, line);
        break;
      default:
        break;
    }
  }
}

static void import_statement(cg_walk *w, TSNode n) {
  uint32_t line = cg_line(n), module = string_text(w, cg_field(w, n, F_SOURCE));
  uint32_t nc = ts_node_named_child_count(n);
  bool clause = false;
  for (uint32_t i = 0; i < nc; i++) {
    TSNode c = ts_node_named_child(n, i);
    int k = cg_kind(w, c);
    if (k == NK_IMPORT_CLAUSE) {
      clause = true;
      import_clause(w, c, module, line);
    } else if (k == NK_IMPORT_REQUIRE_CLAUSE) {
      clause = true;
      TSNode id = ts_node_named_child(c, 0);
      uint32_t alias = node_is(w, id, NK_IDENTIFIER) ? cg_intern_node(w, id) : 0;
      size_t before = w->b->nimps;
      add_imp(w, GSP_CG_IMPORT_MODULE, string_text(w, cg_field(w, c, F_SOURCE)), 0, alias, false,
              line);
      mark_require(w, before);
    }
  }
  if (!clause) add_imp(w, GSP_CG_IMPORT_MODULE, module, 0, 0, false, line);
}

/* export ... from 'm': the re-exports. */
static void reexport(cg_walk *w, TSNode n, uint32_t module) {
  uint32_t line = cg_line(n), nc = ts_node_named_child_count(n);
  for (uint32_t i = 0; i < nc; i++) {
    TSNode c = ts_node_named_child(n, i);
    if (cg_kind(w, c) == NK_EXPORT_CLAUSE) {
      specifiers(w, c, module, true, line);
      return;
    }
    if (cg_kind(w, c) == NK_NAMESPACE_EXPORT) {
      TSNode id = ts_node_named_child(c, 0);
      add_imp(w, GSP_CG_IMPORT_MODULE, module, 0,
              node_is(w, id, NK_IDENTIFIER) ? cg_intern_node(w, id) : 0, true, line);
      return;
    }
  }
  add_imp(w, GSP_CG_IMPORT_FROM, module, intern_str(w, "*"), 0, true, line);
}

static bool has_default_keyword(TSNode n) {
  uint32_t nc = ts_node_child_count(n);
  for (uint32_t i = 0; i < nc; i++) {
    TSNode c = ts_node_child(n, i);
    if (!ts_node_is_named(c) && strcmp(ts_node_type(c), "default") == 0) return true;
  }
  return false;
}

/* Returns true to descend (a declaration inside), false when done. */
static bool export_statement(cg_walk *w, TSNode n) {
  TSNode src = cg_field(w, n, F_SOURCE);
  if (!ts_node_is_null(src)) {
    reexport(w, n, string_text(w, src));
    return false;
  }
  if (has_default_keyword(n))
    gsp__cg_add_def(w->b, intern_str(w, "default"), GSP_CG_DEF_GLOBAL, cg_line(n), -1);
  return true;
}

/* The module of require('m') / import('m'), or 0 when call is not one;
 * *req: it is a require() (CommonJS), not an import(). */
static uint32_t required_module(cg_walk *w, TSNode call, bool *req) {
  TSNode f = cg_field(w, call, F_FUNCTION), args = cg_field(w, call, F_ARGUMENTS);
  *req = false;
  if (ts_node_is_null(f) || ts_node_is_null(args) || ts_node_named_child_count(args) != 1) return 0;
  int k = cg_kind(w, f);
  if (k == NK_IDENTIFIER) {
    uint32_t s = ts_node_start_byte(f), e = ts_node_end_byte(f);
    if (e - s != 7 || memcmp(w->src + s, "require", 7) != 0) return 0;
    *req = true;
  } else if (k != NK_IMPORT) {
    return 0;
  }
  return string_text(w, ts_node_named_child(args, 0));
}

/* const {a, b: c} = require('m') */
static void require_pattern(cg_walk *w, TSNode pat, uint32_t module, uint32_t line) {
  uint32_t nc = ts_node_named_child_count(pat);
  for (uint32_t i = 0; i < nc; i++) {
    TSNode c = ts_node_named_child(pat, i);
    int k = cg_kind(w, c);
    if (k == NK_SHORTHAND_PROPERTY_IDENTIFIER_PATTERN) {
      add_imp(w, GSP_CG_IMPORT_FROM, module, cg_intern_node(w, c), 0, false, line);
    } else if (k == NK_PAIR_PATTERN) {
      TSNode key = cg_field(w, c, F_KEY), val = cg_field(w, c, F_VALUE);
      if (node_is(w, key, NK_PROPERTY_IDENTIFIER) && node_is(w, val, NK_IDENTIFIER))
        add_imp(w, GSP_CG_IMPORT_FROM, module, cg_intern_node(w, key), cg_intern_node(w, val),
                false, line);
    }
  }
}

/* ---- definitions ---- */

static bool top_level_declarator(const cg_walk *w) {
  return w->depth == 2 || (w->depth == 3 && w->top_kind == NK_EXPORT_STATEMENT);
}

static void declarator(cg_walk *w, TSNode n) {
  TSNode name = cg_field(w, n, F_NAME), value = cg_field(w, n, F_VALUE);
  bool req = false;
  uint32_t module = node_is(w, value, NK_CALL_EXPRESSION) ? required_module(w, value, &req) : 0;
  if (module != 0) { /* an import, not a definition */
    size_t before = w->b->nimps;
    w->skip_call = ts_node_start_byte(value) + 1;
    if (node_is(w, name, NK_IDENTIFIER))
      add_imp(w, GSP_CG_IMPORT_MODULE, module, 0, cg_intern_node(w, name), false, cg_line(n));
    else if (node_is(w, name, NK_OBJECT_PATTERN))
      require_pattern(w, name, module, cg_line(n));
    if (req) mark_require(w, before);
    return;
  }
  if (!top_level_declarator(w) || !node_is(w, name, NK_IDENTIFIER)) return;
  bool fn = node_is(w, value, NK_ARROW_FUNCTION) || node_is(w, value, NK_FUNCTION_EXPRESSION);
  int32_t d = define(w, name, fn ? GSP_CG_DEF_FUNCTION : GSP_CG_DEF_GLOBAL, -1);
  if (fn) gsp__cg_push_scope(w, d, false);
}

/* A method of a class; a method of an object literal ({ f() {} }) is no
 * definition (no bare name reaches it). */
static void method(cg_walk *w, TSNode n) {
  if (w->nscopes == 0 || !w->scopes[w->nscopes - 1].is_class) return;
  int32_t d = define(w, cg_field(w, n, F_NAME), GSP_CG_DEF_METHOD, cg_scope_def(w));
  gsp__cg_push_scope(w, d, false);
}

/* class C extends Base: Base is a type use (JavaScript: the expression is
 * class_heritage's child; TypeScript: extends_clause's value). */
static void heritage(cg_walk *w, TSNode v) {
  if (node_is(w, v, NK_IDENTIFIER)) {
    gsp__cg_add_ref(w->b, cg_intern_node(w, v), 0, GSP_CG_REF_TYPE, cg_line(v), cg_scope_def(w));
  } else if (node_is(w, v, NK_MEMBER_EXPRESSION)) {
    TSNode o = cg_field(w, v, F_OBJECT), p = cg_field(w, v, F_PROPERTY);
    if (!ts_node_is_null(o) && !ts_node_is_null(p))
      gsp__cg_add_ref(w->b, cg_intern_node(w, p), cg_intern_node(w, o), GSP_CG_REF_TYPE, cg_line(p),
                      cg_scope_def(w));
  }
}

/* ---- references ---- */

static uint32_t qualifier(cg_walk *w, TSNode obj) {
  int k = cg_kind(w, obj);
  if (k == NK_IDENTIFIER || k == NK_THIS || k == NK_MEMBER_EXPRESSION)
    return cg_intern_node(w, obj);
  return intern_str(w, "?");
}

/* A call of, or `new` on, the expression f. */
static void callee(cg_walk *w, TSNode f) {
  int k = cg_kind(w, f);
  if (k == NK_IDENTIFIER) {
    gsp__cg_add_ref(w->b, cg_intern_node(w, f), 0, GSP_CG_REF_CALL, cg_line(f), cg_scope_def(w));
  } else if (k == NK_MEMBER_EXPRESSION) {
    TSNode o = cg_field(w, f, F_OBJECT), p = cg_field(w, f, F_PROPERTY);
    if (ts_node_is_null(o) || !node_is(w, p, NK_PROPERTY_IDENTIFIER)) return;
    gsp__cg_add_ref(w->b, cg_intern_node(w, p), qualifier(w, o), GSP_CG_REF_CALL, cg_line(p),
                    cg_scope_def(w));
  }
}

static void call(cg_walk *w, TSNode n) {
  bool req = false;
  uint32_t module = required_module(w, n, &req);
  if (module != 0) {
    size_t before = w->b->nimps;
    if (w->skip_call != ts_node_start_byte(n) + 1)
      add_imp(w, GSP_CG_IMPORT_MODULE, module, 0, 0, false, cg_line(n));
    if (req) mark_require(w, before);
    return;
  }
  TSNode f = cg_field(w, n, F_FUNCTION);
  if (!ts_node_is_null(f)) callee(w, f);
}

/* <Widget ...> / <ui.Widget/>: a component is used like a call; lower-case
 * names (<div>) are elements of the host, not references. */
static void jsx_element(cg_walk *w, TSNode n) {
  TSNode name = cg_field(w, n, F_NAME);
  if (node_is(w, name, NK_IDENTIFIER)) {
    char c = w->src[ts_node_start_byte(name)];
    if (c >= 'A' && c <= 'Z') callee(w, name);
  } else if (node_is(w, name, NK_MEMBER_EXPRESSION)) {
    callee(w, name);
  }
}

static void type_name(cg_walk *w, TSNode n) {
  if (w->skip_name == ts_node_start_byte(n) + 1) return; /* the name being defined */
  gsp__cg_add_ref(w->b, cg_intern_node(w, n), 0, GSP_CG_REF_TYPE, cg_line(n), cg_scope_def(w));
}

static void nested_type(cg_walk *w, TSNode n) {
  TSNode m = cg_field(w, n, F_MODULE), name = cg_field(w, n, F_NAME);
  if (ts_node_is_null(m) || ts_node_is_null(name)) return;
  gsp__cg_add_ref(w->b, cg_intern_node(w, name), cg_intern_node(w, m), GSP_CG_REF_TYPE,
                  cg_line(name), cg_scope_def(w));
}

/* ---- the visitor ---- */

static bool visit_definition(cg_walk *w, TSNode n, int k) {
  int32_t d;
  switch (k) {
    case NK_FUNCTION_DECLARATION:
    case NK_GENERATOR_FUNCTION_DECLARATION:
      d = define(w, cg_field(w, n, F_NAME), GSP_CG_DEF_FUNCTION, cg_scope_def(w));
      gsp__cg_push_scope(w, d, false);
      return true;
    case NK_FUNCTION_SIGNATURE:
      define(w, cg_field(w, n, F_NAME), GSP_CG_DEF_DECL, cg_scope_def(w));
      return true;
    case NK_CLASS_DECLARATION:
    case NK_ABSTRACT_CLASS_DECLARATION:
      d = define(w, cg_field(w, n, F_NAME), GSP_CG_DEF_STRUCT, cg_scope_def(w));
      gsp__cg_push_scope(w, d, true);
      return true;
    case NK_INTERFACE_DECLARATION:
    case NK_ENUM_DECLARATION:
      define(w, cg_field(w, n, F_NAME), GSP_CG_DEF_STRUCT, cg_scope_def(w));
      return true;
    case NK_TYPE_ALIAS_DECLARATION:
      define(w, cg_field(w, n, F_NAME), GSP_CG_DEF_TYPEDEF, cg_scope_def(w));
      return true;
    case NK_METHOD_DEFINITION:
      method(w, n);
      return true;
    default:
      declarator(w, n);
      return true;
  }
}

static bool visit_js(cg_walk *w, TSNode n, TSFieldId field) {
  (void)field;
  int k = cg_kind(w, n);
  if (w->depth == 1) w->top_kind = k;
  switch (k) {
    case NK_FUNCTION_DECLARATION:
    case NK_GENERATOR_FUNCTION_DECLARATION:
    case NK_FUNCTION_SIGNATURE:
    case NK_CLASS_DECLARATION:
    case NK_ABSTRACT_CLASS_DECLARATION:
    case NK_INTERFACE_DECLARATION:
    case NK_ENUM_DECLARATION:
    case NK_TYPE_ALIAS_DECLARATION:
    case NK_METHOD_DEFINITION:
    case NK_VARIABLE_DECLARATOR:
      return visit_definition(w, n, k);
    case NK_IMPORT_STATEMENT:
      import_statement(w, n);
      return false;
    case NK_EXPORT_STATEMENT:
      return export_statement(w, n);
    case NK_CALL_EXPRESSION:
      call(w, n);
      return true;
    case NK_NEW_EXPRESSION: {
      TSNode c = cg_field(w, n, F_CONSTRUCTOR);
      if (!ts_node_is_null(c)) callee(w, c);
      return true;
    }
    case NK_EXTENDS_CLAUSE:
      heritage(w, cg_field(w, n, F_VALUE));
      return true;
    case NK_CLASS_HERITAGE:
      heritage(w, ts_node_named_child(n, 0));
      return true;
    case NK_JSX_OPENING_ELEMENT:
    case NK_JSX_SELF_CLOSING_ELEMENT:
      jsx_element(w, n);
      return true;
    case NK_TYPE_IDENTIFIER:
      type_name(w, n);
      return false;
    case NK_NESTED_TYPE_IDENTIFIER:
      nested_type(w, n);
      return false;
    default:
      return true;
  }
}

void gsp__cg_extract_js(const cg_lang_tab *t, const TSTree *tree, const char *src, cg_builder *b) {
  cg_walk w = {.tab = t, .src = src, .b = b};
  gsp__cg_walk(&w, tree, visit_js);
}
