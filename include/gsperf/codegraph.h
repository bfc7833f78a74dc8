/*
 * gsperf/codegraph.h - the code graph: walk a source tree, parse C,
 * Python, JavaScript and TypeScript with tree-sitter (and package.json
 * files for their entry points), extract definitions, references and imports,
 * resolve imports to files and references to definitions, build the file
 * dependency graph (cycles, topological order, fan-in/fan-out, impact of a
 * change), write it to one SQLite file and query that file.
 *
 * Four groups of calls:
 *
 *  - Parser (gsp_cg_parser): one tree-sitter parser per language, reused
 *    across files. Turns one file's bytes into a per-file result.
 *    Thread safety: a parser is used by one thread at a time; use one
 *    parser per thread.
 *
 *  - Per-file result (gsp_cg_result): everything extracted from one file,
 *    held in one immutable block that is also its serialized form
 *    (versioned, checksummed; see src/codegraph/result.c for the layout).
 *    Thread safety: immutable once made; any number of threads may read
 *    it. Ownership: the caller of gsp_cg_parse / gsp_cg_result_load owns
 *    the result and frees it with gsp_cg_result_free. Strings returned by
 *    the accessors live as long as the result.
 *
 *  - Graph (gsp_cg): one analysis of one directory. gsp_cg_create then
 *    gsp_cg_run; afterwards every accessor is read-only and may be called
 *    from any number of threads at once. gsp_cg_destroy must be the last
 *    call. Strings and arrays returned by accessors live until destroy.
 *
 *  - Database (gsp_cgdb): queries over a file written by gsp_cg_write_db.
 *    A handle is used by one thread at a time. Row callbacks run on the
 *    calling thread; the strings they get are valid only during the call.
 *
 * All memory comes from gsp_malloc(). The library never prints.
 */
#ifndef GSPERF_CODEGRAPH_H
#define GSPERF_CODEGRAPH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gsperf/cache.h"
#include "gsperf/common.h"
#include "gsperf/exec.h"
#include "gsperf/tier.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum gsp_cg_lang {
  GSP_CG_LANG_NONE = 0,
  GSP_CG_LANG_C = 1,      /* .c .h */
  GSP_CG_LANG_PYTHON = 2, /* .py .pyi */
  GSP_CG_LANG_JS = 3,     /* .js .mjs .cjs .jsx */
  GSP_CG_LANG_TS = 4,     /* .ts .mts .cts (.d.ts included) */
  GSP_CG_LANG_TSX = 5,    /* .tsx */
  GSP_CG_LANG_JSON =
      6, /* package.json, tsconfig.json, jsconfig.json: entry points, paths, extends as imports */
} gsp_cg_lang;

/* Kinds of definitions. */
typedef enum gsp_cg_def_kind {
  GSP_CG_DEF_FUNCTION = 1, /* C function definition, Python def at module or function scope */
  GSP_CG_DEF_METHOD = 2,   /* Python def inside a class */
  GSP_CG_DEF_STRUCT = 3,   /* C struct/union/enum with a body, Python class */
  GSP_CG_DEF_TYPEDEF = 4,  /* C typedef */
  GSP_CG_DEF_GLOBAL = 5,   /* file-scope C variable, module-level Python assignment */
  GSP_CG_DEF_DECL = 6,     /* C function prototype (declaration without body) */
  GSP_CG_DEF_MACRO = 7,    /* C #define */
} gsp_cg_def_kind;

/* Kinds of references. */
typedef enum gsp_cg_ref_kind {
  GSP_CG_REF_CALL = 1, /* a call: f(), obj.f() */
  GSP_CG_REF_TYPE = 2, /* a type use: C type name or struct tag, Python base class or annotation */
} gsp_cg_ref_kind;

