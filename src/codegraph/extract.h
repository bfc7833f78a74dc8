/*
 * extract.h - what the language extractors share: node-kind tables built
 * from a grammar's symbol names (so a handler switches on a small enum,
 * never compares strings), the field ids they read, and the tree walk.
 */
#ifndef GSP_CG_EXTRACT_H
#define GSP_CG_EXTRACT_H

#include <tree_sitter/api.h>

#include "cg_int.h"

/* Node kinds any of the grammars may produce (one table per grammar maps its
 * symbols to these); NK_OTHER for everything else. */
enum cg_nk {
  NK_OTHER = 0,
  /* C */
  NK_FUNCTION_DEFINITION,
  NK_DECLARATION,
  NK_TYPE_DEFINITION,
  NK_STRUCT_SPECIFIER,
  NK_UNION_SPECIFIER,
  NK_ENUM_SPECIFIER,
  NK_CALL_EXPRESSION,
  NK_TYPE_IDENTIFIER,
  NK_PREPROC_INCLUDE,
  NK_PREPROC_DEF,
  NK_PREPROC_FUNCTION_DEF,
  NK_STRING_LITERAL,
  NK_STRING_CONTENT,
  NK_SYSTEM_LIB_STRING,
  NK_INIT_DECLARATOR,
  NK_POINTER_DECLARATOR,
  NK_ARRAY_DECLARATOR,
  NK_FUNCTION_DECLARATOR,
  NK_PARENTHESIZED_DECLARATOR,
  NK_ATTRIBUTED_DECLARATOR,
  NK_FIELD_IDENTIFIER,
  NK_IDENTIFIER,
  /* Python */
  NK_CLASS_DEFINITION,
  NK_ASSIGNMENT,
  NK_PATTERN_LIST,
  NK_CALL,
  NK_ATTRIBUTE,
  NK_TYPE,
  NK_IMPORT_STATEMENT,
  NK_IMPORT_FROM_STATEMENT,
  NK_FUTURE_IMPORT_STATEMENT,
  NK_DOTTED_NAME,
  NK_ALIASED_IMPORT,
  NK_RELATIVE_IMPORT,
  NK_IMPORT_PREFIX,
  NK_WILDCARD_IMPORT,
  NK_PARAMETERS,
  NK_DEFAULT_PARAMETER,
  NK_TYPED_PARAMETER,
  NK_TYPED_DEFAULT_PARAMETER,
  NK_LIST_SPLAT_PATTERN,
  NK_DICTIONARY_SPLAT_PATTERN,
  NK_AUGMENTED_ASSIGNMENT,
  NK_FOR_STATEMENT,
  NK_FOR_IN_CLAUSE,
  NK_GLOBAL_STATEMENT,
  NK_NONLOCAL_STATEMENT,
  NK_KEYWORD_ARGUMENT,
  NK_LAMBDA,
  NK_EXPRESSION_STATEMENT,
  NK_AS_PATTERN_TARGET,
  /* C (field calls) */
  NK_FIELD_EXPRESSION,
  /* JavaScript / TypeScript */
  NK_FUNCTION_DECLARATION,
  NK_GENERATOR_FUNCTION_DECLARATION,
  NK_FUNCTION_SIGNATURE,
  NK_CLASS_DECLARATION,
  NK_ABSTRACT_CLASS_DECLARATION,
  NK_METHOD_DEFINITION,
  NK_INTERFACE_DECLARATION,
  NK_TYPE_ALIAS_DECLARATION,
  NK_ENUM_DECLARATION,
  NK_LEXICAL_DECLARATION,
  NK_VARIABLE_DECLARATION,
  NK_VARIABLE_DECLARATOR,
  NK_ARROW_FUNCTION,
  NK_FUNCTION_EXPRESSION,
  NK_NEW_EXPRESSION,
  NK_MEMBER_EXPRESSION,
  NK_THIS,
  NK_IMPORT,
  NK_EXPORT_STATEMENT,
  NK_IMPORT_CLAUSE,
  NK_NAMED_IMPORTS,
  NK_IMPORT_SPECIFIER,
  NK_NAMESPACE_IMPORT,
  NK_IMPORT_REQUIRE_CLAUSE,
  NK_EXPORT_CLAUSE,
  NK_EXPORT_SPECIFIER,
  NK_NAMESPACE_EXPORT,
  NK_STRING,
  NK_STRING_FRAGMENT,
  NK_EXTENDS_CLAUSE,
  NK_CLASS_HERITAGE,
  NK_NESTED_TYPE_IDENTIFIER,
  NK_OBJECT_PATTERN,
  NK_SHORTHAND_PROPERTY_IDENTIFIER_PATTERN,
  NK_PAIR_PATTERN,
  NK_PROPERTY_IDENTIFIER,
  NK_JSX_OPENING_ELEMENT,
  NK_JSX_SELF_CLOSING_ELEMENT,
  NK__COUNT
};

