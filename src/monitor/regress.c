/*
 * regress.c - regression detection on a stream of durations: a one-sided
 * Mann-Whitney U test between a baseline window and a recent window.
 *
 * Why Mann-Whitney. Durations are skewed and heavy-tailed; a t-test on
 * them is driven by outliers. The U test compares ranks, so it asks "is a
 * recent value typically larger than a baseline value?" and is robust to
 * the tail and to any monotone transform (ns or s, log or not). Its null
 * distribution needs no model of the noise.
 *
 * Windows. `recent` holds the last R values; when it is full the oldest
 * recent value moves into `baseline`, a ring of the B values before it.
 * A test needs both full. Memory: 8 x (B + R) for the rings and 16 x (B + R)
 * for the sort scratch, allocated at create.
 *
 * Test. Sort the B + R values with their group, give tied values their
 * average rank, sum the recent ranks (R1); U = R1 - R(R+1)/2, mean
 * mu = RB/2, variance RB/12 x ((N+1) - sum(t^3 - t)/(N(N-1))) with t the
 * size of each tie group (the tie correction), and z = (U - mu - 0.5)/sd
 * (continuity correction). A regression needs z >= z_threshold and a
 * recent median at least (1 + min_shift) x the baseline median: the first
 * guards against noise, the second against shifts too small to matter.
 * Tests run on every call of gsp_regress_test (O(N log N), about 35 us for
 * N = 1100 on the reference VM, bench_monitor); on a report both windows are cleared so the new
 * level becomes the next baseline.
 *
 * False alarms: z_threshold 4.5 is a one-sided p of 3.4e-6 per test; tests
 * on overlapping windows are strongly correlated, so 10,000 tests on
 * stationary data have far fewer than 10,000 independent chances.
 */
#include <math.h>
#include <stdlib.h>

#include "gsperf/monitor.h"

typedef struct tagged {
  double v;
  int recent;
} tagged;

struct gsp_regress {
  gsp_regress_config cfg;
  double *base; /* ring of cfg.baseline */
  double *rec;  /* ring of cfg.recent */
  uint32_t base_len, base_head, rec_len, rec_head;
  tagged *scratch;
};

int gsp_regress_create(const gsp_regress_config *cfg, gsp_regress **out) {
  static const gsp_regress_config zero;
  if (out == NULL) return GSP_EINVAL;
  gsp_regress_config c = cfg ? *cfg : zero;
  if (c.baseline == 0) c.baseline = 1000;
  if (c.recent == 0) c.recent = 100;
  if (c.z_threshold == 0) c.z_threshold = 4.5;
  if (c.min_shift == 0) c.min_shift = 0.05;
  if (c.baseline < 8 || c.recent < 8 || c.baseline > (1u << 24) || c.recent > (1u << 24) ||
      !(c.z_threshold > 0) || !(c.min_shift >= 0))
    return GSP_EINVAL;
  gsp_regress *r = gsp_calloc(1, sizeof *r);
  if (r == NULL) return GSP_ENOMEM;
  r->cfg = c;
  r->base = gsp_malloc(c.baseline * sizeof *r->base);
  r->rec = gsp_malloc(c.recent * sizeof *r->rec);
  r->scratch = gsp_malloc(((size_t)c.baseline + c.recent) * sizeof *r->scratch);
  if (!r->base || !r->rec || !r->scratch) {
    gsp_regress_destroy(r);
    return GSP_ENOMEM;
  }
  *out = r;
  return GSP_OK;
}

void gsp_regress_destroy(gsp_regress *r) {
  if (r == NULL) return;
  gsp_free(r->base);
  gsp_free(r->rec);
  gsp_free(r->scratch);
  gsp_free(r);
}

static void base_push(gsp_regress *r, double v) {
  r->base[r->base_head] = v;
  r->base_head = (r->base_head + 1) % r->cfg.baseline;
  if (r->base_len < r->cfg.baseline) r->base_len++;
}

void gsp_regress_add(gsp_regress *r, double v) {
  if (r == NULL || !isfinite(v)) return;
  if (r->rec_len == r->cfg.recent) base_push(r, r->rec[r->rec_head]);
  r->rec[r->rec_head] = v;
  r->rec_head = (r->rec_head + 1) % r->cfg.recent;
  if (r->rec_len < r->cfg.recent) r->rec_len++;
}

static int cmp_tagged(const void *a, const void *b) {
  double x = ((const tagged *)a)->v, y = ((const tagged *)b)->v;
  return (x > y) - (x < y);
}

/* The k-th (0-based) value of group g in the sorted scratch. */
static double kth_of_group(const tagged *t, size_t n, int g, size_t k) {
  for (size_t i = 0; i < n; i++)
    if (t[i].recent == g && k-- == 0) return t[i].v;
  return 0;
}

static double median_of_group(const tagged *t, size_t n, int g, size_t gn) {
  double a = kth_of_group(t, n, g, (gn - 1) / 2), b = kth_of_group(t, n, g, gn / 2);
  return (a + b) / 2;
}

/* Sum of ranks of the recent group and the tie term sum(t^3 - t). */
static double recent_rank_sum(const tagged *t, size_t n, double *ties) {
  double r1 = 0;
  *ties = 0;
  for (size_t i = 0; i < n;) {
    size_t j = i;
    while (j + 1 < n && t[j + 1].v == t[i].v) j++;
    double rank = (double)(i + j) / 2.0 + 1.0, cnt = (double)(j - i + 1);
    for (size_t k = i; k <= j; k++)
      if (t[k].recent) r1 += rank;
    *ties += cnt * cnt * cnt - cnt;
    i = j + 1;
  }
  return r1;
}

static double mann_whitney_z(const gsp_regress *r, size_t n) {
  double ties, n1 = r->rec_len, n2 = r->base_len, nn = (double)n;
  double u = recent_rank_sum(r->scratch, n, &ties) - n1 * (n1 + 1) / 2;
  double var = n1 * n2 / 12.0 * ((nn + 1) - ties / (nn * (nn - 1)));
  if (!(var > 0)) return 0;
  return (u - n1 * n2 / 2 - 0.5) / sqrt(var);
}

bool gsp_regress_test(gsp_regress *r, gsp_regress_result *res) {
  gsp_regress_result tmp = {0};
  if (res == NULL) res = &tmp;
  *res = (gsp_regress_result){0};
  if (r == NULL || r->base_len < r->cfg.baseline || r->rec_len < r->cfg.recent) return false;
  size_t n = 0;
  for (uint32_t i = 0; i < r->base_len; i++) r->scratch[n++] = (tagged){r->base[i], 0};
  for (uint32_t i = 0; i < r->rec_len; i++) r->scratch[n++] = (tagged){r->rec[i], 1};
  qsort(r->scratch, n, sizeof *r->scratch, cmp_tagged);
  res->z = mann_whitney_z(r, n);
  res->baseline_median = median_of_group(r->scratch, n, 0, r->base_len);
  res->recent_median = median_of_group(r->scratch, n, 1, r->rec_len);
  res->regression = res->z >= r->cfg.z_threshold &&
                    res->recent_median >= res->baseline_median * (1 + r->cfg.min_shift);
  if (res->regression) r->base_len = r->base_head = r->rec_len = r->rec_head = 0;
  return res->regression;
}