/* Kinds of imports. */
typedef enum gsp_cg_import_kind {
  GSP_CG_IMPORT_INCLUDE_QUOTED = 1, /* #include "x.h" */
  GSP_CG_IMPORT_INCLUDE_SYSTEM = 2, /* #include <x.h> */
  GSP_CG_IMPORT_MODULE = 3,         /* import a.b [as c]; JS: import * as c / require() /
                                       import() / side-effect import; package.json entry */
  GSP_CG_IMPORT_FROM = 4,           /* from [.]a.b import name [as c] / *; JS: import {name
                                       [as c]}, default import (name "default"), export
                                       ... from (level 1) */
} gsp_cg_import_kind;

typedef struct gsp_cg_def {
  const char *name;
  gsp_cg_def_kind kind;
  uint32_t line;  /* 1-based */
  int32_t parent; /* index of the enclosing definition in the same file, or -1 */
} gsp_cg_def;

typedef struct gsp_cg_ref {
  const char *name;      /* the called or used name (the attribute for obj.f()) */
  const char *qualifier; /* "obj" for obj.f() / mod.sub.f(), "" when none */
  gsp_cg_ref_kind kind;
  uint32_t line;
  int32_t scope; /* index of the enclosing definition, or -1 at file scope */
} gsp_cg_ref;

typedef struct gsp_cg_import {
  const char *module; /* include path as written, or dotted module without leading dots */
  const char *name;   /* from-import: the imported name ("*" for a wildcard), else "" */
  const char *alias;  /* "as" name, else "" */
  gsp_cg_import_kind kind;
  uint32_t level; /* Python relative level: number of leading dots; JS/TS: 1 for a
                     re-export (export ... from) */
  uint32_t line;
} gsp_cg_import;

/* ---- parser and per-file result ------------------------------------------- */

typedef struct gsp_cg_parser gsp_cg_parser;
typedef struct gsp_cg_result gsp_cg_result;

/* The language of a path by its extension, GSP_CG_LANG_NONE if not a source file. */
GSP_API gsp_cg_lang gsp_cg_lang_of_path(const char *path);
/* "c", "python", "javascript", "typescript", "tsx", "json" or "none". */
GSP_API const char *gsp_cg_lang_name(gsp_cg_lang lang);
GSP_API const char *gsp_cg_def_kind_name(gsp_cg_def_kind k);
GSP_API const char *gsp_cg_ref_kind_name(gsp_cg_ref_kind k);
GSP_API const char *gsp_cg_import_kind_name(gsp_cg_import_kind k);

/*
 * A parser for every supported language. Errors: GSP_EINVAL, GSP_ENOMEM,
 * GSP_ENOTSUP (a grammar's ABI is outside the tree-sitter runtime's range).
 */
GSP_API int gsp_cg_parser_create(gsp_cg_parser **out);
GSP_API void gsp_cg_parser_destroy(gsp_cg_parser *p);

/*
 * Parse src[0, len) as lang and extract its definitions, references and
 * imports into a new result. Syntax errors do not fail the call: what can be
 * extracted is, and gsp_cg_result_has_error() says so. Errors: GSP_EINVAL
 * (bad language), GSP_ENOMEM, GSP_EOVERFLOW (more than 4 GiB of names).
 */
GSP_API int gsp_cg_parse(gsp_cg_parser *p, gsp_cg_lang lang, const char *src, size_t len,
                         gsp_cg_result **out);

/*
 * Serialized form: the result's bytes (valid until free; do not modify).
 * A result loaded from bytes is checked first: GSP_ECORRUPT for a bad
 * magic, version, checksum, count or string offset, GSP_ENOMEM.
 */
GSP_API const void *gsp_cg_result_bytes(const gsp_cg_result *r, size_t *len);
GSP_API int gsp_cg_result_load(const void *buf, size_t len, gsp_cg_result **out);
GSP_API void gsp_cg_result_free(gsp_cg_result *r);

