/* internal.h - helpers shared by every source file of the library (never installed).
 * Errors: VLKV_CHECK / VLKV_TRY record a message (vlkv_last_error) and jump to `fail`.
 * Programmer errors: VLKV_ASSERT aborts in every build type (ggml's GGML_ASSERT). */
#ifndef VLKV_INTERNAL_H
#define VLKV_INTERNAL_H

#include "vlkv.h"

#include <stddef.h>
#include <stdint.h>

#define VLKV_MIN(a, b) ((a) < (b) ? (a) : (b))
#define VLKV_MAX(a, b) ((a) > (b) ? (a) : (b))
#define VLKV_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define VLKV_ALIGN_UP(x, a) (((x) + (a) - 1) / (a) * (a))

#if defined(__GNUC__)
#define VLKV_PRINTF(f, a) __attribute__((format(printf, f, a)))
#define VLKV_NORETURN __attribute__((noreturn))
#else
#define VLKV_PRINTF(f, a)
#define VLKV_NORETURN
#endif

/* Log a line through the user's callback (nothing happens without one). */
void vlkv_log(vlkv_log_level level, const char *fmt, ...) VLKV_PRINTF(2, 3);
#define VLKV_LOG_ERR(...)  vlkv_log(VLKV_LOG_ERROR, __VA_ARGS__)
#define VLKV_LOG_WARN(...) vlkv_log(VLKV_LOG_WARN, __VA_ARGS__)
#define VLKV_LOG_INFO(...) vlkv_log(VLKV_LOG_INFO, __VA_ARGS__)
#define VLKV_LOG_DBG(...)  vlkv_log(VLKV_LOG_DEBUG, __VA_ARGS__)

/* Record the thread's last error message, log it at ERROR level, and return `st`. */
vlkv_status vlkv_error(vlkv_status st, const char *fmt, ...) VLKV_PRINTF(2, 3);

/* Abort with file:line (programmer error; never used for bad input). */
VLKV_NORETURN void vlkv_abort(const char *file, int line, const char *what);
#define VLKV_ASSERT(x) do { if (!(x)) vlkv_abort(__FILE__, __LINE__, #x); } while (0)

/* Inside a function with `vlkv_status st` and a `fail:` label. */
#define VLKV_CHECK(cond, status, ...) \
    do { if (!(cond)) { st = vlkv_error((status), __VA_ARGS__); goto fail; } } while (0)
#define VLKV_TRY(expr) \
    do { st = (expr); if (st != VLKV_OK) goto fail; } while (0)

/* Monotonic clock in milliseconds. */
double vlkv_time_ms(void);

/* Overflow-checked size arithmetic: return 0 on overflow, 1 otherwise. */
static inline int vlkv_mul_ok(size_t a, size_t b, size_t *out) {
    if (a != 0 && b > SIZE_MAX / a) return 0;
    *out = a * b;
    return 1;
}
static inline int vlkv_add_ok(size_t a, size_t b, size_t *out) {
    if (b > SIZE_MAX - a) return 0;
    *out = a + b;
    return 1;
}

/* 64-byte aligned allocation (free with vlkv_free_aligned); NULL on failure or size 0. */
void *vlkv_malloc_aligned(size_t size);
void  vlkv_free_aligned(void *p);

/* Number of physical cores (best effort; at least 1). */
int vlkv_n_cores(void);

#endif /* VLKV_INTERNAL_H */
