/*
 * dist_farm.c - the MPI task farm end to end, run by ctest under
 * `mpirun -np 3` (and once without mpirun, where the same program runs in
 * one process). Every rank runs this same main; the master checks:
 *
 *  - a map's results equal, byte for byte and in submission order, those
 *    of the same map run in one process (a LOCAL gsp_dist);
 *  - results really came from the worker ranks (rank 1 and 2), not rank 0;
 *  - an injected failure (the function fails on rank 1 for every fifth
 *    input) is retried on another rank: those tasks end with status 0,
 *    two attempts and rank 2; input 0 is certainly among them (the first
 *    batch goes to rank 1);
 *  - a task that fails everywhere ends with its error after max_attempts
 *    runs, and the map returns that error;
 *  - an unknown function name is GSP_ENOENT and the workers still return;
 *  - on every rank, everything gsperf allocated (counted through the
 *    allocator hooks) is freed at the end.
 *
 * Exit status 0 on success; a failed check prints it and exits 1 (mpirun
 * then fails the whole job).
 */
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gsperf/dist.h"

#define N 300

static int g_rank;
static atomic_long g_live; /* gsperf's blocks not yet freed */

static void *count_malloc(void *u, size_t n) {
  (void)u;
  void *p = malloc(n);
  if (p != NULL) atomic_fetch_add(&g_live, 1);
  return p;
}

static void *count_realloc(void *u, void *p, size_t n) {
  (void)u;
  void *q = realloc(p, n);
  if (q != NULL && p == NULL) atomic_fetch_add(&g_live, 1);
  return q;
}

static void count_free(void *u, void *p) {
  (void)u;
  if (p != NULL) atomic_fetch_sub(&g_live, 1);
  free(p);
}

#define CHECK(c)                                                                             \
  do {                                                                                       \
    if (!(c)) {                                                                              \
      fprintf(stderr, "rank %d: %s:%d: check failed: %s\n", g_rank, __FILE__, __LINE__, #c); \
      exit(1);                                                                               \
    }                                                                                        \
  } while (0)

/* in: a uint32 x; out: x*x as text, repeated x % 7 + 1 times (lengths vary). */
static int square(void *user, const void *in, size_t len, void **out, size_t *out_len) {
  (void)user;
  uint32_t x;
  if (len != sizeof(x)) return GSP_EINVAL;
  memcpy(&x, in, sizeof(x));
  char one[32];
  int k = snprintf(one, sizeof(one), "%llu;", (unsigned long long)x * x);
  size_t reps = x % 7 + 1;
  char *o = gsp_malloc((size_t)k * reps);
  if (o == NULL) return GSP_ENOMEM;
  for (size_t r = 0; r < reps; r++) memcpy(o + r * (size_t)k, one, (size_t)k);
  *out = o;
  *out_len = (size_t)k * reps;
  return 0;
}

/* Fails on rank 1 for every fifth input; elsewhere as square. */
static int flaky(void *user, const void *in, size_t len, void **out, size_t *out_len) {
  uint32_t x;
  memcpy(&x, in, sizeof(x));
  if (g_rank == 1 && x % 5 == 0) return GSP_EIO;
  return square(user, in, len, out, out_len);
}

/* Fails everywhere for input 7. */
static int broken(void *user, const void *in, size_t len, void **out, size_t *out_len) {
  uint32_t x;
  memcpy(&x, in, sizeof(x));
  if (x == 7) return GSP_ECORRUPT;
  return square(user, in, len, out, out_len);
}

static void register_all(gsp_dist *d) {
  CHECK(gsp_dist_register(d, "square", square, NULL) == GSP_OK);
  CHECK(gsp_dist_register(d, "flaky", flaky, NULL) == GSP_OK);
  CHECK(gsp_dist_register(d, "broken", broken, NULL) == GSP_OK);
}

static void same_results(const gsp_dist_result *a, const gsp_dist_result *b) {
  for (size_t i = 0; i < N; i++) {
    CHECK(a[i].status == 0 && b[i].status == 0);
    CHECK(a[i].len == b[i].len);
    CHECK(memcmp(a[i].data, b[i].data, a[i].len) == 0);
  }
}

static void master_checks(gsp_dist *d, const gsp_dist_input *in) {
  static gsp_dist_result ref[N], got[N];
  gsp_dist *local = NULL;
  gsp_dist_config lc = {.mode = GSP_DIST_LOCAL};
  CHECK(gsp_dist_create(&lc, &local) == GSP_OK);
  register_all(local);
  CHECK(gsp_dist_map(local, "square", N, in, ref) == GSP_OK);
  bool farm = gsp_dist_size(d) > 1;

  CHECK(gsp_dist_map(d, "square", N, in, got) == GSP_OK);
  same_results(ref, got);
  for (size_t i = 0; i < N; i++) CHECK(farm ? got[i].rank >= 1 : got[i].rank == 0);
  gsp_dist_results_free(got, N);

  CHECK(gsp_dist_map(d, "flaky", N, in, got) == GSP_OK);
  same_results(ref, got);
  size_t retried = 0;
  for (size_t i = 0; i < N; i++) {
    if (got[i].attempts == 1) continue;
    CHECK(farm && got[i].attempts == 2 && got[i].rank == 2 && i % 5 == 0);
    retried++;
  }
  if (farm) CHECK(got[0].attempts == 2 && got[0].rank == 2);
  printf("flaky: %zu tasks retried on another rank\n", retried);
  gsp_dist_results_free(got, N);

  CHECK(gsp_dist_map(d, "broken", N, in, got) == GSP_ECORRUPT);
  CHECK(got[7].status == GSP_ECORRUPT && got[7].attempts == 3 && got[7].data == NULL);
  for (size_t i = 0; i < N; i++) CHECK(i == 7 || got[i].status == 0);
  gsp_dist_results_free(got, N);

  CHECK(gsp_dist_map(d, "nonesuch", N, in, got) == GSP_ENOENT);
  gsp_dist_results_free(ref, N);
  gsp_dist_destroy(local);
}

int main(void) {
  gsp_allocator counting = {count_malloc, count_realloc, count_free, NULL};
  gsp_set_allocator(&counting);
  gsp_dist *d = NULL;
  gsp_dist_config cfg = {.batch = 8};
  CHECK(gsp_dist_create(&cfg, &d) == GSP_OK);
  g_rank = gsp_dist_rank(d);
  register_all(d);
  const char *want = getenv("DIST_FARM_EXPECT_SIZE");
  if (want != NULL) CHECK(gsp_dist_size(d) == atoi(want));
  static uint32_t x[N];
  static gsp_dist_input in[N];
  for (uint32_t i = 0; i < N; i++) {
    x[i] = i;
    in[i] = (gsp_dist_input){&x[i], sizeof(x[i])};
  }
  if (gsp_dist_is_master(d)) {
    master_checks(d, in);
    printf("dist_farm: %d ranks, mpi %s: ok\n", gsp_dist_size(d),
           gsp_dist_uses_mpi(d) ? "yes" : "no");
  } else {
    for (int k = 0; k < 4; k++) CHECK(gsp_dist_map(d, NULL, 0, NULL, NULL) == GSP_OK);
  }
  gsp_dist_destroy(d);
  CHECK(atomic_load(&g_live) == 0);
  return 0;
}
