# integration - the code graph run through the optimization engine
# (include/gsperf/integration.h): the seed's optimize_* decorators as the
# engine-registered stages of `gsperf analyze`. No dependency beyond the
# code graph, the engine and the multi-level cache.
list(APPEND GSP_SOURCES ${PROJECT_SOURCE_DIR}/src/integration/integration.c)
