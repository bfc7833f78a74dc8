/*
 * analyze_dist.h - `gsperf analyze --distributed`: the parse stage farmed
 * out to MPI ranks (gsperf/dist.h). Rank 0 runs the analysis and sends
 * each file's path to a worker rank, which reads it from the shared file
 * system, parses it and sends back the content hash and the serialized
 * result; rank 0 gathers them in file order. Without mpirun (or in a build
 * without Open MPI) nothing is farmed and the run is local. The tool does
 * not link the dist library: analyze_dist_open loads it, and with it Open
 * MPI, at run time (analyze_dist.c), so other runs never map MPI.
 *
 * Thread safety: one thread (the command's). Ownership: the handle is the
 * caller's; analyze_dist_close frees it.
 */
#ifndef GSPERF_CLI_ANALYZE_DIST_H
#define GSPERF_CLI_ANALYZE_DIST_H

#include <stdbool.h>

#include "gsperf/codegraph.h"

typedef struct analyze_dist analyze_dist;

/* Load the dist library and start (collective under mpirun). Returns 0, or
 * 1 after printing why (the library or Open MPI missing: which file, why). */
int analyze_dist_open(analyze_dist **out);
/* True on the ranks that only serve parse tasks (not rank 0). */
bool analyze_dist_is_worker(const analyze_dist *d);
/* Worker ranks: serve parse tasks until rank 0 is done. 0 or 1. */
int analyze_dist_serve(analyze_dist *d);
/* Rank 0: set cfg's farm when there are worker ranks (else leave it local). */
void analyze_dist_apply(analyze_dist *d, gsp_cg_config *cfg);
/* The number of ranks (1 when local). */
int analyze_dist_size(const analyze_dist *d);
/* Release the workers if the farm never ran, then stop (collective). NULL-safe. */
void analyze_dist_close(analyze_dist *d);

#endif
