# The code graph (include/gsperf/codegraph.h): tree-sitter runtime from
# Debian (pkg-config tree-sitter, grammar ABI 13-14), grammar sources (C,
# Python, JavaScript, TypeScript/TSX) from npm pinned in
# grammars/package-lock.json (npm ci --prefix grammars),
# SQLite for the store.
pkg_check_modules(TREESITTER REQUIRED tree-sitter)
pkg_check_modules(SQLITE3 REQUIRED sqlite3)

set(_cg_grammars ${PROJECT_SOURCE_DIR}/grammars/node_modules)
# Each grammar's src/ directory (parser.c, and scanner.c when it has one).
set(_cg_grammar_dirs
  ${_cg_grammars}/tree-sitter-c/src
  ${_cg_grammars}/tree-sitter-python/src
  ${_cg_grammars}/tree-sitter-javascript/src
  ${_cg_grammars}/tree-sitter-typescript/typescript/src
  ${_cg_grammars}/tree-sitter-typescript/tsx/src)
set(_cg_grammar_sources
  ${_cg_grammars}/tree-sitter-c/src/parser.c
  ${_cg_grammars}/tree-sitter-python/src/parser.c
  ${_cg_grammars}/tree-sitter-python/src/scanner.c
  ${_cg_grammars}/tree-sitter-javascript/src/parser.c
  ${_cg_grammars}/tree-sitter-javascript/src/scanner.c
  ${_cg_grammars}/tree-sitter-typescript/typescript/src/parser.c
  ${_cg_grammars}/tree-sitter-typescript/typescript/src/scanner.c
  ${_cg_grammars}/tree-sitter-typescript/tsx/src/parser.c
  ${_cg_grammars}/tree-sitter-typescript/tsx/src/scanner.c)
foreach(f IN LISTS _cg_grammar_sources)
  if(NOT EXISTS ${f})
    message(FATAL_ERROR "codegraph: ${f} is missing; run 'npm ci --prefix grammars' "
                        "(scripts/deps.sh does) to fetch the pinned tree-sitter grammars")
  endif()
endforeach()
# Generated grammar code: compiled without the project's warning flags and
# without sanitizer instrumentation cost mattering; -w only for these.
set_source_files_properties(${_cg_grammar_sources} PROPERTIES COMPILE_OPTIONS "-w")
foreach(d IN LISTS _cg_grammar_dirs)
  set(_cg_in_dir ${d}/parser.c)
  if(EXISTS ${d}/scanner.c)
    list(APPEND _cg_in_dir ${d}/scanner.c)
  endif()
  set_source_files_properties(${_cg_in_dir} PROPERTIES INCLUDE_DIRECTORIES ${d})
endforeach()

list(APPEND GSP_SOURCES
  ${PROJECT_SOURCE_DIR}/src/codegraph/result.c
  ${PROJECT_SOURCE_DIR}/src/codegraph/extract.c
  ${PROJECT_SOURCE_DIR}/src/codegraph/extract_c.c
  ${PROJECT_SOURCE_DIR}/src/codegraph/extract_py.c
  ${PROJECT_SOURCE_DIR}/src/codegraph/extract_js.c
  ${PROJECT_SOURCE_DIR}/src/codegraph/extract_pkg.c
  ${PROJECT_SOURCE_DIR}/src/codegraph/c_macros.c
  ${PROJECT_SOURCE_DIR}/src/codegraph/hmacro.c
  ${PROJECT_SOURCE_DIR}/src/codegraph/parser.c
  ${PROJECT_SOURCE_DIR}/src/codegraph/store.c
  ${PROJECT_SOURCE_DIR}/src/codegraph/parse_stage.c
  ${PROJECT_SOURCE_DIR}/src/codegraph/stat_index.c
  ${PROJECT_SOURCE_DIR}/src/codegraph/farm.c
  ${PROJECT_SOURCE_DIR}/src/codegraph/resolve_cache.c
  ${PROJECT_SOURCE_DIR}/src/codegraph/walk.c
  ${PROJECT_SOURCE_DIR}/src/codegraph/analyze.c
  ${PROJECT_SOURCE_DIR}/src/codegraph/resolve_imports.c
  ${PROJECT_SOURCE_DIR}/src/codegraph/resolve_js.c
  ${PROJECT_SOURCE_DIR}/src/codegraph/resolve_macro_inc.c
  ${PROJECT_SOURCE_DIR}/src/codegraph/resolve_cxx.c
  ${PROJECT_SOURCE_DIR}/src/codegraph/resolve_refs.c
  ${PROJECT_SOURCE_DIR}/src/codegraph/unresolved.c
  ${PROJECT_SOURCE_DIR}/src/codegraph/graph.c
  ${PROJECT_SOURCE_DIR}/src/codegraph/db.c
  ${PROJECT_SOURCE_DIR}/src/codegraph/db_names.c
  ${PROJECT_SOURCE_DIR}/src/codegraph/db_rows.c
  ${PROJECT_SOURCE_DIR}/src/codegraph/db_update.c
  ${PROJECT_SOURCE_DIR}/src/codegraph/query.c
  ${_cg_grammar_sources})
list(APPEND GSP_PRIVATE_LIBS ${TREESITTER_LIBRARIES} ${SQLITE3_LIBRARIES})
list(APPEND GSP_PRIVATE_INCLUDES ${TREESITTER_INCLUDE_DIRS} ${SQLITE3_INCLUDE_DIRS})
list(APPEND GSP_PC_REQUIRES tree-sitter sqlite3)

list(APPEND GSP_CLI_SOURCES cli/cmd_analyze.c cli/analyze_extras.c cli/cmd_query.c)
# `gsperf analyze --distributed` farms the parse stage out over MPI through
# the dist library (src/dist/module.cmake, same Open MPI check), which the
# tool loads at run time only then; without Open MPI the tool is built
# with analyze_dist_none.c and runs locally.
pkg_check_modules(CG_OMPI QUIET ompi-c)
if(CG_OMPI_FOUND)
  list(APPEND GSP_CLI_SOURCES cli/analyze_dist.c)
else()
  list(APPEND GSP_CLI_SOURCES cli/analyze_dist_none.c)
endif()
list(APPEND GSP_CLI_VERBS
  "analyze|gsp_cmd_analyze|build the code graph of a source tree and report on it"
  "query|gsp_cmd_query|answer questions from a code-graph database")
