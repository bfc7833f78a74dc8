/* cmd.h - the gsperf tool's verbs; each lives in cli/cmd_<verb>.c. */
#ifndef GSP_CLI_CMD_H
#define GSP_CLI_CMD_H

/* Each verb gets argv with argv[0] = the verb's name; returns the exit code:
 * 0 success, 1 failure of the work, 2 bad usage. */
int gsp_cmd_cachesim(int argc, char **argv);
int gsp_cmd_serve(int argc, char **argv);

#endif
