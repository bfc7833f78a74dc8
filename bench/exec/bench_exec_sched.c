/*
 * bench_exec_sched.c - what the pool's scheduling features buy, each
 * against the same pool with the feature off, side by side in one run:
 *
 *   priority  a pool of 2 workers flooded with 20,000 CPU tasks (about
 *             20 us each); meanwhile 200 probe tasks are submitted, one
 *             every 500 us, and each records submit -> start. Probes in
 *             the throughput class wait behind the flood; in the latency
 *             class they jump it. p50 / p99 probe wait, us.
 *   scaling   400 tasks that each block 2 ms (a sleep standing in for
 *             I/O) plus a little CPU: a fixed pool of 2 workers against
 *             a scaling pool of 2..32 (target wait 1 ms). Wall ms, peak
 *             workers.
 *   map       1,000,000 tiny items: gsp_exec_map (guided chunks) against
 *             one group task per item. CPU ns and wall ns per item.
 *   io        reading 256 files of 64 KiB and 4 of 8 MiB (page cache warm)
 *             into ready (pre-faulted) caller buffers through the I/O
 *             executor (8 threads, created once) with io_uring, with
 *             pread, and by one thread with read(): MB/s. First touch of
 *             a page costs 11-14 us here, so buffers allocated per read
 *             would measure the page faults, not the I/O path.
 *
 * Rounds are interleaved (every cell once per round, rotated) and the
 * tables show medians. The machine is shared and noisy (MACHINE.md): the
 * load average is printed before and after.
 *
 * Run: bench_exec_sched [--rounds N]
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "gsperf/exec.h"
#include "../support/bench_util.h"

#define MAX_ROUNDS 15
#define FLOOD 20000
#define PROBES 200
#define BLOCKERS 400
#define MAP_N 1000000
#define SMALL_FILES 256
#define BIG_FILES 4

static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return (x > y) - (x < y);
}

static volatile uint64_t g_sink;

static void spin_us(unsigned us) {
  uint64_t end = gsp_now_ns() + us * 1000ull, x = 1;
  while (gsp_now_ns() < end) x = x * 6364136223846793005ull + 1;
  g_sink = x;
}

/* ---- priority ---- */

static int flood_task(void *arg) {
  (void)arg;
  spin_us(20);
  return 0;
}

typedef struct probe {
  uint64_t submitted, started;
} probe;

static int probe_task(void *arg) {
  probe *p = arg;
  p->started = gsp_now_ns();
  return 0;
}

/* Returns p50 and p99 probe wait in us. */
static void run_priority(gsp_exec_priority cls, double *p50, double *p99) {
  gsp_exec *ex = NULL;
  gsp_exec_config cfg = {.workers = 2};
  if (gsp_exec_create(&cfg, &ex) != GSP_OK) abort();
  for (int i = 0; i < FLOOD; i++)
    if (gsp_exec_submit(ex, flood_task, NULL, NULL) != GSP_OK) abort();
  static probe pr[PROBES];
  for (int i = 0; i < PROBES; i++) {
    pr[i].submitted = gsp_now_ns();
    if (gsp_exec_submit_prio(ex, cls, probe_task, &pr[i], NULL) != GSP_OK) abort();
    usleep(500);
  }
  gsp_exec_destroy(ex);
  uint64_t w[PROBES];
  for (int i = 0; i < PROBES; i++) w[i] = pr[i].started - pr[i].submitted;
  qsort(w, PROBES, sizeof(w[0]), cmp_u64);
  *p50 = (double)w[PROBES / 2] / 1000.0;
  *p99 = (double)w[PROBES * 99 / 100] / 1000.0;
}

/* ---- scaling ---- */

static int blocker(void *arg) {
  (void)arg;
  usleep(2000);
  spin_us(20);
  return 0;
}

static void run_scaling(bool scale, double *wall_ms, double *peak) {
  gsp_exec *ex = NULL;
  gsp_exec_config cfg = {.workers = 2};
  if (scale) {
    cfg.min_workers = 2;
    cfg.max_workers = 32;
    cfg.target_wait_us = 1000;
  }
  if (gsp_exec_create(&cfg, &ex) != GSP_OK) abort();
  uint64_t t0 = gsp_now_ns();
  gsp_exec_group *g = NULL;
  if (gsp_exec_group_create(ex, &g) != GSP_OK) abort();
  for (int i = 0; i < BLOCKERS; i++)
    if (gsp_exec_group_spawn(g, blocker, NULL) != GSP_OK) abort();
  gsp_exec_group_wait(g);
  *wall_ms = (double)(gsp_now_ns() - t0) / 1e6;
  gsp_exec_group_destroy(g);
  gsp_exec_stats st;
  gsp_exec_stats_get(ex, &st);
  *peak = st.peak_workers;
  gsp_exec_destroy(ex);
}

/* ---- map ---- */

