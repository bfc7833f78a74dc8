/*
 * cache_memory.c - memory a gsperf cache holds per entry, per strategy.
 *
 * For each strategy and cache size: heap in use (mallinfo2: arena bytes in
 * use plus mmapped blocks) before create, after create (the policy's fixed
 * state: sketches, ghosts, shadows, bucket arrays) and after filling the
 * cache with 8-byte keys and 16-byte values. Prints bytes per entry.
 * usage: cache_memory [SHARDS]   (0 = the cache's default)
 */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>

#include "gsperf/cache.h"

static size_t heap_in_use(void) {
  struct mallinfo2 mi = mallinfo2();
  return mi.uordblks + mi.hblkhd;
}

static void measure(gsp_cache_strategy s, size_t n, unsigned shards) {
  size_t before = heap_in_use();
  gsp_cache *c = NULL;
  gsp_cache_config cfg = {.strategy = s, .max_entries = n, .shards = shards};
  if (gsp_cache_create(&cfg, &c) != GSP_OK) {
    printf("%-9s %10zu  create failed\n", gsp_cache_strategy_name(s), n);
    return;
  }
  size_t empty = heap_in_use() - before;
  char val[16] = {0};
  for (uint64_t k = 0; k < n; k++) gsp_cache_put(c, &k, sizeof k, val, sizeof val, NULL);
  size_t full = heap_in_use() - before;
  gsp_cache_config got;
  gsp_cache_config_get(c, &got);
  printf("%-9s %10zu %6u %10.2f %10.2f %10.1f\n", gsp_cache_strategy_name(s), n, got.shards,
         empty / 1e6, full / 1e6, (double)full / (double)n);
  gsp_cache_destroy(c);
}

int main(int argc, char **argv) {
  unsigned shards = 0;
  if (argc > 1) {
    char *end;
    unsigned long v = strtoul(argv[1], &end, 10);
    if (*end != '\0' || v > 4096 || (v & (v - 1)) != 0) {
      fprintf(stderr, "cache_memory: SHARDS must be 0 or a power of two <= 4096, not '%s'\n",
              argv[1]);
      return 2;
    }
    shards = (unsigned)v;
  }
  printf("8-byte keys, 16-byte values; MB of heap held by the cache\n");
  printf("%-9s %10s %6s %10s %10s %10s\n", "strategy", "entries", "shards", "empty_MB", "full_MB",
         "B/entry");
  const gsp_cache_strategy all[] = {GSP_CACHE_LRU, GSP_CACHE_LFU, GSP_CACHE_FIFO, GSP_CACHE_TTL,
                                    GSP_CACHE_ADAPTIVE};
  const size_t sizes[] = {1000, 147456, 1000000};
  for (size_t i = 0; i < sizeof all / sizeof *all; i++)
    for (size_t j = 0; j < sizeof sizes / sizeof *sizes; j++) measure(all[i], sizes[j], shards);
  return 0;
}
