# src/exec/module.cmake - the pool's files beyond the core that the root
# CMakeLists.txt lists (deque.c, exec.c, exec_group.c, exec_cpus.c): batch
# map, task object reuse, worker slots and auto-scaling, statistics, and the
# I/O executor (io_uring through liburing, with a pread fallback).
list(APPEND GSP_SOURCES
  ${PROJECT_SOURCE_DIR}/src/exec/exec_map.c
  ${PROJECT_SOURCE_DIR}/src/exec/exec_task.c
  ${PROJECT_SOURCE_DIR}/src/exec/exec_outside.c
  ${PROJECT_SOURCE_DIR}/src/exec/exec_scale.c
  ${PROJECT_SOURCE_DIR}/src/exec/exec_stats.c)
pkg_check_modules(URING REQUIRED IMPORTED_TARGET liburing)
list(APPEND GSP_SOURCES
  ${PROJECT_SOURCE_DIR}/src/exec/io.c
  ${PROJECT_SOURCE_DIR}/src/exec/io_read.c)
list(APPEND GSP_PRIVATE_LIBS ${URING_LIBRARIES})
list(APPEND GSP_PRIVATE_INCLUDES ${URING_INCLUDE_DIRS})
list(APPEND GSP_PC_REQUIRES liburing)
