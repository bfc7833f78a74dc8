# optimize - the optimization engine (include/gsperf/optimize.h) and the
# `gsperf report` verb. jansson (config files, report rendering) is already
# a private dependency of the library.
list(APPEND GSP_SOURCES
  ${PROJECT_SOURCE_DIR}/src/optimize/config.c
  ${PROJECT_SOURCE_DIR}/src/optimize/engine.c
  ${PROJECT_SOURCE_DIR}/src/optimize/func.c
  ${PROJECT_SOURCE_DIR}/src/optimize/memstore.c
  ${PROJECT_SOURCE_DIR}/src/optimize/flight.c
  ${PROJECT_SOURCE_DIR}/src/optimize/mflight.c
  ${PROJECT_SOURCE_DIR}/src/optimize/gather.c
  ${PROJECT_SOURCE_DIR}/src/optimize/batch.c
  ${PROJECT_SOURCE_DIR}/src/optimize/future.c
  ${PROJECT_SOURCE_DIR}/src/optimize/distributed.c
  ${PROJECT_SOURCE_DIR}/src/optimize/report.c
  ${PROJECT_SOURCE_DIR}/src/optimize/report_text.c)
list(APPEND GSP_CLI_SOURCES ${PROJECT_SOURCE_DIR}/cli/cmd_report.c)
list(APPEND GSP_CLI_VERBS "report|gsp_cmd_report|render a saved optimization report (JSON) as text")
