#define OWN_H "own.h"
#include OWN_H
int local(void) { return own(); }
