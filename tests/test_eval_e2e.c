/* test_eval_e2e.c - `vlkv eval` end to end on the shipped tiny LLaVA and a few shipped sample
 * images: the JSONL it writes is parsed and checked.
 *   - every policy at budget 1.0 keeps the full cache, so its PPL equals the full-cache PPL and its
 *     generations equal the reference (ROUGE-L = 1);
 *   - at a low budget the KV held is really smaller and the figures are finite;
 *   - the markdown table has one row per policy x budget. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "json.h"
#include "test_util.h"

#define SRC VLKV_SOURCE_DIR

static int file_exists(const char *p) {
    FILE *f = fopen(p, "rb");
    if (f) fclose(f);
    return f != NULL;
}

int main(void) {
    const char *bin = getenv("VLKV_BIN");
    const char *llm = SRC "/models/llava-tiny-q8_0.gguf", *mm = SRC "/models/mmproj-llava-tiny-q8_0.gguf";
    const char *samples = SRC "/models/samples/samples.jsonl";
    if (!bin || !file_exists(llm) || !file_exists(mm) || !file_exists(samples)) {
        fprintf(stderr, "test_eval_e2e: shipped model or samples missing; skipped\n");
        return 77;
    }
    /* a 3-sample data file in the shipped format, paths relative to the samples directory */
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "head -n 3 '%s' > '%s/models/samples/.e2e_data.jsonl'", samples, SRC);
    CHECK(system(cmd) == 0);
    const char *data = SRC "/models/samples/.e2e_data.jsonl";
    remove("e2e.jsonl");
    remove("e2e.md");
    remove("e2e.refs.jsonl");
    snprintf(cmd, sizeof cmd,
             "timeout 600 '%s' eval -m '%s' --mmproj '%s' --data '%s' -n 24 -t 2 "
             "--policies full,streaming,h2o,snapkv,pyramidkv,prefixkv,elastic,vlcache --budgets 1.0,0.1 "
             "--out e2e.jsonl --md e2e.md --ref-cache e2e.refs.jsonl 2>e2e.err",
             bin, llm, mm, data);
    int st = system(cmd);
    CHECK_MSG(WIFEXITED(st) && WEXITSTATUS(st) == 0, "vlkv eval failed (status %d); see e2e.err", st);

    FILE *f = fopen("e2e.jsonl", "rb");
    CHECK(f != NULL);
    static char line[1 << 16];
    double full_ppl = NAN;
    int rows = 0, rows_b1 = 0, rows_low = 0;
    struct { char policy[32]; double budget, ppl, rouge, frac; } r[64];
    while (f && rows < 64 && fgets(line, sizeof line, f)) {
        char err[128];
        struct json *j = vlkv_json_parse(line, strlen(line), err, sizeof err);
        CHECK_MSG(j != NULL, "bad JSONL row: %s", err);
        if (!j) continue;
        const struct json *p = vlkv_json_get(j, "policy"), *b = vlkv_json_get(j, "budget"),
                          *pp = vlkv_json_get(j, "ppl"), *rl = vlkv_json_get(j, "rouge_l"),
                          *kf = vlkv_json_get(j, "kv_fraction"), *ns = vlkv_json_get(j, "n_samples");
        CHECK(p && b && pp && rl && kf && ns);
        if (p && b && pp && rl && kf && ns) {
            snprintf(r[rows].policy, sizeof r[rows].policy, "%s", p->str);
            r[rows].budget = b->num;
            r[rows].ppl = pp->num;
            r[rows].rouge = rl->num;
            r[rows].frac = kf->num;
            CHECK(ns->num == 3);
            CHECK(isfinite(pp->num) && pp->num >= 1.0);
            if (!strcmp(p->str, "full")) full_ppl = pp->num;
            rows++;
        }
        vlkv_json_free(j);
    }
    if (f) fclose(f);
    CHECK_MSG(rows == 1 + 7 * 2, "expected 15 rows (full once + 7 policies x 2 budgets), got %d", rows);
    CHECK(isfinite(full_ppl));
    for (int i = 0; i < rows; i++) {
        if (r[i].budget == 1.0) {
            rows_b1++;
            /* the same computation as the full cache: PPL printed with 6 decimals must agree */
            CHECK_MSG(fabs(r[i].ppl - full_ppl) <= 1e-6 * full_ppl, "%s @1.0: PPL %.6f vs full %.6f", r[i].policy,
                      r[i].ppl, full_ppl);
            CHECK_MSG(r[i].rouge == 1.0, "%s @1.0: ROUGE-L %.6f, expected 1", r[i].policy, r[i].rouge);
            CHECK_MSG(fabs(r[i].frac - 1.0) < 1e-9, "%s @1.0: kv fraction %.4f", r[i].policy, r[i].frac);
        } else {
            rows_low++;
            CHECK_MSG(r[i].frac < 0.6, "%s @%.2f: kv fraction %.3f not reduced", r[i].policy, r[i].budget, r[i].frac);
            CHECK(r[i].rouge >= 0.0 && r[i].rouge <= 1.0);
        }
    }
    CHECK(rows_b1 == 8 && rows_low == 7);

    /* markdown: header + separator + one line per row */
    f = fopen("e2e.md", "rb");
    int md_lines = 0;
    while (f && fgets(line, sizeof line, f)) md_lines += line[0] == '|';
    if (f) fclose(f);
    CHECK_MSG(md_lines == rows + 2, "markdown has %d table lines for %d rows", md_lines, rows);

    /* the cached references are reused: a second run computes no new reference */
    snprintf(cmd, sizeof cmd,
             "timeout 600 '%s' eval -m '%s' --mmproj '%s' --data '%s' -n 24 -t 2 --policies full "
             "--out e2e2.jsonl --ref-cache e2e.refs.jsonl 2>e2e2.err",
             bin, llm, mm, data);
    st = system(cmd);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    f = fopen("e2e2.err", "rb");
    int reused = 0;
    while (f && fgets(line, sizeof line, f)) reused |= strstr(line, "3 references from") != NULL;
    if (f) fclose(f);
    CHECK_MSG(reused, "references were not reused from the cache");

    /* ...but not after the weights at the same path change (a retrained model written over the
     * old file): the key covers the files' contents, not only their names */
    {
        const char *llm16 = SRC "/models/llava-tiny-f16.gguf";
        int n_ref[2] = {0, 0};
        remove("e2e5.refs.jsonl");
        for (int pass = 0; pass < 2; pass++) {
            snprintf(cmd, sizeof cmd, "cp '%s' e2e_model.gguf", pass ? llm16 : llm);
            CHECK(system(cmd) == 0);
            snprintf(cmd, sizeof cmd,
                     "timeout 600 '%s' eval -m e2e_model.gguf --mmproj '%s' --data '%s' -n 8 -t 2 --policies full "
                     "--out e2e5.jsonl --ref-cache e2e5.refs.jsonl 2>e2e5.err",
                     bin, mm, data);
            st = system(cmd);
            CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
            f = fopen("e2e5.refs.jsonl", "rb");
            while (f && fgets(line, sizeof line, f)) n_ref[pass]++;
            if (f) fclose(f);
        }
        CHECK_MSG(n_ref[0] == 3 && n_ref[1] == 6,
                  "reference cache lines after the first / second model: %d / %d (want 3 / 6: new weights, "
                  "new references)", n_ref[0], n_ref[1]);
        remove("e2e_model.gguf");
    }

    /* PrefixKV calibration in the loop: calibrate on 3 other sample lines (disjoint), then the
     * prefixkv row reports the per-layer ratios it used; they average to the budget */
    const char *cal = SRC "/models/samples/.e2e_calib.jsonl";
    snprintf(cmd, sizeof cmd, "sed -n 4,6p '%s' > '%s'", samples, cal);
    CHECK(system(cmd) == 0);
    remove("e2e3.prefixkv.json");
    snprintf(cmd, sizeof cmd,
             "timeout 600 '%s' eval -m '%s' --mmproj '%s' --data '%s' -n 24 -t 2 --policies prefixkv --budgets 0.2 "
             "--calib '%s' --calib-out e2e3.prefixkv.json --out e2e3.jsonl --ref-cache e2e.refs.jsonl 2>e2e3.err",
             bin, llm, mm, data, cal);
    st = system(cmd);
    CHECK_MSG(WIFEXITED(st) && WEXITSTATUS(st) == 0, "eval --calib failed (status %d); see e2e3.err", st);
    f = fopen("e2e3.jsonl", "rb");
    int got_ratios = 0;
    if (f && fgets(line, sizeof line, f)) {
        struct json *j = vlkv_json_parse(line, strlen(line), NULL, 0);
        const struct json *src = vlkv_json_get(j, "prefixkv_source"), *ra = vlkv_json_get(j, "prefixkv_ratios");
        CHECK_MSG(src && src->type == JSON_STR && !strcmp(src->str, "calibration"), "prefixkv row not calibrated");
        if (ra && ra->type == JSON_ARR) {
            double sum = 0;
            int n = 0;
            for (const struct json *e = ra->child; e; e = e->next, n++) {
                CHECK(e->num > 0 && e->num <= 1);
                sum += e->num;
            }
            CHECK_MSG(n == 6, "%d per-layer ratios, model has 6 layers", n);
            CHECK_MSG(n > 0 && fabs(sum / n - 0.2) < 0.03, "ratios average %.3f, budget 0.2", n ? sum / n : 0);
            got_ratios = n == 6;
        }
        vlkv_json_free(j);
    }
    if (f) fclose(f);
    CHECK_MSG(got_ratios, "no per-layer ratios in e2e3.jsonl");
    CHECK(file_exists("e2e3.prefixkv.json"));
    /* the calibration set must be disjoint from the evaluated one */
    snprintf(cmd, sizeof cmd,
             "timeout 600 '%s' eval -m '%s' --mmproj '%s' --data '%s' -n 8 --policies prefixkv --budgets 0.2 "
             "--calib '%s' --out e2e4.jsonl --ref-cache e2e.refs.jsonl 2>e2e4.err",
             bin, llm, mm, data, samples);
    st = system(cmd);
    CHECK_MSG(WIFEXITED(st) && WEXITSTATUS(st) != 0, "overlapping --calib data was accepted");
    f = fopen("e2e4.err", "rb");
    int said = 0;
    while (f && fgets(line, sizeof line, f)) said |= strstr(line, "disjoint") != NULL;
    if (f) fclose(f);
    CHECK_MSG(said, "no 'disjoint' error message for overlapping calibration data");
    remove(cal);
    remove(data);
    return test_done("test_eval_e2e");
}