GSP_API gsp_cg_lang gsp_cg_result_lang(const gsp_cg_result *r);
GSP_API bool gsp_cg_result_has_error(const gsp_cg_result *r);
GSP_API uint32_t gsp_cg_result_lines(const gsp_cg_result *r);
GSP_API size_t gsp_cg_result_ndefs(const gsp_cg_result *r);
GSP_API size_t gsp_cg_result_nrefs(const gsp_cg_result *r);
GSP_API size_t gsp_cg_result_nimports(const gsp_cg_result *r);
/* Fill *out with entry i (i below the count). */
GSP_API void gsp_cg_result_def(const gsp_cg_result *r, size_t i, gsp_cg_def *out);
GSP_API void gsp_cg_result_ref(const gsp_cg_result *r, size_t i, gsp_cg_ref *out);
GSP_API void gsp_cg_result_import(const gsp_cg_result *r, size_t i, gsp_cg_import *out);

/* ---- the graph -------------------------------------------------------------- */

typedef struct gsp_cg gsp_cg;

/* Progress, passed to the progress callback. */
typedef struct gsp_cg_progress {
  uint64_t files_done, files_total;
  uint64_t bytes_done, bytes_total;
  uint64_t elapsed_ns; /* since the parse stage began */
} gsp_cg_progress;

/*
 * Called from a worker thread at most every 100 ms during the parse stage,
 * never by two threads at once, and once more from the caller's thread
 * when the stage ends.
 */
typedef void (*gsp_cg_progress_fn)(void *user, const gsp_cg_progress *p);

/* Stages, as reported to the stage hook. */
typedef enum gsp_cg_stage {
  GSP_CG_STAGE_READ = 0,    /* one file read (per file) */
  GSP_CG_STAGE_PARSE = 1,   /* one file's result: store lookup, else parse + extract + put */
  GSP_CG_STAGE_IMPORTS = 2, /* import resolution, whole tree */
  GSP_CG_STAGE_TYPES = 3,   /* reference binding (symbol resolution), whole tree */
  GSP_CG_STAGE_GRAPH = 4,   /* file edges, components, order */
  GSP_CG_STAGE_DB = 5,      /* gsp_cg_write_db */
  GSP_CG_STAGES = 6
} gsp_cg_stage;

GSP_API const char *gsp_cg_stage_name(gsp_cg_stage s); /* "read", "parse", ... */

/*
 * Called when a stage (or, for READ and PARSE, one file's step) ends, with
 * its wall time, status and whether the store answered it (PARSE: the
 * result was found; IMPORTS/TYPES: the resolution was; READ: the stat
 * index vouched for the file, which was not read: 0 ns). READ and PARSE
 * hooks run on worker threads, several at once; the rest on the thread
 * that called gsp_cg_run / gsp_cg_write_db. No lock of the graph is held.
 */
typedef void (*gsp_cg_stage_fn)(void *user, gsp_cg_stage stage, uint64_t ns, int status,
                                bool cached);

/*
 * Parse farm: the parse stage handed to someone else (e.g. other MPI ranks,
 * see `gsperf analyze --distributed`). For each of n files the farm sets
 * res (a result the run then owns, or NULL when the file could not be
 * read: it is skipped) and hash (XXH3-128 of the content, canonical
 * bytes, as gsp_cg_parse_file computes it). path is relative to root.
 * Called once per run, on the thread that called gsp_cg_run; returns
 * GSP_OK or an error that fails the run. With a result store (store or
 * results, unless no_cache) the run first reads, hashes and looks up every
 * file itself (on exec) and hands the farm only the files the store does
 * not hold (n may be 0), then puts what the farm returns into the store.
 * With gsp_cg_config.farm_macros, a C file that learned annotation macros
 * from the headers it includes comes with their names (macros, nmacros;
 * owned by the run, valid during the call): the farm must parse it with
 * gsp_cg_parse_file_with and them. Without it they are NULL and 0.
 */
typedef struct gsp_cg_farm_file {
  const char *path;
  gsp_cg_lang lang;
  uint8_t hash[16];
  gsp_cg_result *res;
  const char *const *macros; /* NULL when nmacros is 0 */
  size_t nmacros;
} gsp_cg_farm_file;
typedef int (*gsp_cg_farm_fn)(void *user, const char *root, gsp_cg_farm_file *files, size_t n);