static uint64_t g_map_out[MAP_N];

static int map_item(void *user, size_t i, const void *in, void *out) {
  (void)user;
  (void)in;
  (void)out;
  g_map_out[i] = i * i;
  return 0;
}

static int item_task(void *arg) {
  size_t i = (size_t)(uintptr_t)arg;
  g_map_out[i] = i * i;
  return 0;
}

static gsp_exec *g_ex;

static void map_batch(void) {
  if (gsp_exec_map(g_ex, MAP_N, map_item, NULL, NULL, NULL) != GSP_OK) abort();
}

static void map_tasks(void) {
  gsp_exec_group *g = NULL;
  if (gsp_exec_group_create(g_ex, &g) != GSP_OK) abort();
  for (size_t i = 0; i < MAP_N; i++)
    if (gsp_exec_group_spawn(g, item_task, (void *)(uintptr_t)i) != GSP_OK) abort();
  gsp_exec_group_wait(g);
  gsp_exec_group_destroy(g);
}

/* ---- io ---- */

static char g_dir[64];
static char g_paths[SMALL_FILES + BIG_FILES][96];
static size_t g_total_bytes;

static void make_files(void) {
  snprintf(g_dir, sizeof(g_dir), "/tmp/gsp_bench_io_XXXXXX");
  if (mkdtemp(g_dir) == NULL) abort();
  char *buf = malloc(8 << 20);
  if (buf == NULL) abort();
  memset(buf, 'x', 8 << 20);
  for (int i = 0; i < SMALL_FILES + BIG_FILES; i++) {
    size_t size = i < SMALL_FILES ? 64 << 10 : 8 << 20;
    snprintf(g_paths[i], sizeof(g_paths[i]), "%s/f%03d", g_dir, i);
    FILE *f = fopen(g_paths[i], "wb");
    if (f == NULL || fwrite(buf, 1, size, f) != size) abort();
    fclose(f);
    g_total_bytes += size;
  }
  free(buf);
}

static char *g_bufs[SMALL_FILES + BIG_FILES];
static gsp_io *g_io_uring, *g_io_pread;

static void make_buffers(void) {
  for (int i = 0; i < SMALL_FILES + BIG_FILES; i++) {
    size_t size = i < SMALL_FILES ? 64 << 10 : 8 << 20;
    g_bufs[i] = malloc(size + 1);
    if (g_bufs[i] == NULL) abort();
    memset(g_bufs[i], 0, size + 1); /* fault the pages in now */
  }
  gsp_io_config cu = {.threads = 8, .min_threads = 8};
  gsp_io_config cp = {.threads = 8, .min_threads = 8, .no_uring = true};
  if (gsp_io_create(&cu, &g_io_uring) != GSP_OK || gsp_io_create(&cp, &g_io_pread) != GSP_OK)
    abort();
  if (!gsp_io_uses_uring(g_io_uring)) printf("# io_uring unavailable: both io rows use pread\n");
}

static void remove_files(void) {
  gsp_io_destroy(g_io_uring);
  gsp_io_destroy(g_io_pread);
  for (int i = 0; i < SMALL_FILES + BIG_FILES; i++) free(g_bufs[i]);
  for (int i = 0; i < SMALL_FILES + BIG_FILES; i++) unlink(g_paths[i]);
  rmdir(g_dir);
}

static void read_all_io(gsp_io *io) {
  static gsp_io_read req[SMALL_FILES + BIG_FILES];
  static gsp_exec_future *f[SMALL_FILES + BIG_FILES];
  for (int i = 0; i < SMALL_FILES + BIG_FILES; i++) {
    size_t size = i < SMALL_FILES ? 64 << 10 : 8 << 20;
    req[i] = (gsp_io_read){.path = g_paths[i], .buf = g_bufs[i], .cap = size + 1};
    if (gsp_io_read_file(io, &req[i], &f[i]) != GSP_OK) abort();
  }
  for (int i = 0; i < SMALL_FILES + BIG_FILES; i++) {
    int r = -1;
    if (gsp_exec_future_wait(f[i], &r) != GSP_OK || r != GSP_OK) abort();
    gsp_exec_future_release(f[i]);
  }
}

static void read_all_uring(void) { read_all_io(g_io_uring); }
static void read_all_pread(void) { read_all_io(g_io_pread); }

static void read_all_serial(void) {
  for (int i = 0; i < SMALL_FILES + BIG_FILES; i++) {
    size_t size = i < SMALL_FILES ? 64 << 10 : 8 << 20;
    int fd = open(g_paths[i], O_RDONLY);
    if (fd < 0) abort();
    while (read(fd, g_bufs[i], size + 1) > 0) {
    }
    close(fd);
  }
}

/* ---- driver ---- */

