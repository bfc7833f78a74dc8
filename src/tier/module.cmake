# src/tier - the multi-level cache (include/gsperf/tier.h): L1 memory, L2
# LZ4-compressed memory, L3 LMDB directory or Redis; and the `gsperf cache` verb.
pkg_check_modules(LZ4 REQUIRED IMPORTED_TARGET liblz4)
pkg_check_modules(LMDB REQUIRED IMPORTED_TARGET lmdb)
pkg_check_modules(HIREDIS REQUIRED IMPORTED_TARGET hiredis)
list(APPEND GSP_SOURCES
  ${PROJECT_SOURCE_DIR}/src/tier/record.c
  ${PROJECT_SOURCE_DIR}/src/tier/l3_lmdb.c
  ${PROJECT_SOURCE_DIR}/src/tier/l3_redis.c
  ${PROJECT_SOURCE_DIR}/src/tier/tier.c
  ${PROJECT_SOURCE_DIR}/src/tier/tier_life.c
  ${PROJECT_SOURCE_DIR}/src/tier/tier_behind.c
  ${PROJECT_SOURCE_DIR}/src/tier/tier_flight.c
  ${PROJECT_SOURCE_DIR}/src/tier/tier_stats.c)
list(APPEND GSP_PRIVATE_LIBS ${LZ4_LIBRARIES} ${LMDB_LIBRARIES} ${HIREDIS_LIBRARIES})
list(APPEND GSP_PRIVATE_INCLUDES ${LZ4_INCLUDE_DIRS} ${LMDB_INCLUDE_DIRS} ${HIREDIS_INCLUDE_DIRS})
list(APPEND GSP_PC_REQUIRES liblz4 lmdb hiredis)
list(APPEND GSP_CLI_SOURCES ${PROJECT_SOURCE_DIR}/cli/cmd_cache.c)
list(APPEND GSP_CLI_VERBS "cache|gsp_cmd_cache|inspect, verify and edit a persistent cache directory")
