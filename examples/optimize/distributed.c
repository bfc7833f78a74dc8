/*
 * distributed.c - the seed's @distributed and distributed_execution: a
 * wrapped function run by the distributed task farm (gsperf/dist.h).
 *
 *   @distributed
 *   def word_count(text): ...
 *   results = distributed_execution(word_count, texts)
 *
 * Every rank builds the same engine and registers the same function; the
 * farm's task for it is gsp_opt_dist_call, which calls the function
 * through that rank's engine (cache, monitoring). Without mpirun the
 * program runs in one process on the engine's CPU pool; under
 * `mpirun -np N` rank 0 hands the texts out and ranks 1..N-1 count. The
 * master checks every count against a direct computation, then runs the
 * same inputs again: in one process they all come from the cache.
 * Exit status 0 when every check holds.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "gsperf/dist.h"
#include "gsperf/optimize.h"

enum { N = 200, ROUNDS = 2 }; /* every rank makes the same ROUNDS maps */

static uint32_t count_words(const char *s, size_t n) {
  uint32_t words = 0;
  for (size_t i = 0; i < n; i++)
    if (s[i] != ' ' && (i == 0 || s[i - 1] == ' ')) words++;
  return words;
}

static int word_count(void *user, const void *arg, size_t n, void **out, size_t *outlen) {
  (void)user;
  uint32_t *r = gsp_malloc(sizeof *r);
  if (r == NULL) return GSP_ENOMEM;
  *r = count_words(arg, n);
  *out = r;
  *outlen = sizeof *r;
  return GSP_OK;
}

/* Text i: i % 17 + 1 words. */
static size_t make_text(size_t i, char *buf, size_t cap) {
  size_t len = 0;
  for (size_t w = 0; w < i % 17 + 1 && len + 8 < cap; w++)
    len += (size_t)snprintf(buf + len, cap - len, "%sw%zu", w ? " " : "", (i + w) % 100);
  return len;
}

static int check(const gsp_dist_result *res, const gsp_dist_input *in) {
  for (size_t i = 0; i < N; i++) {
    uint32_t want = count_words(in[i].data, in[i].len), got = 0;
    if (res[i].status != GSP_OK || res[i].len != sizeof got) return 1;
    memcpy(&got, res[i].data, sizeof got);
    if (got != want) {
      fprintf(stderr, "text %zu: %u words, expected %u\n", i, got, want);
      return 1;
    }
  }
  return 0;
}

static int master(gsp_dist *d, gsp_opt_func *fn) {
  static char texts[N][256];
  gsp_dist_input in[N];
  gsp_dist_result res[N];
  for (size_t i = 0; i < N; i++) in[i] = (gsp_dist_input){texts[i], make_text(i, texts[i], 256)};
  int bad = 0;
  for (int round = 0; round < ROUNDS; round++) {
    int rv = gsp_dist_map(d, "word_count", N, in, res);
    bad |= rv != GSP_OK || check(res, in); /* no early exit: the ranks wait for each map */
    int rank_max = 0;
    for (size_t i = 0; i < N; i++) rank_max = res[i].rank > rank_max ? res[i].rank : rank_max;
    printf("round %d: %d texts counted, highest rank used %d (%s)\n", round + 1, N, rank_max,
           gsp_strerror(rv));
    if (gsp_dist_uses_mpi(d) && rank_max < 1) bad = 1; /* the worker ranks counted */
    gsp_dist_results_free(res, N);
  }
  gsp_opt_func_stats st;
  (void)gsp_opt_func_stats_get(fn, &st);
  printf("rank 0: %llu calls, %llu cache hits\n", (unsigned long long)st.calls,
         (unsigned long long)st.cache_hits);
  if (!gsp_dist_uses_mpi(d) && st.cache_hits < N) bad = 1; /* round 2 came from the cache */
  return bad;
}

int main(void) {
  gsp_opt_engine *engine = NULL;
  gsp_opt_func *fn = NULL;
  gsp_dist *d = NULL;
  if (gsp_opt_engine_create(NULL, &engine) != GSP_OK) return 1;
  int bad = gsp_opt_register(engine, "word_count", word_count, NULL,
                             &(gsp_opt_func_opts){.strategy = GSP_OPT_CPU}, &fn) != GSP_OK;
  gsp_dist_config dc = {.exec = gsp_opt_cpu_pool(engine)}; /* tasks on the engine's pool */
  if (!bad) bad = gsp_dist_create(&dc, &d) != GSP_OK;
  if (!bad) bad = gsp_dist_register(d, "word_count", gsp_opt_dist_call, fn) != GSP_OK;
  if (!bad && gsp_dist_is_master(d)) {
    printf("%d rank(s), %s\n", gsp_dist_size(d), gsp_dist_uses_mpi(d) ? "MPI" : "one process");
    bad = master(d, fn);
  } else if (!bad) {
    for (int round = 0; round < ROUNDS && !bad; round++) /* serve the master's maps */
      bad = gsp_dist_map(d, "word_count", 0, NULL, NULL) != GSP_OK;
    gsp_opt_func_stats st;
    (void)gsp_opt_func_stats_get(fn, &st);
    printf("rank %d: %llu calls, %llu cache hits\n", gsp_dist_rank(d), (unsigned long long)st.calls,
           (unsigned long long)st.cache_hits);
  }
  gsp_dist_destroy(d);
  gsp_opt_engine_destroy(engine);
  if (bad) fprintf(stderr, "distributed: a check failed\n");
  return bad;
}
