/*
 * error.c - status code names and texts, generated from GSP_ERRNO_MAP so the
 * enum, the names and the texts can never drift apart.
 */
#include "gsperf/common.h"

const char *gsp_strerror(int status) {
  switch (status) {
#define GSP_ERR_TEXT_(name, num, text) \
  case (num):                          \
    return (text);
    GSP_ERRNO_MAP(GSP_ERR_TEXT_)
#undef GSP_ERR_TEXT_
    default:
      return "unknown error";
  }
}

const char *gsp_err_name(int status) {
  switch (status) {
#define GSP_ERR_NAME_(name, num, text) \
  case (num):                          \
    return "GSP_" #name;
    GSP_ERRNO_MAP(GSP_ERR_NAME_)
#undef GSP_ERR_NAME_
    default:
      return "GSP_UNKNOWN";
  }
}
