/* bench_tier.h - what the sections of bench_tier share (see bench_tier.c). */
#ifndef GSP_BENCH_TIER_H
#define GSP_BENCH_TIER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "gsperf/tier.h"

#define MAX_ROUNDS 15

extern unsigned g_rounds;
extern char g_base[256];

typedef struct corpus {
  char **data;
  size_t *len;
  size_t n, bytes;
  size_t n_c; /* data[0, n_c) are C headers, the rest Python */
  char *all;  /* every file concatenated */
} corpus;

double now_s(clockid_t c);
double median(const double *v, unsigned n);
/* A V-byte slice of the corpus at a place derived from i. */
const char *slice(const corpus *c, unsigned i, size_t v);
/* Key i as 32 hex digits (like a content hash) into k[33]. */
void hex_key(char *k, unsigned i);
/* A scratch directory under g_base; rm_scratch removes it and our files. */
void scratch(char *buf, size_t cap, const char *name);
void rm_scratch(const char *dir);

void section_l3_get(const corpus *c, unsigned n, size_t vsize, unsigned gets);
void section_sync_put(const corpus *c, size_t vsize, unsigned puts);
void section_l2(const corpus *c);
void section_zipf(const corpus *c, unsigned nkeys, size_t vsize, unsigned ops);

#endif
