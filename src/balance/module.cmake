# balance: load balancers over weighted backends (include/gsperf/balance.h).
# Uses xxHash (already a library dependency) for Maglev and key hashing.
list(APPEND GSP_SOURCES
  ${PROJECT_SOURCE_DIR}/src/balance/balance.c
  ${PROJECT_SOURCE_DIR}/src/balance/view.c
  ${PROJECT_SOURCE_DIR}/src/balance/pick.c
  ${PROJECT_SOURCE_DIR}/src/balance/health.c
  ${PROJECT_SOURCE_DIR}/src/balance/metrics.c
  ${PROJECT_SOURCE_DIR}/src/balance/bounded.c)
