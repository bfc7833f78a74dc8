/* gsperf/version.h - the one place the gsperf version is written. */
#ifndef GSPERF_VERSION_H
#define GSPERF_VERSION_H

#define GSP_VERSION_MAJOR 0
#define GSP_VERSION_MINOR 1
#define GSP_VERSION_PATCH 0
#define GSP_VERSION_STRING "0.1.0"
/* One number that grows with every release: 0xMMmmpp. */
#define GSP_VERSION_NUM ((GSP_VERSION_MAJOR << 16) | (GSP_VERSION_MINOR << 8) | GSP_VERSION_PATCH)

#endif
