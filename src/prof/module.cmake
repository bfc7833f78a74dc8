# src/prof/module.cmake - the profiler (include/gsperf/prof.h): CPU
# sampling, zones, symbolization with libdw, pprof/collapsed/SVG/text
# reports; the preload library libgsperf-preload.so that `gsperf profile`
# puts into the program it runs; the `profile` verb.
# Needs Debian libdw-dev, libunwind-dev, zlib1g-dev.
pkg_check_modules(GSP_PROF_DW REQUIRED libdw)
pkg_check_modules(GSP_PROF_UNWIND REQUIRED libunwind)
pkg_check_modules(GSP_PROF_ZLIB REQUIRED zlib)

list(APPEND GSP_SOURCES
  ${PROJECT_SOURCE_DIR}/src/prof/zone.c
  ${PROJECT_SOURCE_DIR}/src/prof/sampler.c
  ${PROJECT_SOURCE_DIR}/src/prof/sampler_ring.c
  ${PROJECT_SOURCE_DIR}/src/prof/sampler_unwind.c
  ${PROJECT_SOURCE_DIR}/src/prof/sampler_capture.c
  ${PROJECT_SOURCE_DIR}/src/prof/stacks.c
  ${PROJECT_SOURCE_DIR}/src/prof/symbol.c
  ${PROJECT_SOURCE_DIR}/src/prof/report.c
  ${PROJECT_SOURCE_DIR}/src/prof/report_out.c
  ${PROJECT_SOURCE_DIR}/src/prof/pprof.c
  ${PROJECT_SOURCE_DIR}/src/prof/flame.c
  ${PROJECT_SOURCE_DIR}/src/prof/prof.c
  ${PROJECT_SOURCE_DIR}/src/prof/heap_report.c
  ${PROJECT_SOURCE_DIR}/src/prof/got.c
  ${PROJECT_SOURCE_DIR}/src/prof/heap_scan.c
  ${PROJECT_SOURCE_DIR}/src/prof/inproc.c
  ${PROJECT_SOURCE_DIR}/src/prof/inproc_heap.c
  ${PROJECT_SOURCE_DIR}/src/prof/heap_sites.c
  ${PROJECT_SOURCE_DIR}/src/prof/io_hook.c)
# libunwind: headers only; sampler_unwind.c loads it with dlopen when CPU
# sampling starts.
list(APPEND GSP_PRIVATE_LIBS ${GSP_PROF_DW_LIBRARIES} ${GSP_PROF_ZLIB_LIBRARIES} ${CMAKE_DL_LIBS})
list(APPEND GSP_PRIVATE_INCLUDES ${GSP_PROF_DW_INCLUDE_DIRS} ${GSP_PROF_UNWIND_INCLUDE_DIRS}
     ${GSP_PROF_ZLIB_INCLUDE_DIRS})
list(APPEND GSP_PC_REQUIRES libdw zlib)

list(APPEND GSP_CLI_SOURCES ${PROJECT_SOURCE_DIR}/cli/cmd_profile.c)
list(APPEND GSP_CLI_VERBS "profile|gsp_cmd_profile|run a program under the profiler")

# libgsperf-preload.so, next to the gsperf binary in the build tree (the
# tool looks there, then in ../lib); it carries the library statically.
add_library(gsperf-preload SHARED ${PROJECT_SOURCE_DIR}/src/prof/preload.c
            ${PROJECT_SOURCE_DIR}/src/prof/heap_hook.c ${PROJECT_SOURCE_DIR}/src/prof/preload_io.c
            ${PROJECT_SOURCE_DIR}/src/prof/heap_save.c ${PROJECT_SOURCE_DIR}/src/prof/preload_child.c)
target_include_directories(gsperf-preload PRIVATE ${PROJECT_SOURCE_DIR}/include
                           ${PROJECT_SOURCE_DIR}/src/prof)
target_link_libraries(gsperf-preload PRIVATE gsperf_static Threads::Threads ${CMAKE_DL_LIBS})
# --as-needed: only the libraries the profiler uses are loaded into the
# program (not those of the other modules in gsperf_static).
target_link_options(gsperf-preload PRIVATE -Wl,--as-needed)
set_target_properties(gsperf-preload PROPERTIES LIBRARY_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR})
install(TARGETS gsperf-preload LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR})
