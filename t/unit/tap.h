/* A small TAP producer for the C unit tests. */
#ifndef CLD_TAP_H
#define CLD_TAP_H

#include <cloudd/error.h>

/* Every assertion prints one "ok N - what" or "not ok N - what" line. */
int ok_at(int cond, const char *file, int line, const char *fmt, ...) CLD_PRINTF(4, 5);
#define ok(cond, ...) ok_at(!!(cond), __FILE__, __LINE__, __VA_ARGS__)
/* String equality, printing both on failure. */
int is_str_at(const char *got, const char *want, const char *file, int line,
    const char *fmt, ...) CLD_PRINTF(5, 6);
#define is_str(got, want, ...) is_str_at((got), (want), __FILE__, __LINE__, __VA_ARGS__)
int is_int_at(long long got, long long want, const char *file, int line,
    const char *fmt, ...) CLD_PRINTF(5, 6);
#define is_int(got, want, ...) is_int_at((got), (want), __FILE__, __LINE__, __VA_ARGS__)
/* A diagnostic line ("# ..."). */
void diag(const char *fmt, ...) CLD_PRINTF(1, 2);
/* Skip the whole program (exit 77 after "1..0 # SKIP why"). */
_Noreturn void skip_all(const char *fmt, ...) CLD_PRINTF(1, 2);
/* Print the plan and return the exit status: 0 if all passed. */
int done_testing(void);

#endif
