#include <vector>
#include <missing_bare>
int v(void) { return vector_size() + il_size(); }
