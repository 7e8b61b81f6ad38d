/* test_eval_metrics.c - ROUGE-L, NLL/PPL, answer normalisation and the JSON reader against
 * hand-computed cases. */
#include <math.h>
#include <string.h>

#include "eval_metrics.h"
#include "json.h"
#include "test_util.h"

int main(void) {
    /* ROUGE-L. "the cat sat on the mat" vs "the cat is on the mat": LCS = the cat on the mat = 5,
     * P = 5/6, R = 5/6, F = 5/6. */
    CHECK_NEAR(vlkv_rouge_l_f1("the cat sat on the mat", "the cat is on the mat"), 5.0 / 6.0, 1e-12);
    /* hyp 2 words, ref 4 words, LCS 2: P = 1, R = 0.5, F = 2*0.5/1.5 = 2/3 */
    CHECK_NEAR(vlkv_rouge_l_f1("red circle", "a red big circle"), 2.0 / 3.0, 1e-12);
    /* order matters: LCS("a b c d", "d c b a") = 1 -> P = R = 1/4 -> F = 1/4 */
    CHECK_NEAR(vlkv_rouge_l_f1("a b c d", "d c b a"), 0.25, 1e-12);
    /* case and punctuation are separators only */
    CHECK_NEAR(vlkv_rouge_l_f1("A Red, circle.", "a red circle"), 1.0, 1e-12);
    CHECK_NEAR(vlkv_rouge_l_f1("identical text here", "identical text here"), 1.0, 1e-12);
    CHECK(vlkv_rouge_l_f1("", "something") == 0.0);
    CHECK(vlkv_rouge_l_f1("!!!", "") == 0.0);
    CHECK(vlkv_rouge_l_f1("x y", "z w") == 0.0);
    /* repeated words: hyp "a a a", ref "a b a": LCS = 2, P = 2/3, R = 2/3 */
    CHECK_NEAR(vlkv_rouge_l_f1("a a a", "a b a"), 2.0 / 3.0, 1e-12);

    /* NLL: logits {0, ln 3}: softmax = {1/4, 3/4}; NLL(1) = ln(4/3), NLL(0) = ln 4 */
    const float lg[2] = {0.0f, logf(3.0f)};
    CHECK_NEAR(vlkv_nll(lg, 2, 1), log(4.0 / 3.0), 1e-6);
    CHECK_NEAR(vlkv_nll(lg, 2, 0), log(4.0), 1e-6);
    /* shift invariance with large logits (no overflow) */
    const float big[2] = {1000.0f, 1000.0f + logf(3.0f)};
    CHECK_NEAR(vlkv_nll(big, 2, 1), log(4.0 / 3.0), 1e-4);
    CHECK(isinf(vlkv_nll(lg, 2, 2)));
    /* PPL of two tokens with p = 1/2 and 1/8: exp((ln2 + ln8)/2) = exp(ln 4) = 4 */
    const float u2[2] = {0.0f, 0.0f};
    const float u8[8] = {0};
    CHECK_NEAR(exp((vlkv_nll(u2, 2, 0) + vlkv_nll(u8, 8, 3)) / 2), 4.0, 1e-6);

    char out[64];
    vlkv_normalize_answer("  The Red  Circle! ", out, sizeof out);
    CHECK(!strcmp(out, "red circle"));
    vlkv_normalize_answer("Yes.", out, sizeof out);
    CHECK(!strcmp(out, "yes"));
    vlkv_normalize_answer("an apple", out, sizeof out);
    CHECK(!strcmp(out, "apple"));
    vlkv_normalize_answer("theory", out, sizeof out);   /* not an article */
    CHECK(!strcmp(out, "theory"));

    /* JSON reader */
    char err[128];
    const char *doc = "{\"image\": \"a.png\", \"n\": -1.5e2, \"ok\": true, \"list\": [1, 2, 3],"
                      " \"s\": \"x\\u00e9\\ud83d\\ude00\\n\", \"nil\": null}";
    struct json *j = vlkv_json_parse(doc, strlen(doc), err, sizeof err);
    CHECK_MSG(j != NULL, "%s", err);
    if (j) {
        CHECK(!strcmp(vlkv_json_get(j, "image")->str, "a.png"));
        CHECK(vlkv_json_get(j, "n")->num == -150.0);
        CHECK(vlkv_json_get(j, "ok")->type == JSON_BOOL && vlkv_json_get(j, "ok")->num == 1);
        CHECK(vlkv_json_get(j, "list")->n == 3 && vlkv_json_at(vlkv_json_get(j, "list"), 2)->num == 3);
        CHECK(!strcmp(vlkv_json_get(j, "s")->str, "x\xc3\xa9\xf0\x9f\x98\x80\n"));
        CHECK(vlkv_json_get(j, "nil")->type == JSON_NULL);
        CHECK(vlkv_json_get(j, "missing") == NULL);
        vlkv_json_free(j);
    }
    static const char *const bad[] = {"", "{", "{\"a\" 1}", "{\"a\":1,}", "[1,]", "01", "1.", "\"abc",
                                      "\"\\x\"", "\"\\ud800\"", "tru", "{} x", "[\"a\n\"]", "-", "1e"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct json *b = vlkv_json_parse(bad[i], strlen(bad[i]), err, sizeof err);
        CHECK_MSG(b == NULL && err[0], "accepted bad JSON #%zu", i);
        vlkv_json_free(b);
    }
    /* depth limit: 100 nested arrays are rejected, not a stack overflow */
    char deep[256];
    memset(deep, '[', 100);
    memset(deep + 100, ']', 100);
    CHECK(vlkv_json_parse(deep, 200, err, sizeof err) == NULL);
    /* escaper round trip */
    char lit[64];
    vlkv_json_escape("a\"b\\c\n\x01", lit, sizeof lit);
    CHECK(!strcmp(lit, "\"a\\\"b\\\\c\\n\\u0001\""));
    struct json *rt = vlkv_json_parse(lit, strlen(lit), err, sizeof err);
    CHECK(rt && !strcmp(rt->str, "a\"b\\c\n\x01"));
    vlkv_json_free(rt);
    return test_done("test_eval_metrics");
}
