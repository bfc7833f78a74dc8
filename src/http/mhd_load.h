/*
 * mhd_load.h - the libmicrohttpd functions server.c calls, resolved at run
 * time (mhd_load.c): libgsperf does not link libmicrohttpd, it loads it the
 * first time a server is created.
 *
 * Thread safety: gsp__mhd_load may be called from any thread, any number of
 * times; the first call loads (under a once-guard), the others wait for it
 * and return the same result. The table is read-only afterwards.
 * Ownership: the table and the message are static; never free them.
 */
#ifndef GSP_HTTP_MHD_LOAD_H
#define GSP_HTTP_MHD_LOAD_H

#include <microhttpd.h>

/* The library's run-time name (Debian package libmicrohttpd12). */
#define GSP__MHD_SONAME "libmicrohttpd.so.12"

typedef struct gsp__mhd {
  __typeof__(MHD_start_daemon) *start_daemon;
  __typeof__(MHD_stop_daemon) *stop_daemon;
  __typeof__(MHD_get_daemon_info) *get_daemon_info;
  __typeof__(MHD_get_connection_info) *get_connection_info;
  __typeof__(MHD_lookup_connection_value) *lookup_connection_value;
  __typeof__(MHD_get_connection_values) *get_connection_values;
  __typeof__(MHD_create_response_from_buffer) *create_response_from_buffer;
  __typeof__(MHD_create_response_from_buffer_with_free_callback)
      *create_response_from_buffer_with_free_callback;
  __typeof__(MHD_add_response_header) *add_response_header;
  __typeof__(MHD_queue_response) *queue_response;
  __typeof__(MHD_destroy_response) *destroy_response;
} gsp__mhd;

/*
 * Load libmicrohttpd (GSPERF_MHD_LIBRARY overrides the file name) and
 * resolve the table. GSP_OK with *out set; or GSP_ENOTSUP with *out NULL
 * and *why a message naming the library and dlerror()'s reason.
 */
int gsp__mhd_load(const gsp__mhd **out, const char **why);

#endif
