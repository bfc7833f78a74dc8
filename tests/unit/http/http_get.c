/*
 * http_get.c - a minimal client for the `gsperf serve` CLI test:
 *   http_get PORTFILE PATH [TOKEN]
 * reads the port from PORTFILE (waiting up to 10 s for it to appear), GETs
 * PATH on 127.0.0.1 and prints the status line's code, then the body.
 * Exit 0 when a status arrived, 1 otherwise.
 */
#include <time.h>

#include "http_client.h"

static unsigned short read_port(const char *path) {
  for (int i = 0; i < 1000; i++) {
    FILE *f = fopen(path, "r");
    unsigned p = 0;
    if (f) {
      int got = fscanf(f, "%u", &p);
      fclose(f);
      if (got == 1 && p > 0 && p < 65536) return (unsigned short)p;
    }
    struct timespec ts = {0, 10000000};
    nanosleep(&ts, NULL);
  }
  return 0;
}

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: http_get PORTFILE PATH [TOKEN]\n");
    return 2;
  }
  unsigned short port = read_port(argv[1]);
  if (port == 0) {
    fprintf(stderr, "http_get: no port in %s\n", argv[1]);
    return 1;
  }
  char extra[512] = "";
  if (argc > 3) snprintf(extra, sizeof extra, "Authorization: Bearer %s\r\n", argv[3]);
  hc_resp r = hc_req(port, "GET", argv[2], extra);
  printf("%d\n%s", r.status, hc_body(&r));
  free(r.raw);
  return r.status ? 0 : 1;
}
