/*
 * cache_manager.c - the seed's "Cache Configuration" snippet in C:
 *
 *   cache_manager = CacheManager()
 *   cache_manager.create_cache("file_parsing", strategy=LRU, max_size=5000, ttl=3600)
 *   cache_manager.create_cache("type_resolution", strategy=LFU, max_size=10000, ttl=1800)
 *
 * then a few lookups and the per-cache statistics, as the seed's report
 * prints them.
 */
#include <stdio.h>
#include <string.h>

#include "gsperf/cache.h"

int main(void) {
  gsp_cache_manager *m = NULL;
  gsp_cache *parsing = NULL, *types = NULL;
  int rv = gsp_cache_manager_create(&m);
  if (rv != GSP_OK) return 1;
  rv = gsp_cache_manager_create_cache(
      m, "file_parsing",
      &(gsp_cache_config){.strategy = GSP_CACHE_LRU, .max_entries = 5000, .ttl_ms = 3600 * 1000},
      &parsing);
  if (rv == GSP_OK)
    rv = gsp_cache_manager_create_cache(
        m, "type_resolution",
        &(gsp_cache_config){.strategy = GSP_CACHE_LFU, .max_entries = 10000, .ttl_ms = 1800 * 1000},
        &types);
  if (rv != GSP_OK) {
    fprintf(stderr, "create_cache: %s: %s\n", gsp_strerror(rv), gsp_cache_manager_errmsg(m));
    gsp_cache_manager_destroy(m);
    return 1;
  }
  const char *file = "src/main.c";
  const char *ast = "(translation_unit ...)";
  gsp_cache_put(parsing, file, strlen(file), ast, strlen(ast) + 1, NULL);
  char buf[64];
  size_t n;
  for (int i = 0; i < 3; i++) gsp_cache_get_copy(parsing, file, strlen(file), buf, sizeof buf, &n);
  gsp_cache_get_copy(types, "Symbol", 6, buf, sizeof buf, &n); /* a miss */

  for (size_t i = 0; i < gsp_cache_manager_count(m); i++) {
    const char *name = gsp_cache_manager_name(m, i);
    gsp_cache_stats s;
    gsp_cache_stats_get(gsp_cache_manager_find(m, name), &s);
    printf("%-16s hit rate %6.2f%%  entries %llu\n", name, 100.0 * s.hit_rate,
           (unsigned long long)s.entries);
  }
  char json[1024];
  gsp_cache_manager_stats_json(m, json, sizeof json);
  printf("%s\n", json);
  gsp_cache_manager_destroy(m);
  return 0;
}
