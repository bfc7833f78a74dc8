/*
 * optimize_codebase_operations.c - the seed's
 *
 *   integration = get_performance_integration()
 *   integration.optimize_codebase_operations()
 *
 *   @optimize_file_ops   def parse_file(filepath): ...
 *   @optimize_types      def resolve_type(symbol): ...
 *   @optimize_graph      def analyze_dependencies(graph): ...
 *
 * in C, on real files: every operation of a small code-analysis pipeline
 * is registered with the strategy that fits it (reading files: IO, its
 * batch overlapping the blocking reads; counting #include lines: CPU;
 * looking a header up: LATENCY, cached, with a deadline), then the
 * pipeline runs over the .c files of a directory (GSP_EXAMPLE_DIR, else
 * "."), twice: the second pass is served from the caches. (The code graph
 * module will register its own operations the same way.)
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gsperf/optimize.h"

static int read_file(void *user, const void *arg, size_t n, void **out, size_t *outlen) {
  (void)user;
  char path[1024];
  if (n >= sizeof path) return GSP_EINVAL;
  memcpy(path, arg, n);
  path[n] = '\0';
  FILE *fp = fopen(path, "rb");
  if (fp == NULL) return GSP_EIO;
  size_t cap = 1 << 16, len = 0;
  char *buf = gsp_malloc(cap);
  size_t got;
  while (buf != NULL && (got = fread(buf + len, 1, cap - len, fp)) > 0) {
    len += got;
    if (len == cap) {
      char *nb = gsp_realloc(buf, cap *= 2);
      if (nb == NULL) gsp_free(buf);
      buf = nb;
    }
  }
  fclose(fp);
  if (buf == NULL) return GSP_ENOMEM;
  *out = buf;
  *outlen = len;
  return GSP_OK;
}

static int count_includes(void *user, const void *arg, size_t n, void **out, size_t *outlen) {
  (void)user;
  const char *s = arg;
  uint32_t *count = gsp_calloc(1, sizeof *count);
  if (count == NULL) return GSP_ENOMEM;
  for (size_t i = 0; i + 8 <= n; i++)
    if ((i == 0 || s[i - 1] == '\n') && memcmp(s + i, "#include", 8) == 0) (*count)++;
  *out = count;
  *outlen = sizeof *count;
  return GSP_OK;
}

static int resolve_header(void *user, const void *arg, size_t n, void **out, size_t *outlen) {
  (void)user;
  const char *kind = (n > 7 && memcmp(arg, "gsperf/", 7) == 0) ? "project" : "system";
  char *r = gsp_malloc(8);
  if (r == NULL) return GSP_ENOMEM;
  snprintf(r, 8, "%s", kind);
  *out = r;
  *outlen = strlen(r) + 1;
  return GSP_OK;
}

typedef struct ops {
  gsp_opt_func *read, *count, *resolve;
} ops;

static int optimize_codebase_operations(gsp_opt_engine *e, ops *o) {
  int rv = gsp_opt_register(e, "file_ops.read_file", read_file, NULL,
                            &(gsp_opt_func_opts){.strategy = GSP_OPT_IO, .cache = "file_contents"},
                            &o->read);
  if (rv == GSP_OK)
    rv = gsp_opt_register(e, "parsing.count_includes", count_includes, NULL,
                          &(gsp_opt_func_opts){.strategy = GSP_OPT_CPU}, &o->count);
  if (rv == GSP_OK)
    rv = gsp_opt_register(
        e, "types.resolve_header", resolve_header, NULL,
        &(gsp_opt_func_opts){
            .strategy = GSP_OPT_LATENCY, .cache = "type_resolution", .timeout_ms = 1000},
        &o->resolve);
  return rv;
}

static int list_sources(const char *dir, char (*paths)[512], gsp_opt_arg *args, int max) {
  DIR *d = opendir(dir);
  if (d == NULL) return 0;
  int n = 0;
  for (struct dirent *de; n < max && (de = readdir(d)) != NULL;) {
    size_t len = strlen(de->d_name);
    if (len < 3 || strcmp(de->d_name + len - 2, ".c") != 0) continue;
    int w = snprintf(paths[n], 512, "%s/%s", dir, de->d_name);
    if (w <= 0 || w >= 512) continue;
    args[n] = (gsp_opt_arg){paths[n], (size_t)w};
    n++;
  }
  closedir(d);
  return n;
}

static int pipeline(ops *o, gsp_opt_arg *files, int n, uint32_t *includes) {
  gsp_opt_result contents[64], counts[64];
  int rv = gsp_opt_call_batch(o->read, files, (size_t)n, contents); /* overlapping reads */
  gsp_opt_arg texts[64];
  for (int i = 0; i < n; i++) texts[i] = (gsp_opt_arg){contents[i].data, contents[i].len};
  if (rv == GSP_OK) rv = gsp_opt_call_batch(o->count, texts, (size_t)n, counts); /* CPU */
  *includes = 0;
  for (int i = 0; i < n; i++) {
    if (rv == GSP_OK) *includes += *(const uint32_t *)counts[i].data;
    gsp_opt_result_release(&counts[i]);
    gsp_opt_result_release(&contents[i]);
  }
  gsp_opt_result r;
  if (rv == GSP_OK) rv = gsp_opt_call(o->resolve, "gsperf/optimize.h", 17, &r);
  gsp_opt_result_release(&r);
  return rv;
}

int main(void) {
  const char *dir = getenv("GSP_EXAMPLE_DIR") ? getenv("GSP_EXAMPLE_DIR") : ".";
  gsp_opt_engine *engine = NULL;
  char err[256] = "";
  if (gsp_opt_default(&engine, err, sizeof err) != GSP_OK) return 1;
  ops o;
  if (optimize_codebase_operations(engine, &o) != GSP_OK) {
    fprintf(stderr, "%s\n", gsp_opt_errmsg(engine));
    return 1;
  }
  static char paths[64][512];
  gsp_opt_arg files[64];
  int n = list_sources(dir, paths, files, 64);
  uint32_t inc1 = 0, inc2 = 0;
  int rv = pipeline(&o, files, n, &inc1);
  if (rv == GSP_OK) rv = pipeline(&o, files, n, &inc2);
  gsp_opt_func_stats st;
  gsp_opt_func_stats_get(o.read, &st);
  printf("%d source files in %s: %u #include lines (second pass: %u)\n", n, dir, inc1, inc2);
  printf("read_file: %llu calls, %llu served from cache\n", (unsigned long long)st.calls,
         (unsigned long long)st.cache_hits);
  gsp_opt_default_shutdown();
  return rv == GSP_OK && n > 0 && inc1 == inc2 && st.cache_hits == (uint64_t)n ? 0 : 1;
}
