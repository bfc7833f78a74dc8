/*
 * apply_performance_optimizations.c - the seed's
 *
 *   apply_performance_optimizations()
 *   integration = get_performance_integration()
 *   report = integration.get_optimization_report()
 *   print(f"Cache hit rate: {report['cache_stats']['default']['hit_rate']:.2%}")
 *   print(f"Memory usage: {report['memory_stats']['system_memory']['memory_percent']:.1f}%")
 *
 * in C: the explicit default engine (configured from GSPERF_* variables),
 * a set of operations registered on it with the strategy that suits each,
 * some calls, then the report as JSON, the seed's two fields read from
 * it, and the text table. With a FILE argument the JSON is also written
 * there (for `gsperf report FILE`).
 */
#include <stdio.h>
#include <string.h>

#include "gsperf/optimize.h"

static int tokenize(void *user, const void *arg, size_t n, void **out, size_t *outlen) {
  (void)user;
  uint32_t *count = gsp_malloc(sizeof *count);
  if (count == NULL) return GSP_ENOMEM;
  *count = 0;
  for (size_t i = 0; i < n; i++) *count += ((const char *)arg)[i] == ' ' || i + 1 == n;
  *out = count;
  *outlen = sizeof *count;
  return GSP_OK;
}

static const char *json_find(const char *json, const char *path_key, const char *key) {
  const char *p = strstr(json, path_key);
  return p ? strstr(p, key) : NULL;
}

int main(int argc, char **argv) {
  char err[256] = "";
  gsp_opt_engine *engine = NULL;
  if (gsp_opt_default(&engine, err, sizeof err) != GSP_OK) {
    fprintf(stderr, "default engine: %s\n", err);
    return 1;
  }
  /* apply_performance_optimizations(): register the operations */
  static const struct {
    const char *name;
    gsp_opt_strategy s;
  } ops[] = {{"parse_file", GSP_OPT_CPU},
             {"resolve_type", GSP_OPT_LATENCY},
             {"analyze_imports", GSP_OPT_BALANCED}};
  gsp_opt_func *fns[3];
  for (int i = 0; i < 3; i++)
    if (gsp_opt_register(engine, ops[i].name, tokenize, NULL,
                         &(gsp_opt_func_opts){.strategy = ops[i].s}, &fns[i]) != GSP_OK)
      return 1;
  const char *inputs[] = {"int main", "int main", "int main", "int main", "x y z"};
  for (int i = 0; i < 3; i++)
    for (int j = 0; j < 5; j++) {
      gsp_opt_result r;
      if (gsp_opt_call(fns[i], inputs[j], strlen(inputs[j]), &r) != GSP_OK) return 1;
      gsp_opt_result_release(&r);
    }
  char *json = NULL, *text = NULL;
  if (gsp_opt_report_json(engine, &json, NULL) != GSP_OK) return 1;
  const char *hr = json_find(json, "\"cache_stats\":{\"default\"", "\"hit_rate\":");
  const char *mp = json_find(json, "\"system_memory\"", "\"memory_percent\":");
  if (hr == NULL || mp == NULL) return 1;
  double hit_rate = 0, mem_pct = 0;
  sscanf(hr + strlen("\"hit_rate\":"), "%lf", &hit_rate);
  sscanf(mp + strlen("\"memory_percent\":"), "%lf", &mem_pct);
  printf("Optimized functions: 3\nCache hit rate: %.2f%%\nMemory usage: %.1f%%\n\n",
         100.0 * hit_rate, mem_pct);
  if (gsp_opt_report_text(json, &text, err, sizeof err) != GSP_OK) return 1;
  fputs(text, stdout);
  if (argc > 1) {
    FILE *fp = fopen(argv[1], "w");
    if (fp == NULL || fputs(json, fp) < 0 || fclose(fp) != 0) return 1;
  }
  gsp_free(text);
  gsp_free(json);
  gsp_opt_default_shutdown();
  return hit_rate > 0.5 ? 0 : 1;
}
