/*
 * bench_exec.h - what bench_exec.c (C, gsperf and OpenMP) and
 * bench_exec_tbb.cpp (C++, oneTBB) share: the workloads, so every runtime
 * runs the same code, and the oneTBB entry points.
 */
#ifndef GSP_BENCH_EXEC_H
#define GSP_BENCH_EXEC_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define BENCH_MAP_CHUNKS 2000
#define BENCH_MAP_ITERS 20000

/* One CPU-bound chunk of the map (about 20-40 us). */
uint64_t bench_work(size_t i);
extern uint64_t bench_map_out[BENCH_MAP_CHUNKS];
/* Keep a chunk's result so the work is not optimised away. */
void bench_map_store(size_t i, uint64_t v);
/* The body of an empty task: a call the compiler cannot remove. */
void bench_empty(void);

/* oneTBB on 2 threads (bench_exec_tbb.cpp, built only with libtbb-dev). */
void bench_tbb_empty(void);
void bench_tbb_forkjoin(uint64_t *lat);
void bench_tbb_map(void);
void bench_tbb_set_empty_n(size_t n);

#ifdef __cplusplus
}
#endif

#endif
