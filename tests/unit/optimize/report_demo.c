/*
 * report_demo.c - writes an optimization report (JSON) of a small engine
 * to the file named by argv[1], for the `gsperf report` end-to-end test.
 */
#include <stdio.h>
#include <string.h>

#include "gsperf/optimize.h"

static int twice(void *user, const void *arg, size_t n, void **out, size_t *outlen) {
  (void)user;
  if (n == 0) return GSP_EINVAL;
  char *r = gsp_malloc(2 * n);
  if (r == NULL) return GSP_ENOMEM;
  memcpy(r, arg, n);
  memcpy(r + n, arg, n);
  *out = r;
  *outlen = 2 * n;
  return GSP_OK;
}

int main(int argc, char **argv) {
  if (argc != 2) return 2;
  gsp_opt_engine *e = NULL;
  gsp_opt_func *f = NULL;
  if (gsp_opt_engine_create(NULL, &e) != GSP_OK) return 1;
  if (gsp_opt_register(e, "demo.twice", twice, NULL, NULL, &f) != GSP_OK) return 1;
  gsp_opt_result r;
  const char *args[] = {"ab", "ab", "ab", "cd", ""};
  for (int i = 0; i < 5; i++) {
    (void)gsp_opt_call(f, args[i], strlen(args[i]), &r);
    gsp_opt_result_release(&r);
  }
  char *json = NULL;
  if (gsp_opt_report_json(e, &json, NULL) != GSP_OK) return 1;
  FILE *fp = fopen(argv[1], "w");
  int rc = fp != NULL && fputs(json, fp) >= 0 && fclose(fp) == 0 ? 0 : 1;
  gsp_free(json);
  gsp_opt_engine_destroy(e);
  return rc;
}