/*
 * Read the file at path (at most max_bytes; 0 = 16 MiB), hash its content
 * (hash as above) and parse it as lang. GSP_EIO when it cannot be read or
 * is too large, else as gsp_cg_parse. Thread safety: as gsp_cg_parse (one
 * parser per thread).
 */
GSP_API int gsp_cg_parse_file(gsp_cg_parser *p, const char *path, gsp_cg_lang lang,
                              size_t max_bytes, uint8_t hash[16], gsp_cg_result **out);
/*
 * gsp_cg_parse_file with the names macros[0, n) blanked as annotation
 * macros too (C only; what a file learned from the headers it includes,
 * as gsp_cg_farm_file hands them; n 0 = gsp_cg_parse_file). hash is still
 * the content's. GSP_EINVAL for a NULL name or macros NULL with n > 0.
 */
GSP_API int gsp_cg_parse_file_with(gsp_cg_parser *p, const char *path, gsp_cg_lang lang,
                                   size_t max_bytes, const char *const *macros, size_t n,
                                   uint8_t hash[16], gsp_cg_result **out);

/*
 * Memory strategy of a run. DEFAULT favours speed: SQLite's page cache of
 * 64 MiB and its sorts in memory while the database is written.
 * AGGRESSIVE favours memory, with the same graph and the same database
 * file, byte for byte:
 *  - parsing: a file whose estimated tree-sitter tree (its size times 20
 *    for C, 32 for the other grammars) reaches 1 MiB is parsed only while
 *    the large trees in flight stay within an 8 MiB budget, or alone when
 *    it is larger than the budget; it is deferred meanwhile (read again
 *    later) and the worker goes on with other files, so small files never
 *    wait. Before and after a parse whose estimate reaches 4 MiB, and when
 *    the parse stage ends, malloc_trim(0) returns the free pages of every
 *    malloc arena (not under a sanitizer runtime). Read buffers larger
 *    than 256 KiB are freed after their file.
 *  - database: a 4 MiB page cache and sorts that spill to temporary files.
 * malloc_trim acts on the whole process's C heap: an application that
 * shares the process gets its free pages returned too. Callers that own
 * the result store and SQLite's process-wide limits bound them too
 * (`gsperf analyze --memory aggressive`: L1 of 1 MiB, no L2, LZ4 in L3,
 * sqlite3_soft_heap_limit64 of 1 MiB).
 */
typedef enum gsp_cg_memory {
  GSP_CG_MEMORY_DEFAULT = 0,
  GSP_CG_MEMORY_AGGRESSIVE = 1,
} gsp_cg_memory;

typedef struct gsp_cg_config {
  const char *root;                /* directory to analyze; NULL = "." */
  const char *const *include_dirs; /* C include search path after the file's own
                                      directory, before the root; absolute or
                                      relative to root */
  size_t n_include_dirs;
  unsigned jobs;              /* threads when exec is NULL: the caller plus jobs - 1
                                 pool workers (1 = no pool); 0 = the CPUs available */
  gsp_exec *exec;             /* pool to run on (its workers and the caller); NULL =
                                 a private pool sized by `jobs` */
  gsp_cache *results;         /* per-file results by content hash (the caller's
                                 cache survives across runs); NULL = none */
  gsp_tier *store;            /* persistent store (the caller's multi-level cache,
                                 e.g. L3 in a cache directory): per-file results by
                                 content hash, and the resolution of a whole tree by
                                 the hash of every path, content hash and include
                                 directory; used instead of `results` when set.
                                 Called from worker threads (the tier is thread-safe). */
  bool no_cache;              /* parse every file, store nothing */
  size_t max_file_bytes;      /* larger files are skipped; 0 = 16 MiB */
  gsp_io *io;                 /* read files on this I/O executor: each worker reads its
                                 next file there while it parses the current one;
                                 NULL = read(2) on the worker */
  gsp_cg_stage_fn stage_hook; /* NULL = none */
  void *stage_user;
  gsp_cg_progress_fn progress;
  void *progress_user;
  gsp_cg_farm_fn farm; /* parse stage done by this farm; NULL = on the pool */
  void *farm_user;
  gsp_cg_memory memory; /* see gsp_cg_memory; 0 = DEFAULT */
  const char *db;       /* write the database to this file during the run, as
                           gsp_cg_write_db would after it: a thread of its own
                           writes each table as soon as its rows are known
                           (symbols while files are parsed), and gsp_cg_run
                           returns once the file is in place (its errors are the
                           run's). gsp_cg_write_db with the same path then
                           returns that outcome. NULL = none */
  bool no_stat_index;   /* with a store in a cache directory, a file whose (device,
                           inode, size, mtime, ctime) are those recorded when it
                           was last hashed, and not racy, is looked up by that
                           hash without being read (the stat index, kept beside
                           the store: stat-*.idx); true = read and hash every file
                           and keep no index (a file system whose stat cannot be
                           trusted). Off with no_cache anyway. */
  bool farm_macros;     /* the farm parses each C file with the annotation macros
                           its gsp_cg_farm_file names (gsp_cg_parse_file_with), so
                           a farmed graph equals a local one; false = files are
                           handed without them and keyed and parsed as if none
                           were learned (a farm that ignores them then never
                           stores a result under a key it did not honour) */
} gsp_cg_config;

