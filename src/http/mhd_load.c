/*
 * mhd_load.c - libmicrohttpd loaded on demand. libgsperf has no link-time
 * dependency on libmicrohttpd: the first gsp_http_create opens it with
 * dlopen(RTLD_NOW | RTLD_LOCAL) and resolves the functions server.c calls
 * into a table. A program that never creates a server therefore never maps
 * libmicrohttpd nor what it pulls in (GnuTLS, p11-kit, nettle, hogweed,
 * gmp, libunistring; GnuTLS also initializes itself in a constructor).
 * The headers are still used, for the types and constants.
 *
 * The library is GSP__MHD_SONAME, or the file named by the environment
 * variable GSPERF_MHD_LIBRARY when it is set and not empty.
 *
 * Data: one static table of function pointers, a status and an error
 * message, all written once under a pthread_once guard.
 * Invariants: after the guard the table, status and message never change;
 * the table is complete (every pointer set) when the status is GSP_OK; the
 * library stays loaded for the life of the process (never dlclose'd, as
 * daemons may be running and GnuTLS does not support being unloaded).
 */
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include "gsperf/common.h"

#include "mhd_load.h"

static gsp__mhd table;
static int status = GSP_ESTATE;
static char message[256];
static pthread_once_t once = PTHREAD_ONCE_INIT;

/* One symbol into *slot; false (with message set) when it is missing. */
static bool resolve(void *lib, const char *libname, const char *sym, void **slot) {
  dlerror();
  *slot = dlsym(lib, sym);
  if (*slot != NULL) return true;
  const char *why = dlerror();
  snprintf(message, sizeof message, "%s: symbol %s: %s", libname, sym,
           why ? why : "resolves to NULL");
  return false;
}

/* Function pointers are stored through void ** as POSIX dlsym requires. */
static bool resolve_all(void *lib, const char *n) {
  return resolve(lib, n, "MHD_start_daemon", (void **)&table.start_daemon) &&
         resolve(lib, n, "MHD_stop_daemon", (void **)&table.stop_daemon) &&
         resolve(lib, n, "MHD_get_daemon_info", (void **)&table.get_daemon_info) &&
         resolve(lib, n, "MHD_get_connection_info", (void **)&table.get_connection_info) &&
         resolve(lib, n, "MHD_lookup_connection_value", (void **)&table.lookup_connection_value) &&
         resolve(lib, n, "MHD_get_connection_values", (void **)&table.get_connection_values) &&
         resolve(lib, n, "MHD_create_response_from_buffer",
                 (void **)&table.create_response_from_buffer) &&
         resolve(lib, n, "MHD_create_response_from_buffer_with_free_callback",
                 (void **)&table.create_response_from_buffer_with_free_callback) &&
         resolve(lib, n, "MHD_add_response_header", (void **)&table.add_response_header) &&
         resolve(lib, n, "MHD_queue_response", (void **)&table.queue_response) &&
         resolve(lib, n, "MHD_destroy_response", (void **)&table.destroy_response);
}

static void load_once(void) {
  const char *env = getenv("GSPERF_MHD_LIBRARY");
  const char *name = env && *env ? env : GSP__MHD_SONAME;
  void *lib = dlopen(name, RTLD_NOW | RTLD_LOCAL);
  if (lib == NULL) {
    const char *why = dlerror();
    snprintf(message, sizeof message,
             "cannot load %s (install libmicrohttpd, Debian package libmicrohttpd12): %s", name,
             why ? why : "unknown dlopen error");
    status = GSP_ENOTSUP;
    return;
  }
  if (!resolve_all(lib, name)) {
    status = GSP_ENOTSUP;
    return; /* the library stays mapped; the table is not used */
  }
  status = GSP_OK;
}

int gsp__mhd_load(const gsp__mhd **out, const char **why) {
  pthread_once(&once, load_once);
  *out = status == GSP_OK ? &table : NULL;
  *why = status == GSP_OK ? NULL : message;
  return status;
}
