/*
 * cmd_query.c - `gsperf query DB QUERY [ARG] [--json]`: answer a question
 * from a code-graph database written by `gsperf analyze --db`.
 *
 * Rows are printed tab-separated, one per line, or as a JSON array of
 * objects keyed by the query's column names. Exit 0 with rows or none,
 * 1 when the database or the file named cannot be found, 2 bad usage.
 */
#include <stdio.h>
#include <string.h>

#include "cmd.h"
#include "gsperf/codegraph.h"

typedef struct out_state {
  bool json;
  size_t rows;
  const char *const *cols;
} out_state;

static void help(void) {
  printf(
      "usage: gsperf query DB deps FILE | rdeps FILE | impact FILE | cycles | symbol NAME\n"
      "                    | callers NAME [--json]\n\n"
      "  deps FILE     files FILE imports        (path, line, module)\n"
      "  rdeps FILE    files that import FILE    (path, line, module)\n"
      "  impact FILE   files depending on FILE, transitively (path)\n"
      "  cycles        files of each import cycle (cycle, path)\n"
      "  symbol NAME   definitions named NAME    (path, line, kind, parent)\n"
      "  callers NAME  calls to NAME             (path, line, caller, target file)\n\n"
      "FILE is a path relative to the analyzed directory. Rows are tab-separated;\n"
      "--json prints an array of objects instead.\n"
      "Exit: 0 answered, 1 no such database or file, 2 bad usage.\n");
}

static void json_str(const char *s) {
  putchar('"');
  for (; *s; s++) {
    unsigned char c = (unsigned char)*s;
    if (c == '"' || c == '\\')
      printf("\\%c", c);
    else if (c < 0x20)
      printf("\\u%04x", c);
    else
      putchar(c);
  }
  putchar('"');
}

static void print_row(void *user, size_t ncols, const char *const *vals) {
  out_state *o = user;
  if (!o->json) {
    for (size_t i = 0; i < ncols; i++) printf("%s%s", i ? "\t" : "", vals[i]);
    putchar('\n');
  } else {
    printf("%s\n  {", o->rows ? "," : "");
    for (size_t i = 0; i < ncols; i++) {
      printf("%s\"%s\": ", i ? ", " : "", o->cols[i]);
      bool num = strcmp(o->cols[i], "line") == 0 || strcmp(o->cols[i], "cycle") == 0;
      if (num)
        printf("%s", vals[i][0] ? vals[i] : "null");
      else
        json_str(vals[i]);
    }
    putchar('}');
  }
  o->rows++;
}

static int parse_query(const char *name, gsp_cgdb_query *q) {
  static const struct {
    const char *name;
    gsp_cgdb_query q;
  } names[] = {{"deps", GSP_CGDB_DEPS},       {"rdeps", GSP_CGDB_RDEPS},
               {"cycles", GSP_CGDB_CYCLES},   {"symbol", GSP_CGDB_SYMBOL},
               {"callers", GSP_CGDB_CALLERS}, {"impact", GSP_CGDB_IMPACT}};
  for (size_t i = 0; i < sizeof names / sizeof *names; i++)
    if (strcmp(name, names[i].name) == 0) return *q = names[i].q, 0;
  return -1;
}

int gsp_cmd_query(int argc, char **argv) {
  const char *pos[3] = {0};
  size_t npos = 0;
  out_state o = {0};
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) return help(), 0;
    if (strcmp(argv[i], "--json") == 0)
      o.json = true;
    else if (argv[i][0] == '-' && argv[i][1] != '\0')
      return fprintf(stderr, "gsperf query: unknown option '%s'\n", argv[i]), 2;
    else if (npos < 3)
      pos[npos++] = argv[i];
    else
      return fprintf(stderr, "gsperf query: unexpected argument '%s'\n", argv[i]), 2;
  }
  gsp_cgdb_query q;
  if (npos < 2 || parse_query(pos[1], &q) != 0) {
    fprintf(stderr,
            "gsperf query: want DB and one of deps, rdeps, impact, cycles, symbol, callers\n"
            "(see 'gsperf query --help')\n");
    return 2;
  }
  if ((q == GSP_CGDB_CYCLES) != (npos == 2)) {
    fprintf(stderr, "gsperf query: '%s' %s\n", pos[1],
            q == GSP_CGDB_CYCLES ? "takes no argument" : "needs an argument");
    return 2;
  }
  gsp_cgdb *db = NULL;
  int rv = gsp_cgdb_open(pos[0], &db);
  if (rv != GSP_OK) {
    fprintf(stderr, "gsperf query: %s: %s\n", pos[0],
            rv == GSP_ECORRUPT  ? "not a gsperf code-graph database"
            : rv == GSP_ENOTSUP ? "written by an older gsperf (an older schema version); run"
                                  " 'gsperf analyze --db' again to rebuild it"
                                : gsp_strerror(rv));
    return 1;
  }
  if (o.json) printf("[");
  rv = gsp_cgdb_run(db, q, pos[2], &o.cols, print_row, &o);
  if (o.json && rv == GSP_OK) printf("%s]\n", o.rows ? "\n" : "");
  if (rv != GSP_OK) fprintf(stderr, "gsperf query: %s\n", gsp_cgdb_errmsg(db));
  gsp_cgdb_close(db);
  return rv == GSP_OK ? 0 : 1;
}