/* Per-stage wall times and totals of one run. */
typedef struct gsp_cg_stats {
  uint64_t files, bytes, lines;
  uint64_t files_c, files_python, files_with_errors, files_skipped;
  uint64_t defs, refs, refs_resolved;
  uint64_t imports, imports_resolved;
  uint64_t file_edges;   /* distinct file -> file import edges */
  uint64_t symbol_edges; /* resolved references (call and use edges) */
  uint64_t cycles;       /* strongly connected components with more than one
                            file, or a file that imports itself */
  uint64_t files_in_cycles;
  uint64_t parsed; /* files parsed in this run (the rest came from the cache) */
  uint64_t cache_hits, cache_misses;
  bool resolve_cached; /* resolution came from the store (inputs unchanged) */
  bool db_unchanged;   /* gsp_cg_write_db found the file already written from
                          the same inputs and left it as it was */
  uint64_t walk_ns, parse_ns, resolve_ns, graph_ns;
  unsigned workers; /* threads that ran the parallel stages (pool workers + caller) */

  uint64_t db_ns;              /* database: with cfg.db, the wait for it after the graph
                                  (what did not overlap the run); else gsp_cg_write_db's time */
  uint64_t db_cpu_ns;          /* CPU time the database write took (its thread) */
  uint64_t db_tail_cpu_ns;     /* of it, what ran after the graph was built (all of it
                                  without cfg.db): the part that did not overlap */
  uint64_t files_reresolved;   /* files whose references this run bound: every read
                                  file, or with a stored resolution of the same files
                                  only those that reach a changed file through imports
                                  (0 when the resolution came whole from the store) */
  bool resolve_incremental;    /* part of the resolution came from the store */
  uint64_t defs_indexed;       /* definitions the reference binding indexed: all of
                                  them, or in an incremental run only those of the
                                  rebound files and the files their imports reach */
  uint64_t reads_async;        /* with cfg.io: reads handed to the I/O executor because
                                  they would have blocked (file not in the page cache) */
  uint64_t files_js, files_ts; /* JavaScript; TypeScript (.ts and .tsx) */
  uint64_t files_json;         /* package.json, tsconfig/jsconfig files */
  uint64_t db_rows;            /* database rows the write inserted, updated or deleted */
  bool db_incremental;         /* the database at cfg.db (or gsp_cg_write_db's path) was
                                  updated in place: only the difference was written */
  uint64_t files_stat_known;   /* files the stat index vouched for: neither read nor
                                  hashed, their result looked up by the content hash
                                  recorded with the same (device, inode, size, mtime,
                                  ctime) in an earlier run (docs/codegraph.md) */
} gsp_cg_stats;

