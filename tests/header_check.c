/* Compiled with -std=c11 -Wpedantic -Werror: proves the public header is plain C11. */
#include "vlkv.h"
int vlkv_header_check_dummy(void);
int vlkv_header_check_dummy(void) { return (int)VLKV_OK; }
