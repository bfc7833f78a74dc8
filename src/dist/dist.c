/*
 * dist.c - distributed execution: the function registry, the local
 * (single-process) runner, and the life cycle that picks local or MPI.
 *
 * Functions live in a small array searched by name: a job registers a
 * handful, and a lookup happens once per map on the master and once per
 * received batch on a worker, never per task.
 *
 * Local runs use gsp_exec_map over the inputs, so a map without mpirun is
 * as parallel as the pool. A failing task is retried in place, up to
 * max_attempts runs (there is no other rank to move it to).
 *
 * Which mode: GSP_DIST_AUTO uses MPI when the process was started by an
 * MPI launcher or MPI is already initialised (dist_mpi.c decides); with
 * one rank, MPI or not, the master runs everything itself.
 */
#include <string.h>

#include "dist_int.h"

enum { DEFAULT_BATCH = 16, DEFAULT_ATTEMPTS = 3, MAX_ATTEMPTS = 1000 };

const gsp__dist_fn *gsp__dist_find(const gsp_dist *d, const char *name) {
  for (size_t i = 0; i < d->nfns; i++)
    if (strcmp(d->fns[i].name, name) == 0) return &d->fns[i];
  return NULL;
}

int gsp__dist_call(const gsp__dist_fn *f, const void *in, size_t len, void **out, size_t *out_len) {
  *out = NULL;
  *out_len = 0;
  int r = f->fn(f->user, in, len, out, out_len);
  if (r != 0) {
    gsp_free(*out);
    *out = NULL;
    *out_len = 0;
  }
  return r;
}

typedef struct local_job {
  const gsp__dist_fn *f;
  const gsp_dist_input *in;
  gsp_dist_result *res;
  unsigned max_attempts;
  int rank;
} local_job;

static int local_item(void *user, size_t i, const void *in, void *out) {
  (void)in;
  (void)out;
  local_job *j = user;
  gsp_dist_result *r = &j->res[i];
  r->rank = j->rank;
  r->attempts = 0;
  do {
    r->attempts++;
    r->status = gsp__dist_call(j->f, j->in[i].data, j->in[i].len, &r->data, &r->len);
  } while (r->status != 0 && r->attempts < j->max_attempts);
  return r->status;
}

void gsp__dist_run_local(gsp_dist *d, const gsp__dist_fn *f, size_t n, const gsp_dist_input *in,
                         gsp_dist_result *res, unsigned max_attempts) {
  local_job j = {f, in, res, max_attempts, d->rank};
  gsp_exec_map(d->ex, n, local_item, &j, NULL, NULL);
}

int gsp_dist_create(const gsp_dist_config *cfg, gsp_dist **out) {
  static const gsp_dist_config defaults = {0};
  if (out == NULL) return GSP_EINVAL;
  if (cfg == NULL) cfg = &defaults;
  if (cfg->mode > GSP_DIST_MPI || cfg->max_attempts > MAX_ATTEMPTS) return GSP_EINVAL;
  gsp_dist *d = gsp_calloc(1, sizeof(*d));
  if (d == NULL) return GSP_ENOMEM;
  d->batch = cfg->batch != 0 ? cfg->batch : DEFAULT_BATCH;
  d->max_attempts = cfg->max_attempts != 0 ? cfg->max_attempts : DEFAULT_ATTEMPTS;
  d->size = 1;
  int rv = GSP_OK;
  d->ex = cfg->exec;
  if (d->ex == NULL) {
    rv = gsp_exec_create(NULL, &d->ex);
    if (rv != GSP_OK) goto out_free;
    d->own_ex = true;
  }
  rv = gsp__dist_mpi_start(d, cfg->mode);
  if (rv != GSP_OK) goto out_exec;
  *out = d;
  return GSP_OK;
out_exec:
  if (d->own_ex) gsp_exec_destroy(d->ex);
out_free:
  gsp_free(d);
  return rv;
}

void gsp_dist_destroy(gsp_dist *d) {
  if (d == NULL) return;
  gsp__dist_mpi_stop(d);
  if (d->own_ex) gsp_exec_destroy(d->ex);
  gsp_free(d->fns);
  gsp_free(d);
}

int gsp_dist_register(gsp_dist *d, const char *name, gsp_dist_fn fn, void *user) {
  if (d == NULL || name == NULL || fn == NULL) return GSP_EINVAL;
  size_t len = strlen(name);
  if (len == 0 || len >= GSP__DIST_NAME_MAX) return GSP_EINVAL;
  if (gsp__dist_find(d, name) != NULL) return GSP_EEXIST;
  if (d->nfns == d->capfns) {
    size_t cap = d->capfns != 0 ? d->capfns * 2 : 8;
    gsp__dist_fn *a = gsp_realloc(d->fns, cap * sizeof(*a));
    if (a == NULL) return GSP_ENOMEM;
    d->fns = a;
    d->capfns = cap;
  }
  gsp__dist_fn *f = &d->fns[d->nfns++];
  memset(f->name, 0, sizeof(f->name));
  memcpy(f->name, name, len);
  f->fn = fn;
  f->user = user;
  return GSP_OK;
}

int gsp_dist_rank(const gsp_dist *d) { return d != NULL ? d->rank : 0; }
int gsp_dist_size(const gsp_dist *d) { return d != NULL ? d->size : 1; }
bool gsp_dist_is_master(const gsp_dist *d) { return d != NULL && d->rank == 0; }
bool gsp_dist_uses_mpi(const gsp_dist *d) { return d != NULL && d->mpi; }

/* The status of the lowest-indexed failed result, or GSP_OK. */
static int first_error(const gsp_dist_result *res, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (res[i].status != 0) return res[i].status;
  return GSP_OK;
}

int gsp_dist_map(gsp_dist *d, const char *name, size_t n, const gsp_dist_input *in,
                 gsp_dist_result *results) {
  if (d == NULL) return GSP_EINVAL;
  if (d->rank != 0) return gsp__dist_mpi_serve(d);
  bool farm = d->mpi && d->size > 1;
  const gsp__dist_fn *f = name != NULL ? gsp__dist_find(d, name) : NULL;
  int rv = GSP_OK;
  if (name == NULL || (n != 0 && (in == NULL || results == NULL)))
    rv = GSP_EINVAL;
  else if (f == NULL)
    rv = GSP_ENOENT;
  if (rv != GSP_OK) {
    if (farm) gsp__dist_mpi_master(d, NULL, 0, NULL, NULL); /* release the workers */
    return rv;
  }
  if (n != 0) memset(results, 0, n * sizeof(*results));
  if (farm) {
    rv = gsp__dist_mpi_master(d, f, n, in, results);
    if (rv != GSP_OK) return rv;
  } else {
    gsp__dist_run_local(d, f, n, in, results, d->max_attempts);
  }
  return first_error(results, n);
}

void gsp_dist_results_free(gsp_dist_result *results, size_t n) {
  if (results == NULL) return;
  for (size_t i = 0; i < n; i++) {
    gsp_free(results[i].data);
    results[i].data = NULL;
    results[i].len = 0;
  }
}