/* Errors: GSP_EINVAL, GSP_ENOMEM. cfg is copied (its strings too). */
GSP_API int gsp_cg_create(const gsp_cg_config *cfg, gsp_cg **out);
GSP_API void gsp_cg_destroy(gsp_cg *cg);
/* Detail of the last failure (names the file), "" if none. */
GSP_API const char *gsp_cg_errmsg(const gsp_cg *cg);
/* A problem the last run worked around without failing, "" if none: today
 * a stat index in the cache directory that was damaged or could not be
 * written (the run then read and hashed every file, and its graph is the
 * same), or an include memo that could not be written. The text names the
 * path and, for a write, errno's text; several are joined with "; ". Also
 * sent to the log sink (warn, module "codegraph"). Same thread rules as
 * gsp_cg_errmsg. */
GSP_API const char *gsp_cg_warning(const gsp_cg *cg);

/*
 * Walk, parse, resolve and build the graph. Once only per handle.
 * Errors: GSP_ENOENT / GSP_EIO (root unreadable), GSP_ENOMEM, GSP_ENOTSUP
 * (grammar ABI), GSP_ESTATE (run twice). An unreadable file below the root
 * is skipped and counted in files_skipped, not an error.
 */
GSP_API int gsp_cg_run(gsp_cg *cg);

GSP_API void gsp_cg_stats_get(const gsp_cg *cg, gsp_cg_stats *out);

/* Files are numbered 0..n-1 in byte order of their paths (relative to root). */
GSP_API size_t gsp_cg_nfiles(const gsp_cg *cg);
GSP_API const char *gsp_cg_file_path(const gsp_cg *cg, size_t f);
/* The file's index, or -1 if there is no such file. */
GSP_API long gsp_cg_file_find(const gsp_cg *cg, const char *path);
GSP_API const gsp_cg_result *gsp_cg_file_result(const gsp_cg *cg, size_t f);
/* The XXH3-128 content hash, 16 bytes, big-endian (high half first); for a
 * C file parsed with names learned from its includes, the XXH3-128 of that
 * content hash and the names' key (docs/codegraph.md, "Macros from included
 * headers"). */
GSP_API const uint8_t *gsp_cg_file_hash(const gsp_cg *cg, size_t f);

/* Import i of file f resolved to a file index, or -1. */
GSP_API long gsp_cg_import_target(const gsp_cg *cg, size_t f, size_t i);
/* Reference i of file f bound to a definition: true and (*tf, *td). */
GSP_API bool gsp_cg_ref_target(const gsp_cg *cg, size_t f, size_t i, size_t *tf, size_t *td);

/*
 * What the graph could not follow: the import specifiers left unresolved,
 * most frequent first (ties: language, then specifier). Up to k of them
 * into out (*nout set), and how many distinct ones there are (*ndistinct,
 * may be NULL). Settings and patterns of package.json/tsconfig files are
 * not specifiers. The strings live as long as cg. After gsp_cg_run; may
 * run while other threads read cg. GSP_EINVAL (NULL cg/out/nout),
 * GSP_ENOMEM.
 */
typedef struct gsp_cg_unresolved {
  const char *module;  /* the specifier as written */
  gsp_cg_lang lang;    /* C, PYTHON, or JS for JavaScript, TypeScript and their JSON files */
  uint32_t count;      /* imports naming it */
  uint32_t first_file; /* the first file, in path order, that does */
} gsp_cg_unresolved;
GSP_API int gsp_cg_unresolved_top(const gsp_cg *cg, size_t k, gsp_cg_unresolved *out, size_t *nout,
                                  size_t *ndistinct);

/* Files f imports (sorted, distinct) and files that import f. */
GSP_API const uint32_t *gsp_cg_deps(const gsp_cg *cg, size_t f, size_t *n);
GSP_API const uint32_t *gsp_cg_rdeps(const gsp_cg *cg, size_t f, size_t *n);

/* Strongly connected component of file f; components are numbered in a
 * topological order of the condensation: a component's dependencies have
 * higher numbers (dependencies come later; reverse it for build order). */
