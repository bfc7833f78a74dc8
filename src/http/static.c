/*
 * static.c - the dashboard's files, served from the binary.
 *
 * The bytes of web/index.html, web/app.js, web/app.css and uPlot's
 * minified script and style live in web_assets.c, generated at build time
 * by cmake/embed_web.cmake, as a table of {path, type, bytes, length,
 * ETag} ended by a NULL path. There are five rows, so a linear scan with
 * strcmp is the whole lookup; nothing is read from disk at run time, so
 * no request path can reach the file system.
 *
 * Caching: each answer carries the file's strong ETag (a hash of its
 * bytes) and "Cache-Control: no-cache", so a browser keeps its copy but
 * asks each time; a matching If-None-Match is 304 with no body. A new
 * build with a changed file changes its ETag.
 */
#include <string.h>

#include "http_int.h"

const gsp__asset *gsp__web_asset(const char *path) {
  for (const gsp__asset *a = gsp__web_assets; a->path != NULL; a++)
    if (strcmp(a->path, path) == 0) return a;
  return NULL;
}

/* If-None-Match is "*" or a comma-separated list of entity tags, each
 * possibly weak (W/"..."); the weak comparison of RFC 9110 applies. */
bool gsp__etag_matches(const char *inm, const char *etag) {
  size_t n = strlen(etag);
  if (inm == NULL) return false;
  while (*inm != '\0') {
    while (*inm == ' ' || *inm == '\t' || *inm == ',') inm++;
    if (*inm == '*') return true;
    if (strncmp(inm, "W/", 2) == 0) inm += 2;
    if (strncmp(inm, etag, n) == 0 && (inm[n] == '\0' || inm[n] == ',' || inm[n] == ' '))
      return true;
    while (*inm != '\0' && *inm != ',') inm++;
  }
  return false;
}

void gsp__route_static(const char *path, const char *if_none_match, gsp__resp *r) {
  const gsp__asset *a = gsp__web_asset(path);
  if (a == NULL) {
    gsp__resp_error(r, 404, "not found", NULL);
    return;
  }
  r->asset = a;
  r->ctype = a->ctype;
  r->body = NULL;
  r->len = 0;
  r->status = gsp__etag_matches(if_none_match, a->etag) ? 304 : 200;
}
