/*
 * main.c - the gsperf command-line tool: global options, then dispatch to
 * one verb (cli/cmd_<verb>.c). Exit codes: 0 success, 1 the work failed,
 * 2 bad usage.
 */
#include <stdio.h>
#include <string.h>

#include "cmd.h"
#include "gsperf/common.h"

typedef struct verb {
  const char *name;
  int (*run)(int argc, char **argv);
  const char *summary;
} verb;

static const verb verbs[] = {
#define GSP_VERB(name, fn, summary) {name, fn, summary},
#include "cli_verbs.h"
#undef GSP_VERB
};

static void usage(FILE *out) {
  fprintf(out,
          "usage: gsperf [--version] [--help] <command> [args]\n\n"
          "commands:\n");
  for (size_t i = 0; i < sizeof verbs / sizeof *verbs; i++)
    fprintf(out, "  %-10s %s\n", verbs[i].name, verbs[i].summary);
  fprintf(out, "\n'gsperf <command> --help' describes a command.\n");
}

int main(int argc, char **argv) {
  if (argc < 2) {
    usage(stderr);
    return 2;
  }
  if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "-V") == 0) {
    printf("gsperf %s\n", GSP_VERSION_STRING);
    return 0;
  }
  if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
      strcmp(argv[1], "help") == 0) {
    usage(stdout);
    return 0;
  }
  for (size_t i = 0; i < sizeof verbs / sizeof *verbs; i++)
    if (strcmp(argv[1], verbs[i].name) == 0) return verbs[i].run(argc - 1, argv + 1);
  fprintf(stderr, "gsperf: unknown command '%s'\n\n", argv[1]);
  usage(stderr);
  return 2;
}
