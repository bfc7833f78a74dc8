# The cache's lock-free read path (the rest of the module's sources are
# listed in the root CMakeLists.txt): epoch-based reclamation and the
# lookup, hit log and limbo built on it.
list(APPEND GSP_SOURCES
  ${PROJECT_SOURCE_DIR}/src/cache/cache_ebr.c
  ${PROJECT_SOURCE_DIR}/src/cache/cache_lf.c)
