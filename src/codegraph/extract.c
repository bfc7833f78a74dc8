/*
 * extract.c - the node-kind tables and the tree walk the language
 * extractors share.
 *
 * Tables: a grammar numbers its node types; several numbers may share one
 * name (aliases). At parser creation every symbol's name is looked up once
 * in a fixed list and mapped to a small enum, so visiting a node costs one
 * array load, not a string compare.
 *
 * Walk: one TSTreeCursor goes depth-first over the whole tree (no recursion,
 * no allocation per node). The visitor says whether to descend. Scopes (the
 * definition enclosing a node) are a stack of (depth, definition): a scope
 * opened by a node at depth d covers the nodes below it and is popped when
 * the cursor comes back to depth d or above. Deeper than CG_MAX_SCOPES
 * nesting, the innermost recorded scope stands for the deeper ones.
 */
#include <string.h>

#include "extract.h"

static const struct {
  const char *name;
  uint8_t kind;
} kind_names[] = {
    {"function_definition", NK_FUNCTION_DEFINITION},
    {"declaration", NK_DECLARATION},
    {"type_definition", NK_TYPE_DEFINITION},
    {"struct_specifier", NK_STRUCT_SPECIFIER},
    {"union_specifier", NK_UNION_SPECIFIER},
    {"enum_specifier", NK_ENUM_SPECIFIER},
    {"call_expression", NK_CALL_EXPRESSION},
    {"type_identifier", NK_TYPE_IDENTIFIER},
    {"preproc_include", NK_PREPROC_INCLUDE},
    {"preproc_def", NK_PREPROC_DEF},
    {"preproc_function_def", NK_PREPROC_FUNCTION_DEF},
    {"string_literal", NK_STRING_LITERAL},
    {"string_content", NK_STRING_CONTENT},
    {"system_lib_string", NK_SYSTEM_LIB_STRING},
    {"init_declarator", NK_INIT_DECLARATOR},
    {"pointer_declarator", NK_POINTER_DECLARATOR},
    {"array_declarator", NK_ARRAY_DECLARATOR},
    {"function_declarator", NK_FUNCTION_DECLARATOR},
    {"parenthesized_declarator", NK_PARENTHESIZED_DECLARATOR},
    {"attributed_declarator", NK_ATTRIBUTED_DECLARATOR},
    {"field_identifier", NK_FIELD_IDENTIFIER},
    {"identifier", NK_IDENTIFIER},
    {"class_definition", NK_CLASS_DEFINITION},
    {"assignment", NK_ASSIGNMENT},
    {"pattern_list", NK_PATTERN_LIST},
    {"call", NK_CALL},
    {"attribute", NK_ATTRIBUTE},
    {"type", NK_TYPE},
    {"import_statement", NK_IMPORT_STATEMENT},
    {"import_from_statement", NK_IMPORT_FROM_STATEMENT},
    {"future_import_statement", NK_FUTURE_IMPORT_STATEMENT},
    {"dotted_name", NK_DOTTED_NAME},
    {"aliased_import", NK_ALIASED_IMPORT},
    {"relative_import", NK_RELATIVE_IMPORT},
    {"import_prefix", NK_IMPORT_PREFIX},
    {"wildcard_import", NK_WILDCARD_IMPORT},
    {"parameters", NK_PARAMETERS},
    {"default_parameter", NK_DEFAULT_PARAMETER},
    {"typed_parameter", NK_TYPED_PARAMETER},
    {"typed_default_parameter", NK_TYPED_DEFAULT_PARAMETER},
    {"list_splat_pattern", NK_LIST_SPLAT_PATTERN},
    {"dictionary_splat_pattern", NK_DICTIONARY_SPLAT_PATTERN},
    {"augmented_assignment", NK_AUGMENTED_ASSIGNMENT},
    {"for_statement", NK_FOR_STATEMENT},
    {"for_in_clause", NK_FOR_IN_CLAUSE},
    {"global_statement", NK_GLOBAL_STATEMENT},
    {"nonlocal_statement", NK_NONLOCAL_STATEMENT},
    {"keyword_argument", NK_KEYWORD_ARGUMENT},
    {"lambda", NK_LAMBDA},
    {"expression_statement", NK_EXPRESSION_STATEMENT},
    {"as_pattern_target", NK_AS_PATTERN_TARGET},
    {"field_expression", NK_FIELD_EXPRESSION},
    {"function_declaration", NK_FUNCTION_DECLARATION},
    {"generator_function_declaration", NK_GENERATOR_FUNCTION_DECLARATION},
    {"function_signature", NK_FUNCTION_SIGNATURE},
    {"class_declaration", NK_CLASS_DECLARATION},
    {"abstract_class_declaration", NK_ABSTRACT_CLASS_DECLARATION},
    {"method_definition", NK_METHOD_DEFINITION},
    {"interface_declaration", NK_INTERFACE_DECLARATION},
    {"type_alias_declaration", NK_TYPE_ALIAS_DECLARATION},
    {"enum_declaration", NK_ENUM_DECLARATION},
    {"lexical_declaration", NK_LEXICAL_DECLARATION},
    {"variable_declaration", NK_VARIABLE_DECLARATION},
    {"variable_declarator", NK_VARIABLE_DECLARATOR},
    {"arrow_function", NK_ARROW_FUNCTION},
    {"function_expression", NK_FUNCTION_EXPRESSION},
    {"new_expression", NK_NEW_EXPRESSION},
    {"member_expression", NK_MEMBER_EXPRESSION},
    {"this", NK_THIS},
    {"import", NK_IMPORT},
    {"export_statement", NK_EXPORT_STATEMENT},
    {"import_clause", NK_IMPORT_CLAUSE},
    {"named_imports", NK_NAMED_IMPORTS},
    {"import_specifier", NK_IMPORT_SPECIFIER},
    {"namespace_import", NK_NAMESPACE_IMPORT},
    {"import_require_clause", NK_IMPORT_REQUIRE_CLAUSE},
    {"export_clause", NK_EXPORT_CLAUSE},
    {"export_specifier", NK_EXPORT_SPECIFIER},
    {"namespace_export", NK_NAMESPACE_EXPORT},
    {"string", NK_STRING},
    {"string_fragment", NK_STRING_FRAGMENT},
    {"extends_clause", NK_EXTENDS_CLAUSE},
    {"class_heritage", NK_CLASS_HERITAGE},
    {"nested_type_identifier", NK_NESTED_TYPE_IDENTIFIER},
    {"object_pattern", NK_OBJECT_PATTERN},
    {"shorthand_property_identifier_pattern", NK_SHORTHAND_PROPERTY_IDENTIFIER_PATTERN},
    {"pair_pattern", NK_PAIR_PATTERN},
    {"property_identifier", NK_PROPERTY_IDENTIFIER},
    {"jsx_opening_element", NK_JSX_OPENING_ELEMENT},
    {"jsx_self_closing_element", NK_JSX_SELF_CLOSING_ELEMENT},
};

