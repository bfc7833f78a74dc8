#include "lib/x/deep/a.h"

int main(void) { return b_fn() + c_fn() + conf_fn(); }
