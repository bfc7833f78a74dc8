/*
 * http_client.h - a tiny blocking HTTP/1.1 client over loopback for the
 * tests (no curl): send a raw request, read until the server closes, and
 * pick the status, a header and the body out of the answer.
 */
#ifndef GSP_TEST_HTTP_CLIENT_H
#define GSP_TEST_HTTP_CLIENT_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

typedef struct hc_resp {
  int status; /* 0 when no status line arrived (connection refused or closed) */
  char *raw;  /* malloc'd, NUL-terminated */
  size_t len;
} hc_resp;

static inline int hc_connect(unsigned short port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return -1;
  struct timeval tv = {.tv_sec = 10, .tv_usec = 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

static inline void hc_send_all(int fd, const char *p, size_t n) {
  while (n > 0) {
    ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
    if (w <= 0) return;
    p += w;
    n -= (size_t)w;
  }
}

static inline void hc_read_all(int fd, hc_resp *r) {
  size_t cap = 4096;
  r->raw = malloc(cap);
  r->len = 0;
  for (;;) {
    if (cap - r->len < 2048) r->raw = realloc(r->raw, cap *= 2);
    ssize_t n = recv(fd, r->raw + r->len, cap - r->len - 1, 0);
    if (n <= 0) break;
    r->len += (size_t)n;
  }
  r->raw[r->len] = '\0';
  r->status = 0;
  if (r->len > 12 && strncmp(r->raw, "HTTP/1.", 7) == 0)
    r->status = (int)strtol(r->raw + 9, NULL, 10);
}

/* Send a raw request (should say Connection: close) and read the answer. */
static inline hc_resp hc_raw(unsigned short port, const char *req, size_t n) {
  hc_resp r = {0};
  int fd = hc_connect(port);
  if (fd < 0) {
    r.raw = calloc(1, 1);
    return r;
  }
  hc_send_all(fd, req, n);
  hc_read_all(fd, &r);
  close(fd);
  return r;
}

/* METHOD path with optional extra header lines (each ending in \r\n). */
static inline hc_resp hc_req(unsigned short port, const char *method, const char *path,
                             const char *extra) {
  char buf[8192];
  int n =
      snprintf(buf, sizeof buf, "%s %s HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n%s\r\n",
               method, path, extra ? extra : "");
  return hc_raw(port, buf, (size_t)n);
}

static inline const char *hc_find(const char *hay, const char *needle) {
  size_t n = strlen(needle);
  for (; *hay; hay++)
    if (strncasecmp(hay, needle, n) == 0) return hay;
  return NULL;
}

/* The value of header `name` (copied into out), or NULL. */
static inline const char *hc_header(const hc_resp *r, const char *name, char *out, size_t cap) {
  char pat[128];
  snprintf(pat, sizeof pat, "\r\n%s:", name);
  const char *p = hc_find(r->raw, pat);
  const char *end = strstr(r->raw, "\r\n\r\n");
  if (p == NULL || (end && p > end)) return NULL;
  p += strlen(pat);
  while (*p == ' ') p++;
  size_t n = strcspn(p, "\r\n");
  if (n >= cap) n = cap - 1;
  memcpy(out, p, n);
  out[n] = '\0';
  return out;
}

static inline const char *hc_body(const hc_resp *r) {
  const char *p = strstr(r->raw, "\r\n\r\n");
  return p ? p + 4 : "";
}

#endif