enum cg_field {
  F_DECLARATOR,
  F_NAME,
  F_BODY,
  F_FUNCTION,
  F_PATH,
  F_SUPERCLASSES,
  F_LEFT,
  F_OBJECT,
  F_ATTRIBUTE,
  F_MODULE_NAME,
  F_ALIAS,
  F_SOURCE,
  F_VALUE,
  F_CONSTRUCTOR,
  F_PROPERTY,
  F_DECLARATION,
  F_ARGUMENTS,
  F_MODULE,
  F_ARGUMENT,
  F_FIELD,
  F_KEY,
  F_PARAMETERS,
  F__COUNT
};

struct cg_lang_tab {
  gsp_cg_lang lang;
  uint32_t nsyms;
  uint8_t *kind;             /* symbol id -> enum cg_nk */
  TSFieldId field[F__COUNT]; /* 0 when the grammar has no such field */
};

#define CG_MAX_SCOPES 128

typedef struct cg_scope {
  uint32_t depth; /* depth of the node that opened it */
  int32_t def;    /* the definition it belongs to */
  bool is_class;
} cg_scope;

/* The state of one extraction. */
typedef struct cg_walk {
  const cg_lang_tab *tab;
  const char *src;
  cg_builder *b;
  TSTreeCursor scratch; /* reused for iterating a node's fields */
  cg_scope scopes[CG_MAX_SCOPES];
  uint32_t nscopes;
  uint32_t type_depth; /* depth of an enclosing Python type annotation, or UINT32_MAX */
  uint32_t depth;
  bool in_function; /* a C function body encloses the node */
  /* JavaScript/TypeScript */
  int top_kind;       /* kind of the current depth-1 node (a top-level statement) */
  uint32_t skip_name; /* start byte + 1 of a name being defined (not a reference), or 0 */
  uint32_t skip_call; /* start byte + 1 of a require() call already taken as an import */
  /* Python variable reads: names defined or imported at module level */
  struct py_reads *reads;
} cg_walk;

/* Visit a node; return true to descend into its children. */
typedef bool (*cg_visit_fn)(cg_walk *w, TSNode n, TSFieldId field);

void gsp__cg_walk(cg_walk *w, const TSTree *tree, cg_visit_fn visit);

/* ---- the C macro pre-pass (c_macros.c) ---- */

typedef struct cg_macro_ent {
  const char *name; /* NULL = empty slot */
  uint32_t len;
  uint8_t shape;
} cg_macro_ent;

typedef struct cg_macro_tab {
  cg_macro_ent *ents;
  size_t cap, used;
} cg_macro_tab;

/* A parser's scratch: the built-in names and the current file's own, and
 * optionally names learned from the headers the file includes (extra: the
 * caller's table, read only; the file's own #define / #undef of a name
 * overrides it). */
