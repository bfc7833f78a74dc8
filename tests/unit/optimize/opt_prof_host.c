/*
 * opt_prof_host.c - a host for the report's preload-profile discovery:
 *   opt_prof_host preload|none
 * burns CPU in a named function, then asks its engine for reports (no
 * profile lent, none started in-process) until the profiler part says
 * what the mode expects: "preload" - available, "source":"preload", with
 * samples and the burning function among the top functions (run under
 * `gsperf profile`'s preload library, GSP_PROF_DIR set); "none" -
 * unavailable. Prints the last profiler part; exit 0 when it matched
 * (within 10 s), 1 otherwise.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "gsperf/optimize.h"

static _Atomic unsigned long g_sink;

static double cpu_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

__attribute__((noinline)) static void preload_found_hot(double cpu_s) {
  unsigned long x = atomic_load(&g_sink) + 1;
  double end = cpu_now() + cpu_s;
  while (cpu_now() < end)
    for (int i = 0; i < 2000; i++) x = x * 6364136223846793005ul + 1;
  atomic_store(&g_sink, x);
}

static bool matches(const char *js, bool want_preload) {
  if (!want_preload) return strstr(js, "\"profiler\":{\"available\":false") != NULL;
  return strstr(js, "\"profiler\":{\"available\":true") != NULL &&
         strstr(js, "\"source\":\"preload\"") != NULL &&
         strstr(js, "\"name\":\"preload_found_hot") != NULL;
}

int main(int argc, char **argv) {
  if (argc != 2 || (strcmp(argv[1], "preload") != 0 && strcmp(argv[1], "none") != 0)) {
    fprintf(stderr, "usage: opt_prof_host preload|none\n");
    return 2;
  }
  bool want = strcmp(argv[1], "preload") == 0;
  gsp_opt_engine *e = NULL;
  if (gsp_opt_engine_create(NULL, &e) != GSP_OK) return 1;
  preload_found_hot(0.3);
  char *js = NULL;
  bool ok = false;
  for (int i = 0; i < 100 && !ok; i++) {
    gsp_free(js);
    js = NULL;
    if (gsp_opt_report_json(e, &js, NULL) != GSP_OK) break;
    ok = matches(js, want);
    if (!ok) nanosleep(&(struct timespec){0, 100000000L}, NULL);
  }
  const char *pf = js ? strstr(js, "\"profiler\"") : NULL;
  printf("%s", pf ? pf : "(no report)\n");
  gsp_free(js);
  gsp_opt_engine_destroy(e);
  return ok ? 0 : 1;
}
