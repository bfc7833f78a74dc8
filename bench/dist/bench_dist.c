/*
 * bench_dist.c - the MPI task farm's throughput against plain MPI
 * messaging, in one run under mpirun (bench/dist/run.sh runs -np 2 and
 * -np 4 one after the other).
 *
 *   ping-pong  rank 0 and rank 1 bounce an 8-byte message (MPI_Send /
 *              MPI_Recv), 20,000 round trips: the floor of one task
 *              round trip, and so the limit of a farm that sends one
 *              task per message (tasks/s = round trips/s x workers at
 *              best).
 *   farm       gsp_dist_map of 100,000 small tasks (4-byte input, 8-byte
 *              result, no work) with batches of 1, 16 and 128 tasks per
 *              message: tasks/s, and tasks/s divided by the ping-pong
 *              rate (how many tasks one round trip's time buys).
 *   local      the same map in one process on the pool (a LOCAL
 *              gsp_dist), for scale.
 *
 * Medians of 3 repeats. The machine is shared and noisy (MACHINE.md);
 * the load is printed. Ranks beyond the first two idle in a barrier
 * during the ping-pong.
 *
 * Run: mpirun -np N --oversubscribe [--allow-run-as-root] bench_dist
 */
#include <mpi.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "gsperf/dist.h"
#include "../support/bench_util.h"

#define PINGS 20000
#define TASKS 100000
#define REPEATS 3

static const unsigned g_batches[] = {1, 16, 128};
#define NB (sizeof(g_batches) / sizeof(g_batches[0]))

static int tiny(void *user, const void *in, size_t len, void **out, size_t *out_len) {
  (void)user;
  uint32_t x = 0;
  if (len == sizeof(x)) memcpy(&x, in, sizeof(x));
  uint64_t *o = gsp_malloc(sizeof(*o));
  if (o == NULL) return GSP_ENOMEM;
  *o = (uint64_t)x * 3;
  *out = o;
  *out_len = sizeof(*o);
  return 0;
}

static double pingpong_us(int rank) {
  char msg[8] = {0};
  MPI_Barrier(MPI_COMM_WORLD);
  double t0 = MPI_Wtime();
  for (int i = 0; i < PINGS && rank < 2; i++) {
    if (rank == 0) {
      MPI_Send(msg, 8, MPI_BYTE, 1, 9, MPI_COMM_WORLD);
      MPI_Recv(msg, 8, MPI_BYTE, 1, 9, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
    } else {
      MPI_Recv(msg, 8, MPI_BYTE, 0, 9, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
      MPI_Send(msg, 8, MPI_BYTE, 0, 9, MPI_COMM_WORLD);
    }
  }
  double us = (MPI_Wtime() - t0) / PINGS * 1e6;
  MPI_Barrier(MPI_COMM_WORLD);
  return us;
}

static double med3(double *v) {
  qsort(v, REPEATS, sizeof(*v), gsp_bench_cmp_double);
  return v[REPEATS / 2];
}

static double farm_rate(gsp_dist *d, const gsp_dist_input *in, gsp_dist_result *res) {
  double t0 = MPI_Wtime();
  if (gsp_dist_map(d, "tiny", TASKS, in, res) != GSP_OK) MPI_Abort(MPI_COMM_WORLD, 2);
  double rate = TASKS / (MPI_Wtime() - t0);
  gsp_dist_results_free(res, TASKS);
  return rate;
}

static double local_rate(const gsp_dist_input *in, gsp_dist_result *res) {
  gsp_dist *l = NULL;
  gsp_dist_config lc = {.mode = GSP_DIST_LOCAL};
  if (gsp_dist_create(&lc, &l) != GSP_OK || gsp_dist_register(l, "tiny", tiny, NULL) != GSP_OK)
    return 0;
  double t0 = MPI_Wtime();
  gsp_dist_map(l, "tiny", TASKS, in, res);
  double rate = TASKS / (MPI_Wtime() - t0);
  gsp_dist_results_free(res, TASKS);
  gsp_dist_destroy(l);
  return rate;
}

static void print_machine(int size) {
  double l[3];
  gsp_bench_loadavg(l);
  struct utsname u;
  uname(&u);
  printf("# %s %s, %ld CPUs online, %d ranks, load %.2f %.2f %.2f\n", u.sysname, u.release,
         sysconf(_SC_NPROCESSORS_ONLN), size, l[0], l[1], l[2]);
}

int main(void) {
  int provided = 0; /* MPI is ours here, so each gsp_dist below leaves it running */
  MPI_Init_thread(NULL, NULL, MPI_THREAD_FUNNELED, &provided);
  static gsp_dist *d;
  static uint32_t x[TASKS];
  static gsp_dist_input in[TASKS];
  static gsp_dist_result res[TASKS];
  for (uint32_t i = 0; i < TASKS; i++) {
    x[i] = i;
    in[i] = (gsp_dist_input){&x[i], sizeof(x[i])};
  }
  double pp[REPEATS], rate[NB][REPEATS];
  for (size_t b = 0; b < NB; b++) {
    gsp_dist_config cfg = {.mode = GSP_DIST_MPI, .batch = g_batches[b]};
    if (gsp_dist_create(&cfg, &d) != GSP_OK) return 1;
    if (gsp_dist_register(d, "tiny", tiny, NULL) != GSP_OK) return 1;
    for (int r = 0; r < REPEATS; r++) {
      if (b == 0) pp[r] = pingpong_us(gsp_dist_rank(d));
      if (gsp_dist_is_master(d))
        rate[b][r] = farm_rate(d, in, res);
      else
        gsp_dist_map(d, NULL, 0, NULL, NULL);
    }
    if (b + 1 < NB) gsp_dist_destroy(d);
  }
  if (gsp_dist_is_master(d)) {
    print_machine(gsp_dist_size(d));
    double pus = med3(pp);
    printf("\nping-pong 8 B (rank 0 <-> 1)   %8.2f us round trip   %10.0f round trips/s\n", pus,
           1e6 / pus);
    printf("\n%-30s %12s %16s\n", "farm, 100,000 tiny tasks", "tasks/s", "x ping-pong rate");
    for (size_t b = 0; b < NB; b++) {
      double t = med3(rate[b]);
      printf("  batch %-22u %12.0f %16.2f\n", g_batches[b], t, t * pus / 1e6);
    }
    double lr[REPEATS];
    for (int r = 0; r < REPEATS; r++) lr[r] = local_rate(in, res);
    printf("  %-28s %12.0f\n", "one process (LOCAL, pool)", med3(lr));
  }
  gsp_dist_destroy(d);
  MPI_Finalize();
  return 0;
}