enum {
  C_PRIO_TP,
  C_PRIO_LAT,
  C_SCALE_OFF,
  C_SCALE_ON,
  C_MAP,
  C_TASKS,
  C_URING,
  C_PREAD,
  C_SERIAL,
  NC
};
static double g_m[NC][3][MAX_ROUNDS]; /* up to 3 figures per cell */

static void timed(void (*fn)(void), double *cpu_per, double *wall_per, double n) {
  uint64_t c0 = gsp_bench_cpu_ns(), w0 = gsp_now_ns();
  fn();
  *cpu_per = (double)(gsp_bench_cpu_ns() - c0) / n;
  *wall_per = (double)(gsp_now_ns() - w0) / n;
}

static void run_cell(int c, int round) {
  double *a = &g_m[c][0][round], *b = &g_m[c][1][round];
  usleep(50000);
  switch (c) {
    case C_PRIO_TP:
      run_priority(GSP_EXEC_THROUGHPUT, a, b);
      break;
    case C_PRIO_LAT:
      run_priority(GSP_EXEC_LATENCY, a, b);
      break;
    case C_SCALE_OFF:
      run_scaling(false, a, b);
      break;
    case C_SCALE_ON:
      run_scaling(true, a, b);
      break;
    case C_MAP:
      timed(map_batch, a, b, MAP_N);
      break;
    case C_TASKS:
      timed(map_tasks, a, b, MAP_N);
      break;
    case C_URING:
      timed(read_all_uring, a, b, 1);
      break;
    case C_PREAD:
      timed(read_all_pread, a, b, 1);
      break;
    case C_SERIAL:
      timed(read_all_serial, a, b, 1);
      break;
    default:
      break;
  }
  if (c >= C_URING) *a = (double)g_total_bytes / (*b / 1e9) / 1e6; /* MB/s from wall */
}

static void print_machine(const char *when) {
  double l[3];
  gsp_bench_loadavg(l);
  struct utsname u;
  uname(&u);
  printf("# %s: %s %s, %ld CPUs online, gsperf default workers %u, load %.2f %.2f %.2f\n", when,
         u.sysname, u.release, sysconf(_SC_NPROCESSORS_ONLN), gsp_exec_default_workers(), l[0],
         l[1], l[2]);
}

static double med(int c, int k, int rounds) { return gsp_bench_median(g_m[c][k], rounds); }

static void print_tables(int rounds) {
  printf("\npriority (2 workers, %d-task flood)   probe wait p50 us   p99 us\n", FLOOD);
  printf("  probes in throughput class         %17.1f %8.1f\n", med(C_PRIO_TP, 0, rounds),
         med(C_PRIO_TP, 1, rounds));
  printf("  probes in latency class            %17.1f %8.1f\n", med(C_PRIO_LAT, 0, rounds),
         med(C_PRIO_LAT, 1, rounds));
  double off = med(C_SCALE_OFF, 0, rounds), on = med(C_SCALE_ON, 0, rounds);
  printf("\nscaling (%d tasks blocking 2 ms)        wall ms   peak workers\n", BLOCKERS);
  printf("  fixed 2 workers                    %10.1f %10.0f\n", off, med(C_SCALE_OFF, 1, rounds));
  printf("  scaling 2..32                      %10.1f %10.0f   (%.1fx faster)\n", on,
         med(C_SCALE_ON, 1, rounds), off / on);
  printf("\nmap (%d tiny items)                   CPU ns/item  wall ns/item\n", MAP_N);
  printf("  gsp_exec_map (guided chunks)       %11.2f %12.2f\n", med(C_MAP, 0, rounds),
         med(C_MAP, 1, rounds));
  printf("  one group task per item            %11.2f %12.2f\n", med(C_TASKS, 0, rounds),
         med(C_TASKS, 1, rounds));
  printf("\nio (%d x 64 KiB + %d x 8 MiB, cached)     MB/s\n", SMALL_FILES, BIG_FILES);
  printf("  I/O executor, io_uring             %10.0f\n", med(C_URING, 0, rounds));
  printf("  I/O executor, pread                %10.0f\n", med(C_PREAD, 0, rounds));
  printf("  one thread, read()                 %10.0f\n", med(C_SERIAL, 0, rounds));
}

int main(int argc, char **argv) {
  int rounds = 5;
  for (int i = 1; i < argc; i++)
    if (strcmp(argv[i], "--rounds") == 0 && i + 1 < argc) rounds = (int)strtol(argv[++i], NULL, 10);
  if (rounds < 1 || rounds > MAX_ROUNDS) rounds = 5;
  gsp_exec_config cfg = {.workers = 2};
  if (gsp_exec_create(&cfg, &g_ex) != GSP_OK) return 1;
  make_files();
  make_buffers();
  print_machine("before");
  for (int round = 0; round < rounds; round++)
    for (int k = 0; k < NC; k++) run_cell((k + round) % NC, round);
  print_tables(rounds);
  print_machine("after");
  remove_files();
  gsp_exec_destroy(g_ex);
  return 0;
}
