/* cmd.h - the gsperf tool's verbs; each lives in cli/cmd_<verb>.c and is
 * listed in GSP_CLI_VERBS (CMakeLists.txt or its module's module.cmake),
 * from which the build generates cli_verbs.h. */
#ifndef GSP_CLI_CMD_H
#define GSP_CLI_CMD_H

/* Each verb gets argv with argv[0] = the verb's name; returns the exit code:
 * 0 success, 1 failure of the work, 2 bad usage. */
#define GSP_VERB(name, fn, summary) int fn(int argc, char **argv);
#include "cli_verbs.h"
#undef GSP_VERB

#endif
