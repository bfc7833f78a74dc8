#include <ft2build.h>
#include APP_MAIN_H
#include APP_CFG_H
#include APP_NEXT_H
#include MISSING_H

int use(void) { return app_main() + app_next(); }