static const char *const field_names[F__COUNT] = {
    [F_DECLARATOR] = "declarator",
    [F_NAME] = "name",
    [F_BODY] = "body",
    [F_FUNCTION] = "function",
    [F_PATH] = "path",
    [F_SUPERCLASSES] = "superclasses",
    [F_LEFT] = "left",
    [F_OBJECT] = "object",
    [F_ATTRIBUTE] = "attribute",
    [F_MODULE_NAME] = "module_name",
    [F_ALIAS] = "alias",
    [F_SOURCE] = "source",
    [F_VALUE] = "value",
    [F_CONSTRUCTOR] = "constructor",
    [F_PROPERTY] = "property",
    [F_DECLARATION] = "declaration",
    [F_ARGUMENTS] = "arguments",
    [F_MODULE] = "module",
    [F_ARGUMENT] = "argument",
    [F_FIELD] = "field",
    [F_KEY] = "key",
    [F_PARAMETERS] = "parameters",
};

int gsp__cg_tab_create(gsp_cg_lang lang, const TSLanguage *l, cg_lang_tab **out) {
  cg_lang_tab *t = gsp_calloc(1, sizeof *t);
  if (t == NULL) return GSP_ENOMEM;
  t->lang = lang;
  t->nsyms = ts_language_symbol_count(l);
  t->kind = gsp_calloc(t->nsyms ? t->nsyms : 1, 1);
  if (t->kind == NULL) {
    gsp_free(t);
    return GSP_ENOMEM;
  }
  for (uint32_t s = 0; s < t->nsyms; s++) {
    if (ts_language_symbol_type(l, (TSSymbol)s) != TSSymbolTypeRegular) continue;
    const char *name = ts_language_symbol_name(l, (TSSymbol)s);
    for (size_t i = 0; name && i < sizeof kind_names / sizeof *kind_names; i++)
      if (strcmp(name, kind_names[i].name) == 0) t->kind[s] = kind_names[i].kind;
  }
  for (int f = 0; f < F__COUNT; f++)
    t->field[f] =
        ts_language_field_id_for_name(l, field_names[f], (uint32_t)strlen(field_names[f]));
  *out = t;
  return GSP_OK;
}

void gsp__cg_tab_destroy(cg_lang_tab *t) {
  if (t == NULL) return;
  gsp_free(t->kind);
  gsp_free(t);
}

void gsp__cg_push_scope(cg_walk *w, int32_t def, bool is_class) {
  if (def < 0 || w->nscopes == CG_MAX_SCOPES) return;
  w->scopes[w->nscopes++] = (cg_scope){w->depth, def, is_class};
}

/* The cursor is now at depth w->depth: close what nodes at or below it opened. */
static void leave_to(cg_walk *w) {
  while (w->nscopes && w->scopes[w->nscopes - 1].depth >= w->depth) w->nscopes--;
  if (w->type_depth != UINT32_MAX && w->type_depth >= w->depth) w->type_depth = UINT32_MAX;
}

void gsp__cg_walk(cg_walk *w, const TSTree *tree, cg_visit_fn visit) {
  TSNode root = ts_tree_root_node(tree);
  TSTreeCursor c = ts_tree_cursor_new(root);
  w->scratch = ts_tree_cursor_new(root);
  w->depth = 0;
  w->nscopes = 0;
  w->type_depth = UINT32_MAX;
  for (;;) {
    TSNode n = ts_tree_cursor_current_node(&c);
    if (visit(w, n, ts_tree_cursor_current_field_id(&c)) && ts_tree_cursor_goto_first_child(&c)) {
      w->depth++;
      continue;
    }
    while (!ts_tree_cursor_goto_next_sibling(&c)) {
      if (!ts_tree_cursor_goto_parent(&c)) goto done;
      w->depth--;
    }
    leave_to(w);
  }
done:
  ts_tree_cursor_delete(&w->scratch);
  ts_tree_cursor_delete(&c);
}