typedef struct cg_macro_set {
  cg_macro_tab builtin, local;
  const cg_macro_tab *extra;
} cg_macro_set;

/* Blank src's annotation macros: *out = a blanked copy (gsp_malloc, same
 * length) or NULL when there was nothing to blank. GSP_ENOMEM. */
int gsp__cg_c_blank_macros(const char *src, size_t len, cg_macro_set *m, char **out);
void gsp__cg_macro_set_free(cg_macro_set *m);
/* Add to *into the annotation macros header src[0,len) defines (what the
 * pre-pass would blank in the rest of that header after its last line:
 * empty or attribute-like object macros, not #undef'd). Names point into
 * src, which must outlive *into. scratch is any cg_macro_set not in use
 * (its extra is ignored). GSP_ENOMEM. */
int gsp__cg_c_learn_macros(const char *src, size_t len, cg_macro_set *scratch, cg_macro_tab *into);
/* The pre-scan of a C file for the parse stage (resolve_cxx.c, hmacro.c):
 * the pass of gsp__cg_c_blank_macros over src (scratch's extra ignored),
 * telling note(user, kind, text, len) each
 *   CG_NOTE_QUOTED / CG_NOTE_SYSTEM  the spelling of an #include "x" / <x>
 *                                    the pass sees (not in C++-only branches)
 *   CG_NOTE_UNDEF                    a name the file #undefs
 *   CG_NOTE_TEACH                    a name it teaches its includers: what
 *                                    gsp__cg_c_learn_macros keeps, but no
 *                                    built-in or family name (blanked
 *                                    anyway) and not the include guard (the
 *                                    first directive `#ifndef X`, then
 *                                    `#define X`, closed by the last one)
 * in the order met (the TEACH names last). Text points into src. A note
 * failing stops the scan with its status. GSP_ENOMEM. */
enum { CG_NOTE_QUOTED = 'q', CG_NOTE_SYSTEM = 's', CG_NOTE_TEACH = 'T', CG_NOTE_UNDEF = 'U' };
typedef int (*cg_note_fn)(void *user, char kind, const char *s, size_t n);
int gsp__cg_c_note_macros(const char *src, size_t len, cg_macro_set *scratch, cg_note_fn note,
                          void *user);
/* Add the name s[0, n) (not copied) to t as an annotation. GSP_ENOMEM. */
int gsp__cg_macro_tab_add(cg_macro_tab *t, const char *s, size_t n);
void gsp__cg_macro_tab_clear(cg_macro_tab *t);
void gsp__cg_macro_tab_free(cg_macro_tab *t);
/* parser.c: gsp_cg_parse with names learned from the file's includes
 * blanked too (C only; extra NULL = gsp_cg_parse). The result depends on
 * extra: a caller that stores it must key it by extra's content too. */
int gsp__cg_parse_with(gsp_cg_parser *p, gsp_cg_lang lang, const char *src, size_t len,
                       const cg_macro_tab *extra, gsp_cg_result **out);

static inline int cg_kind(const cg_walk *w, TSNode n) {
  TSSymbol s = ts_node_symbol(n);
  return s < w->tab->nsyms ? w->tab->kind[s] : NK_OTHER;
}
static inline TSNode cg_field(const cg_walk *w, TSNode n, int f) {
  return ts_node_child_by_field_id(n, w->tab->field[f]);
}
static inline uint32_t cg_line(TSNode n) { return ts_node_start_point(n).row + 1; }
static inline uint32_t cg_intern_node(cg_walk *w, TSNode n) {
  uint32_t s = ts_node_start_byte(n), e = ts_node_end_byte(n);
  return gsp__cg_intern(w->b, w->src + s, e - s, NULL);
}
static inline int32_t cg_scope_def(const cg_walk *w) {
  return w->nscopes ? w->scopes[w->nscopes - 1].def : -1;
}
void gsp__cg_push_scope(cg_walk *w, int32_t def, bool is_class);

#endif
