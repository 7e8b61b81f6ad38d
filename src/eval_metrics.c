/* eval_metrics.c - ROUGE-L, NLL and answer normalisation (see eval_metrics.h). */
#include "eval_metrics.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Split into lowercase [a-z0-9]+ words: returns the count, *words = array of start offsets into
 * a lowered copy *buf (words NUL-terminated). Caller frees both. */
static int32_t words_of(const char *s, char **buf, int32_t **words) {
    size_t n = strlen(s);
    char *b = malloc(n + 1);
    int32_t *w = malloc(sizeof(int32_t) * (n / 2 + 1));
    int32_t nw = 0;
    if (!b || !w) {
        free(b);
        free(w);
        *buf = NULL;
        *words = NULL;
        return 0;
    }
    int in = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c >= 'A' && c <= 'Z') c = (char)(c - 'A' + 'a');
        int alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
        if (alnum) {
            if (!in) w[nw++] = (int32_t)i;
            b[i] = c;
        } else {
            b[i] = '\0';
        }
        in = alnum;
    }
    b[n] = '\0';
    *buf = b;
    *words = w;
    return nw;
}

double vlkv_rouge_l_f1(const char *hyp, const char *ref) {
    char *hb, *rb;
    int32_t *hw, *rw;
    int32_t nh = words_of(hyp, &hb, &hw), nr = words_of(ref, &rb, &rw);
    double f = 0.0;
    int32_t *prev = calloc((size_t)nr + 1, sizeof(int32_t)), *cur = calloc((size_t)nr + 1, sizeof(int32_t));
    if (nh > 0 && nr > 0 && prev && cur) {
        for (int32_t i = 1; i <= nh; i++) {
            for (int32_t j = 1; j <= nr; j++) {
                if (!strcmp(hb + hw[i - 1], rb + rw[j - 1])) cur[j] = prev[j - 1] + 1;
                else cur[j] = prev[j] > cur[j - 1] ? prev[j] : cur[j - 1];
            }
            int32_t *t = prev; prev = cur; cur = t;
        }
        double lcs = prev[nr];
        double p = lcs / nh, r = lcs / nr;
        f = (p + r) > 0 ? 2 * p * r / (p + r) : 0.0;
    }
    free(prev);
    free(cur);
    free(hb);
    free(rb);
    free(hw);
    free(rw);
    return f;
}

double vlkv_nll(const float *logits, int32_t n, int32_t target) {
    if (n <= 0 || target < 0 || target >= n) return INFINITY;
    double mx = logits[0];
    for (int32_t i = 1; i < n; i++)
        if (logits[i] > mx) mx = logits[i];
    double s = 0;
    for (int32_t i = 0; i < n; i++) s += exp((double)logits[i] - mx);
    return mx + log(s) - (double)logits[target];
}

void vlkv_normalize_answer(const char *s, char *out, size_t n) {
    if (!n) return;
    size_t o = 0;
    int space = 1;   /* suppress leading spaces */
    for (; *s && o + 1 < n; s++) {
        char c = *s;
        if (c >= 'A' && c <= 'Z') c = (char)(c - 'A' + 'a');
        if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')) {
            out[o++] = c;
            space = 0;
        } else if (!space) {
            out[o++] = ' ';
            space = 1;
        }
    }
    while (o > 0 && out[o - 1] == ' ') o--;
    out[o] = '\0';
    static const char *const articles[] = {"a ", "an ", "the "};
    for (size_t i = 0; i < 3; i++) {
        size_t la = strlen(articles[i]);
        if (!strncmp(out, articles[i], la)) {
            memmove(out, out + la, strlen(out + la) + 1);
            break;
        }
    }
}
