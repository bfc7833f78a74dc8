# monitor: collection sources (host callbacks and the ready cache, cache
# manager and pool exporters); the rest of the module is listed in the
# root CMakeLists.txt.
list(APPEND GSP_SOURCES ${PROJECT_SOURCE_DIR}/src/monitor/sources.c)
