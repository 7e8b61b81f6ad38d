/* json.h - a small strict JSON reader (RFC 8259) for data files such as eval JSONL lines and
 * calibration configs, plus a string escaper for writers. Parses into a tree owned by one
 * allocation chain; no global state. Depth is limited (64) so hostile input cannot overflow the
 * stack. Numbers are doubles. Strings are NUL-terminated UTF-8 (\u escapes decoded, surrogate
 * pairs joined; embedded NUL rejected). */
#ifndef VLKV_JSON_H
#define VLKV_JSON_H

#include <stddef.h>

enum json_type { JSON_NULL, JSON_BOOL, JSON_NUM, JSON_STR, JSON_ARR, JSON_OBJ };

struct json {
    enum json_type type;
    double         num;      /* JSON_NUM; JSON_BOOL: 0 or 1 */
    char          *str;      /* JSON_STR */
    char          *key;      /* member name when inside an object, else NULL */
    struct json   *child;    /* first element / member (JSON_ARR, JSON_OBJ) */
    struct json   *next;     /* next sibling */
    size_t         n;        /* number of children */
};

/* Parse `len` bytes. Returns the tree or NULL with a message like "line 1 col 7: expected ':'"
 * written to err (if err != NULL). Trailing non-space content is an error. */
struct json *vlkv_json_parse(const char *text, size_t len, char *err, size_t err_size);
void         vlkv_json_free(struct json *j);

/* Member of an object by key (NULL if absent or j is not an object). */
const struct json *vlkv_json_get(const struct json *j, const char *key);
/* i-th element of an array (NULL if out of range). */
const struct json *vlkv_json_at(const struct json *j, size_t i);

/* Write s as a JSON string literal (with quotes) into out (NUL-terminated, truncated to n).
 * Returns the length it needed (excluding NUL). */
size_t vlkv_json_escape(const char *s, char *out, size_t n);

#endif /* VLKV_JSON_H */