GSP_API size_t gsp_cg_ncomponents(const gsp_cg *cg);
GSP_API size_t gsp_cg_component_of(const gsp_cg *cg, size_t f);
/* Files of component c (sorted). */
GSP_API const uint32_t *gsp_cg_component(const gsp_cg *cg, size_t c, size_t *n);
GSP_API bool gsp_cg_component_is_cycle(const gsp_cg *cg, size_t c);

/* Up to k files with the most importers (ties by path), into out; returns the count. */
GSP_API size_t gsp_cg_top_depended(const gsp_cg *cg, size_t k, uint32_t *out);
/*
 * Every file that depends on f transitively (f excluded), sorted, in a new
 * array from gsp_malloc the caller frees. Errors: GSP_EINVAL, GSP_ENOMEM.
 */
GSP_API int gsp_cg_impact(const gsp_cg *cg, size_t f, uint32_t **out, size_t *n);

/*
 * Write the graph to a SQLite file at path. Schema (version 4) in
 * docs/codegraph.md and db.c. A file at path whose meta table says it was
 * written by this gsperf version from the same root and the same inputs
 * (every path, language, content hash and include directory) holds this
 * very graph: it is left alone (stats db_unchanged). One from the same root
 * and version but other inputs is updated in place, in one transaction
 * under a rollback journal (a killed process leaves the old or the new
 * graph), by the rows that differ (stats db_incremental, db_rows); any
 * other file (absent, older schema, other root) is written anew to
 * path.tmp and renamed over path. Both ways give the same rows.
 * gsp_cg_config.db writes the same file during gsp_cg_run instead (then
 * this call with that path returns the run's outcome). Not thread-safe on
 * one path. Errors: GSP_EIO (with the SQLite message in errmsg),
 * GSP_ENOMEM, GSP_EOVERFLOW (a file with 2^24 or more definitions,
 * imports or references).
 */
GSP_API int gsp_cg_write_db(gsp_cg *cg, const char *path, uint64_t *elapsed_ns);

/* ---- queries over a database file --------------------------------------------- */

typedef struct gsp_cgdb gsp_cgdb;

/* One result row: ncols strings (never NULL) named by the query's columns. */
typedef void (*gsp_cgdb_row_fn)(void *user, size_t ncols, const char *const *cols);

/* Open for reading (read-write when allowed, so a journal left by a killed
 * update is rolled back first). Errors: GSP_ENOENT, GSP_ECORRUPT (not a
 * code-graph DB), GSP_ENOTSUP (an older schema version: analyze again),
 * GSP_ENOMEM. */
GSP_API int gsp_cgdb_open(const char *path, gsp_cgdb **out);
GSP_API void gsp_cgdb_close(gsp_cgdb *db);
GSP_API const char *gsp_cgdb_errmsg(const gsp_cgdb *db);

/*
 * Queries. Each calls row() once per result row, in a stable order, and
 * sets *cols (if not NULL) to its NULL-terminated column names. GSP_ENOENT
 * when FILE is not in the database (errmsg names it).
 *   deps FILE      path, line, module          files FILE imports
 *   rdeps FILE     path, line, module          files importing FILE
 *   cycles         cycle, path                 files of each import cycle
 *   symbol NAME    path, line, kind, parent    definitions named NAME
 *   callers NAME   path, line, caller, target  calls to NAME (target = defining
 *                                              file, "" when unresolved)
 *   impact FILE    path                        files depending on FILE through
 *                                              imports, transitively (FILE excluded)
 */
typedef enum gsp_cgdb_query {
  GSP_CGDB_DEPS = 1,
  GSP_CGDB_RDEPS = 2,
  GSP_CGDB_CYCLES = 3,
  GSP_CGDB_SYMBOL = 4,
  GSP_CGDB_CALLERS = 5,
  GSP_CGDB_IMPACT = 6,
} gsp_cgdb_query;

GSP_API int gsp_cgdb_run(gsp_cgdb *db, gsp_cgdb_query q, const char *arg, const char *const **cols,
                         gsp_cgdb_row_fn row, void *user);

#ifdef __cplusplus
}
#endif

#endif /* GSPERF_CODEGRAPH_H */
