# src/http/module.cmake - the HTTP server's run-time loader of
# libmicrohttpd (mhd_load.c). The rest of src/http is listed in the root
# CMakeLists.txt. libgsperf does not link libmicrohttpd: only its headers
# are used at build time (MHD_INCLUDE_DIRS, root CMakeLists.txt); the
# library is dlopen'ed by the first gsp_http_create.
list(APPEND GSP_SOURCES ${PROJECT_SOURCE_DIR}/src/http/mhd_load.c)
list(APPEND GSP_PRIVATE_LIBS ${CMAKE_DL_LIBS})
