/* json.c - strict recursive-descent JSON reader (see json.h). */
#include "json.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define JSON_MAX_DEPTH 64

struct parser {
    const char *s, *end, *p;
    char       *err;
    size_t      err_size;
    int         failed;
};

static void fail(struct parser *ps, const char *what) {
    if (ps->failed) return;
    ps->failed = 1;
    if (!ps->err || !ps->err_size) return;
    int line = 1, col = 1;
    for (const char *q = ps->s; q < ps->p && q < ps->end; q++) {
        if (*q == '\n') { line++; col = 1; } else col++;
    }
    snprintf(ps->err, ps->err_size, "line %d col %d: %s", line, col, what);
}

static void skip_ws(struct parser *ps) {
    while (ps->p < ps->end && (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' || *ps->p == '\r')) ps->p++;
}

static struct json *node(struct parser *ps, enum json_type t) {
    struct json *j = calloc(1, sizeof *j);
    if (!j) fail(ps, "out of memory");
    else j->type = t;
    return j;
}

static int hex4(const char *p, unsigned *out) {
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        char c = p[i];
        v <<= 4;
        if (c >= '0' && c <= '9') v |= (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f') v |= (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F') v |= (unsigned)(c - 'A' + 10);
        else return 0;
    }
    *out = v;
    return 1;
}

static size_t put_utf8(char *o, unsigned cp) {
    if (cp < 0x80) { o[0] = (char)cp; return 1; }
    if (cp < 0x800) { o[0] = (char)(0xC0 | cp >> 6); o[1] = (char)(0x80 | (cp & 63)); return 2; }
    if (cp < 0x10000) {
        o[0] = (char)(0xE0 | cp >> 12); o[1] = (char)(0x80 | ((cp >> 6) & 63)); o[2] = (char)(0x80 | (cp & 63));
        return 3;
    }
    o[0] = (char)(0xF0 | cp >> 18); o[1] = (char)(0x80 | ((cp >> 12) & 63));
    o[2] = (char)(0x80 | ((cp >> 6) & 63)); o[3] = (char)(0x80 | (cp & 63));
    return 4;
}

/* ps->p at the opening quote; returns a malloc'd string */
static char *parse_string(struct parser *ps) {
    ps->p++;
    /* decoded output is never longer than the input span */
    const char *q = ps->p;
    while (q < ps->end && *q != '"') q += (*q == '\\' && q + 1 < ps->end) ? 2 : 1;
    if (q >= ps->end) {
        fail(ps, "unterminated string");
        return NULL;
    }
    char *out = malloc((size_t)(q - ps->p) + 1), *o = out;
    if (!out) {
        fail(ps, "out of memory");
        return NULL;
    }
    while (ps->p < ps->end && *ps->p != '"') {
        unsigned char c = (unsigned char)*ps->p;
        if (c < 0x20) {
            fail(ps, "control character in string");
            break;
        }
        if (c != '\\') {
            *o++ = (char)c;
            ps->p++;
            continue;
        }
        ps->p++;
        if (ps->p >= ps->end) break;
        char e = *ps->p++;
        switch (e) {
        case '"': *o++ = '"'; break;
        case '\\': *o++ = '\\'; break;
        case '/': *o++ = '/'; break;
        case 'b': *o++ = '\b'; break;
        case 'f': *o++ = '\f'; break;
        case 'n': *o++ = '\n'; break;
        case 'r': *o++ = '\r'; break;
        case 't': *o++ = '\t'; break;
        case 'u': {
            unsigned cp, lo;
            if (ps->end - ps->p < 4 || !hex4(ps->p, &cp)) {
                fail(ps, "bad \\u escape");
                break;
            }
            ps->p += 4;
            if (cp >= 0xD800 && cp < 0xDC00) {   /* high surrogate: a low one must follow */
                if (ps->end - ps->p < 6 || ps->p[0] != '\\' || ps->p[1] != 'u' || !hex4(ps->p + 2, &lo) ||
                    lo < 0xDC00 || lo >= 0xE000) {
                    fail(ps, "unpaired surrogate in \\u escape");
                    break;
                }
                ps->p += 6;
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            } else if (cp >= 0xDC00 && cp < 0xE000) {
                fail(ps, "unpaired surrogate in \\u escape");
                break;
            }
            if (cp == 0) {
                fail(ps, "NUL character in string");
                break;
            }
            o += put_utf8(o, cp);
            break;
        }
        default: fail(ps, "bad escape in string"); break;
        }
        if (ps->failed) break;
    }
    if (ps->failed) {
        free(out);
        return NULL;
    }
    *o = '\0';
    ps->p++;   /* closing quote */
    return out;
}

static struct json *parse_value(struct parser *ps, int depth);

static struct json *parse_container(struct parser *ps, int depth, int is_obj) {
    struct json *j = node(ps, is_obj ? JSON_OBJ : JSON_ARR), **tail;
    if (!j) return NULL;
    tail = &j->child;
    ps->p++;
    skip_ws(ps);
    if (ps->p < ps->end && *ps->p == (is_obj ? '}' : ']')) {
        ps->p++;
        return j;
    }
    for (;;) {
        char *key = NULL;
        skip_ws(ps);
        if (is_obj) {
            if (ps->p >= ps->end || *ps->p != '"') {
                fail(ps, "expected a member name");
                break;
            }
            key = parse_string(ps);
            if (!key) break;
            skip_ws(ps);
            if (ps->p >= ps->end || *ps->p != ':') {
                free(key);
                fail(ps, "expected ':'");
                break;
            }
            ps->p++;
        }
        struct json *v = parse_value(ps, depth + 1);
        if (!v) {
            free(key);
            break;
        }
        v->key = key;
        *tail = v;
        tail = &v->next;
        j->n++;
        skip_ws(ps);
        if (ps->p < ps->end && *ps->p == ',') {
            ps->p++;
            continue;
        }
        if (ps->p < ps->end && *ps->p == (is_obj ? '}' : ']')) {
            ps->p++;
            return j;
        }
        fail(ps, is_obj ? "expected ',' or '}'" : "expected ',' or ']'");
        break;
    }
    vlkv_json_free(j);
    return NULL;
}

static struct json *parse_value(struct parser *ps, int depth) {
    skip_ws(ps);
    if (depth > JSON_MAX_DEPTH) {
        fail(ps, "nesting too deep");
        return NULL;
    }
    if (ps->p >= ps->end) {
        fail(ps, "unexpected end of input");
        return NULL;
    }
    char c = *ps->p;
    if (c == '{' || c == '[') return parse_container(ps, depth, c == '{');
    if (c == '"') {
        char *s = parse_string(ps);
        if (!s) return NULL;
        struct json *j = node(ps, JSON_STR);
        if (!j) free(s);
        else j->str = s;
        return j;
    }
    static const struct { const char *w; enum json_type t; double v; } lits[] = {
        {"true", JSON_BOOL, 1}, {"false", JSON_BOOL, 0}, {"null", JSON_NULL, 0}};
    for (size_t i = 0; i < 3; i++) {
        size_t n = strlen(lits[i].w);
        if ((size_t)(ps->end - ps->p) >= n && !memcmp(ps->p, lits[i].w, n)) {
            ps->p += n;
            struct json *j = node(ps, lits[i].t);
            if (j) j->num = lits[i].v;
            return j;
        }
    }
    /* number: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? */
    const char *q = ps->p;
    if (q < ps->end && *q == '-') q++;
    if (q < ps->end && *q == '0') q++;
    else if (q < ps->end && *q >= '1' && *q <= '9') while (q < ps->end && *q >= '0' && *q <= '9') q++;
    else {
        fail(ps, "unexpected character");
        return NULL;
    }
    if (q < ps->end && *q == '.') {
        q++;
        if (q >= ps->end || *q < '0' || *q > '9') {
            fail(ps, "bad number");
            return NULL;
        }
        while (q < ps->end && *q >= '0' && *q <= '9') q++;
    }
    if (q < ps->end && (*q == 'e' || *q == 'E')) {
        q++;
        if (q < ps->end && (*q == '+' || *q == '-')) q++;
        if (q >= ps->end || *q < '0' || *q > '9') {
            fail(ps, "bad number");
            return NULL;
        }
        while (q < ps->end && *q >= '0' && *q <= '9') q++;
    }
    char buf[64];
    size_t n = (size_t)(q - ps->p);
    if (n >= sizeof buf) {
        fail(ps, "number too long");
        return NULL;
    }
    memcpy(buf, ps->p, n);
    buf[n] = '\0';
    ps->p = q;
    struct json *j = node(ps, JSON_NUM);
    if (j) j->num = strtod(buf, NULL);
    return j;
}

struct json *vlkv_json_parse(const char *text, size_t len, char *err, size_t err_size) {
    struct parser ps = {text, text + len, text, err, err_size, 0};
    if (err && err_size) err[0] = '\0';
    struct json *j = parse_value(&ps, 0);
    if (j) {
        skip_ws(&ps);
        if (ps.p != ps.end) {
            fail(&ps, "trailing characters after the value");
            vlkv_json_free(j);
            j = NULL;
        }
    }
    return j;
}

void vlkv_json_free(struct json *j) {
    while (j) {
        struct json *next = j->next;
        vlkv_json_free(j->child);
        free(j->str);
        free(j->key);
        free(j);
        j = next;
    }
}

const struct json *vlkv_json_get(const struct json *j, const char *key) {
    if (!j || j->type != JSON_OBJ) return NULL;
    for (const struct json *c = j->child; c; c = c->next)
        if (c->key && !strcmp(c->key, key)) return c;
    return NULL;
}

const struct json *vlkv_json_at(const struct json *j, size_t i) {
    if (!j || j->type != JSON_ARR) return NULL;
    const struct json *c = j->child;
    while (c && i--) c = c->next;
    return c;
}

size_t vlkv_json_escape(const char *s, char *out, size_t n) {
    size_t len = 0;
#define PUT(ch) do { if (len + 1 < n) out[len] = (ch); len++; } while (0)
    PUT('"');
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        unsigned char c = *p;
        if (c == '"' || c == '\\') { PUT('\\'); PUT((char)c); }
        else if (c == '\n') { PUT('\\'); PUT('n'); }
        else if (c == '\r') { PUT('\\'); PUT('r'); }
        else if (c == '\t') { PUT('\\'); PUT('t'); }
        else if (c < 0x20) {
            char b[8];
            snprintf(b, sizeof b, "\\u%04x", c);
            for (char *q = b; *q; q++) PUT(*q);
        } else PUT((char)c);
    }
    PUT('"');
#undef PUT
    if (n) out[len < n ? len : n - 1] = '\0';
    return len;
}
