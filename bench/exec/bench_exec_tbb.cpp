// bench_exec_tbb.cpp - the oneTBB side of bench_exec: task_group for the
// empty tasks, parallel_for for the fork-join and the map, limited to 2
// threads (the main thread joins the arena as one of them).
#include <tbb/blocked_range.h>
#include <tbb/global_control.h>
#include <tbb/parallel_for.h>
#include <tbb/task_group.h>

#include <memory>

#include "bench_exec.h"
#include "gsperf/common.h"

namespace {
size_t g_n = 1000000;
std::unique_ptr<tbb::global_control> g_limit;

void limit() {
  if (!g_limit)
    g_limit =
        std::make_unique<tbb::global_control>(tbb::global_control::max_allowed_parallelism, 2);
}
}  // namespace

extern "C" void bench_tbb_set_empty_n(size_t n) { g_n = n; }

extern "C" void bench_tbb_empty(void) {
  limit();
  tbb::task_group g;
  for (size_t i = 0; i < g_n; i++) g.run([] { bench_empty(); });
  g.wait();
}

extern "C" void bench_tbb_forkjoin(uint64_t *lat) {
  limit();
  for (int r = 0; r < 5000; r++) {
    uint64_t t0 = gsp_now_ns();
    tbb::parallel_for(0, 2, [](int) { bench_empty(); });
    lat[r] = gsp_now_ns() - t0;
  }
}

extern "C" void bench_tbb_map(void) {
  limit();
  tbb::parallel_for(tbb::blocked_range<size_t>(0, BENCH_MAP_CHUNKS, 1),
                    [](const tbb::blocked_range<size_t> &r) {
                      for (size_t i = r.begin(); i != r.end(); ++i)
                        bench_map_store(i, bench_work(i));
                    });
}
