/* the entry header: its macros name the others */
#include <cfg/header.h>
