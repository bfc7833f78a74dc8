/*
 * cmd_report.c - `gsperf report FILE`: render a saved optimization report
 * (the JSON of gsp_opt_report_json) as text tables; `-` reads stdin.
 * `--json` checks the file and prints it back unchanged.
 */
#include <stdio.h>
#include <string.h>

#include "cmd.h"
#include "gsperf/optimize.h"

static void usage(FILE *out) {
  fprintf(out,
          "usage: gsperf report [--json] FILE\n"
          "  Render a saved optimization report (JSON, as written by the engine's\n"
          "  gsp_opt_report_json) as text tables. FILE '-' reads standard input.\n"
          "  --json  check that FILE is a report and print its JSON unchanged\n");
}

/* Read all of fp into a gsp_malloc'd NUL-terminated buffer. */
static char *slurp(FILE *fp) {
  size_t len = 0, cap = 65536;
  char *buf = gsp_malloc(cap);
  while (buf != NULL) {
    size_t n = fread(buf + len, 1, cap - len - 1, fp);
    len += n;
    if (n == 0) break;
    if (len + 1 == cap) {
      char *nb = gsp_realloc(buf, cap * 2);
      if (nb == NULL) {
        gsp_free(buf);
        return NULL;
      }
      buf = nb;
      cap *= 2;
    }
  }
  if (buf != NULL) buf[len] = '\0';
  return buf;
}

static int render(const char *path, bool as_json) {
  FILE *fp = strcmp(path, "-") == 0 ? stdin : fopen(path, "re");
  if (fp == NULL) {
    fprintf(stderr, "gsperf report: %s: cannot open\n", path);
    return 1;
  }
  char *json = slurp(fp);
  bool read_err = ferror(fp) != 0;
  if (fp != stdin) (void)fclose(fp);
  if (json == NULL || read_err) {
    fprintf(stderr, "gsperf report: %s: cannot read\n", path);
    gsp_free(json);
    return 1;
  }
  char *text = NULL, err[256] = "";
  int rv = gsp_opt_report_text(json, &text, err, sizeof err);
  if (rv != GSP_OK) {
    fprintf(stderr, "gsperf report: %s: %s\n", path, err[0] ? err : gsp_strerror(rv));
    gsp_free(json);
    return 1;
  }
  fputs(as_json ? json : text, stdout);
  gsp_free(text);
  gsp_free(json);
  return 0;
}

int gsp_cmd_report(int argc, char **argv) {
  bool as_json = false;
  const char *path = NULL;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
      usage(stdout);
      return 0;
    }
    if (strcmp(argv[i], "--json") == 0) {
      as_json = true;
    } else if (argv[i][0] == '-' && argv[i][1] != '\0') {
      fprintf(stderr, "gsperf report: unknown option '%s'\n", argv[i]);
      usage(stderr);
      return 2;
    } else if (path == NULL) {
      path = argv[i];
    } else {
      fprintf(stderr, "gsperf report: more than one FILE\n");
      return 2;
    }
  }
  if (path == NULL) {
    usage(stderr);
    return 2;
  }
  return render(path, as_json);
}
