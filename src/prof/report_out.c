/*
 * report_out.c - the text and JSON forms of a report: top functions by
 * self time, the hottest call paths (whole stacks, root first), the
 * bottlenecks (functions whose self share reaches bottleneck_pct) and,
 * in the text form, the zones recorded in this process.
 *
 * Hot paths are found by a partial selection over the stack table (top N
 * by count, N small), so a report costs O(stacks * N).
 */
#include <inttypes.h>
#include <string.h>

#include "prof_int.h"

#define HOT_PATHS 5

/* Indices into the stack table of the (up to) n most sampled stacks. */
static size_t top_stacks(const gsp_prof_report *r, size_t *idx, size_t n) {
  size_t m = 0;
  const gsp__stacks *t = &r->stacks;
  for (size_t i = 0; i < t->cap; i++) {
    if (t->hash[i] == 0) continue;
    size_t j = m < n ? m++ : n;
    if (j == n && t->v[i].count <= t->v[idx[n - 1]].count) continue;
    if (j == n) j = n - 1;
    while (j > 0 && t->v[idx[j - 1]].count < t->v[i].count) {
      idx[j] = idx[j - 1];
      j--;
    }
    idx[j] = i;
  }
  return m;
}

static void text_path(const gsp_prof_report *r, const gsp__stack *s, FILE *f) {
  for (uint32_t i = 0; i < s->depth; i++)
    fprintf(f, "%s%s", i ? ";" : "", r->funcs[gsp__report_func_at(r, s, i)].name);
}

static void text_zones(FILE *f) {
  gsp_prof_zone_stats *z;
  size_t n;
  if (gsp_prof_zones_get(&z, &n) != GSP_OK) return;
  if (n == 0) return; /* z is NULL then */
  fprintf(f, "\nZones (ns)\n%-32s %10s %14s %14s %10s %10s %10s\n", "zone", "count", "total",
          "self", "p50", "p90", "p99");
  for (size_t i = 0; i < n; i++)
    fprintf(f,
            "%-32s %10" PRIu64 " %14" PRIu64 " %14" PRIu64 " %10" PRIu64 " %10" PRIu64 " %10" PRIu64
            "\n",
            z[i].name, z[i].count, z[i].total_ns, z[i].self_ns, z[i].p50_ns, z[i].p90_ns,
            z[i].p99_ns);
  gsp_free(z);
}

int gsp_prof_report_write_text(const gsp_prof_report *r, FILE *f, size_t top) {
  if (!r || !f) return GSP_EINVAL;
  uint64_t all = r->stacks.total;
  fprintf(f, "CPU samples: %" PRIu64 " at %u Hz per thread (%.3f CPU-seconds)\n\n", all, r->hz,
          r->hz ? (double)all / r->hz : 0.0);
  fprintf(f, "%7s %7s  %s\n", "self%", "total%", "function (file:line)");
  for (size_t i = 0; i < r->nfuncs && i < top; i++) {
    const gsp_prof_func *fn = &r->funcs[i];
    fprintf(f, "%6.2f%% %6.2f%%  %s", fn->self_pct, fn->total_pct, fn->name);
    if (fn->file[0]) fprintf(f, " (%s:%u)", fn->file, fn->line);
    fputc('\n', f);
  }
  size_t idx[HOT_PATHS];
  size_t m = top_stacks(r, idx, HOT_PATHS);
  fprintf(f, "\nHot call paths\n");
  for (size_t i = 0; i < m; i++) {
    const gsp__stack *s = &r->stacks.v[idx[i]];
    fprintf(f, "%6.2f%%  ", all ? 100.0 * (double)s->count / (double)all : 0.0);
    text_path(r, s, f);
    fputc('\n', f);
  }
  fprintf(f, "\nBottlenecks (self >= %.1f%%)\n", r->bottleneck_pct);
  for (size_t i = 0; i < r->nfuncs && r->funcs[i].self_pct >= r->bottleneck_pct; i++)
    fprintf(f, "  %s (%.2f%%)\n", r->funcs[i].name, r->funcs[i].self_pct);
  text_zones(f);
  return ferror(f) ? GSP_EIO : GSP_OK;
}

static void json_str(FILE *f, const char *s) {
  fputc('"', f);
  for (; *s; s++) {
    unsigned char c = (unsigned char)*s;
    if (c == '"' || c == '\\') {
      fprintf(f, "\\%c", c);
    } else if (c < 0x20) {
      fprintf(f, "\\u%04x", c);
    } else {
      fputc(c, f);
    }
  }
  fputc('"', f);
}

static void json_paths(const gsp_prof_report *r, FILE *f) {
  size_t idx[HOT_PATHS];
  size_t m = top_stacks(r, idx, HOT_PATHS);
  fprintf(f, "\"hot_paths\":[");
  for (size_t i = 0; i < m; i++) {
    const gsp__stack *s = &r->stacks.v[idx[i]];
    fprintf(f, "%s{\"pct\":%.3f,\"stack\":[", i ? "," : "",
            100.0 * (double)s->count / (double)r->stacks.total);
    for (uint32_t d = 0; d < s->depth; d++) {
      if (d) fputc(',', f);
      json_str(f, r->funcs[gsp__report_func_at(r, s, d)].name);
    }
    fprintf(f, "]}");
  }
  fprintf(f, "]");
}

int gsp_prof_report_write_json(const gsp_prof_report *r, FILE *f, size_t top) {
  if (!r || !f) return GSP_EINVAL;
  fprintf(f, "{\"samples\":%" PRIu64 ",\"hz\":%u,\"functions\":[", r->stacks.total, r->hz);
  for (size_t i = 0; i < r->nfuncs && i < top; i++) {
    const gsp_prof_func *fn = &r->funcs[i];
    fprintf(f, "%s{\"name\":", i ? "," : "");
    json_str(f, fn->name);
    fprintf(f, ",\"self_pct\":%.3f,\"total_pct\":%.3f,\"file\":", fn->self_pct, fn->total_pct);
    json_str(f, fn->file);
    fprintf(f, ",\"line\":%u}", fn->line);
  }
  fprintf(f, "],\"bottlenecks\":[");
  for (size_t i = 0; i < r->nfuncs && r->funcs[i].self_pct >= r->bottleneck_pct; i++) {
    if (i) fputc(',', f);
    json_str(f, r->funcs[i].name);
  }
  fprintf(f, "],");
  json_paths(r, f);
  fprintf(f, "}");
  return ferror(f) ? GSP_EIO : GSP_OK;
}
