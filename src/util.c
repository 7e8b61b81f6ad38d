/* util.c - status strings, the log callback, thread-local last error, clock, aligned memory. */
#define _POSIX_C_SOURCE 200809L
#include "internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static vlkv_log_callback g_log_cb;
static void *g_log_ud;
static _Thread_local char t_last_error[512];

const char *vlkv_status_str(vlkv_status st) {
    switch (st) {
    case VLKV_OK:               return "ok";
    case VLKV_ERR_INVALID_ARG:  return "invalid argument";
    case VLKV_ERR_IO:           return "i/o error";
    case VLKV_ERR_FORMAT:       return "format error";
    case VLKV_ERR_UNSUPPORTED:  return "unsupported";
    case VLKV_ERR_OOM:          return "out of memory";
    case VLKV_ERR_CONTEXT_FULL: return "context full";
    case VLKV_ERR_BACKEND:      return "backend error";
    case VLKV_ERR_ABORTED:      return "aborted";
    }
    return "unknown status";
}

const char *vlkv_last_error(void) { return t_last_error; }

void vlkv_log_set(vlkv_log_callback cb, void *user_data) {
    g_log_cb = cb;
    g_log_ud = user_data;
}

static void vlog(vlkv_log_level level, const char *fmt, va_list ap) {
    if (!g_log_cb) return;
    char buf[1024];
    vsnprintf(buf, sizeof buf, fmt, ap);
    g_log_cb(level, buf, g_log_ud);
}

void vlkv_log(vlkv_log_level level, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vlog(level, fmt, ap);
    va_end(ap);
}

vlkv_status vlkv_error(vlkv_status st, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(t_last_error, sizeof t_last_error, fmt, ap);
    va_end(ap);
    vlkv_log(VLKV_LOG_ERROR, "%s", t_last_error);
    return st;
}

void vlkv_abort(const char *file, int line, const char *what) {
    /* The one place the library writes to stderr: an internal invariant broke. */
    fprintf(stderr, "vlkv: %s:%d: internal error: assertion '%s' failed\n", file, line, what);
    fflush(stderr);
    abort();
}

double vlkv_time_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec * 1e-6;
}

void *vlkv_malloc_aligned(size_t size) {
    if (size == 0) return NULL;
    void *p = NULL;
    if (posix_memalign(&p, 64, VLKV_ALIGN_UP(size, 64)) != 0) return NULL;
    return p;
}

void vlkv_free_aligned(void *p) { free(p); }

int vlkv_n_cores(void) {
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}
