# src/dist/module.cmake - distributed execution over MPI, built as its own
# library (libgsperf_dist, shared, and libgsperf_dist.a) so that the core
# library does not depend on MPI. Open MPI from Debian (pkg-config ompi-c).
# Without it the dist library is not built (and its tests are skipped).
pkg_check_modules(OMPI QUIET ompi-c)
if(OMPI_FOUND)
  set(GSP_DIST_SOURCES
    ${PROJECT_SOURCE_DIR}/src/dist/dist.c
    ${PROJECT_SOURCE_DIR}/src/dist/dist_mpi.c
    ${PROJECT_SOURCE_DIR}/src/dist/dist_master.c)
  foreach(t gsperf_dist gsperf_dist_static)
    if(t STREQUAL "gsperf_dist")
      add_library(${t} SHARED ${GSP_DIST_SOURCES})
      target_link_libraries(${t} PUBLIC gsperf)
    else()
      add_library(${t} STATIC ${GSP_DIST_SOURCES})
      set_target_properties(${t} PROPERTIES OUTPUT_NAME gsperf_dist)
      target_link_libraries(${t} PUBLIC gsperf_static)
    endif()
    target_include_directories(${t} PUBLIC $<BUILD_INTERFACE:${PROJECT_SOURCE_DIR}/include>)
    target_include_directories(${t} SYSTEM PRIVATE ${OMPI_INCLUDE_DIRS})
    target_link_directories(${t} PUBLIC ${OMPI_LIBRARY_DIRS})
    target_link_libraries(${t} PUBLIC ${OMPI_LIBRARIES})
  endforeach()
  # Installed next to libgsperf.so, which it finds through $ORIGIN (the
  # tool dlopens it, so no program's RUNPATH helps).
  set_target_properties(gsperf_dist PROPERTIES VERSION ${PROJECT_VERSION}
                        SOVERSION ${PROJECT_VERSION_MAJOR} INSTALL_RPATH "$ORIGIN")
  install(TARGETS gsperf_dist gsperf_dist_static
          LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
          ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR})
  file(RELATIVE_PATH _dist_rel "/p/${CMAKE_INSTALL_LIBDIR}/pkgconfig" "/p")
  file(CONFIGURE OUTPUT ${CMAKE_CURRENT_BINARY_DIR}/gsperf-dist.pc CONTENT
"prefix=\${pcfiledir}/${_dist_rel}
libdir=\${prefix}/${CMAKE_INSTALL_LIBDIR}
includedir=\${prefix}/${CMAKE_INSTALL_INCLUDEDIR}

Name: gsperf-dist
Description: gsperf distributed execution over MPI
Version: ${PROJECT_VERSION}
Requires: gsperf ompi-c
Libs: -L\${libdir} -lgsperf_dist
Cflags: -I\${includedir}
" @ONLY)
  install(FILES ${CMAKE_CURRENT_BINARY_DIR}/gsperf-dist.pc
          DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
  find_program(GSP_MPIRUN mpirun)

  # The tool does not link the dist library: `gsperf analyze --distributed`
  # dlopens libgsperf_dist.so.N (cli/analyze_dist.c), found next to the
  # gsperf binary in the build tree or in ../LIBDIR of an install, so a
  # plain run never maps Open MPI.
  list(APPEND GSP_CLI_LIBS ${CMAKE_DL_LIBS})
  file(RELATIVE_PATH _dist_libdir_rel "/p/${CMAKE_INSTALL_BINDIR}" "/p/${CMAKE_INSTALL_LIBDIR}")
  set_source_files_properties(${PROJECT_SOURCE_DIR}/cli/analyze_dist.c PROPERTIES
    COMPILE_DEFINITIONS
    "GSP_DIST_LIBNAME=\"libgsperf_dist.so.${PROJECT_VERSION_MAJOR}\";GSP_DIST_LIBDIR_REL=\"${_dist_libdir_rel}\"")
  # Built with the tool (`--target gsperf_cli` too), once that target exists
  # (CMake 3.19+; with 3.18 `all` still builds both).
  if(CMAKE_VERSION VERSION_GREATER_EQUAL 3.19)
    cmake_language(DEFER CALL add_dependencies gsperf_cli gsperf_dist)
  endif()
else()
  message(STATUS "dist: Open MPI not found (apt install libopenmpi-dev); libgsperf_dist not built")
endif()
