/* test_cli.c - the `vlkv` command as a user meets it: bad input of every kind gives a clear
 * message and a non-zero status (2 = usage, 1 = runtime), never a crash or a hang; good input
 * works. Runs the real binary ($VLKV_BIN) on small models written with the mkmodel functions. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "mkmodel.h"
#include "test_util.h"

static const char *bin;
static char out[1 << 16];

/* Run `vlkv ARGS` with stdin from /dev/null; capture stdout+stderr into out; return exit code
 * (>= 128: killed by a signal). A 120 s timeout turns hangs into failures. */
static int run(const char *args) {
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "timeout 120 '%s' %s </dev/null 2>&1", bin, args);
    FILE *p = popen(cmd, "r");
    if (!p) return -1;
    size_t n = fread(out, 1, sizeof out - 1, p);
    out[n] = '\0';
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

#define EXPECT_FAIL(args, code, needle) do { int rc_ = run(args); \
    CHECK_MSG(rc_ == (code), "vlkv %s: exit %d, expected %d; output:\n%s", args, rc_, code, out); \
    CHECK_MSG(strstr(out, needle) != NULL, "vlkv %s: output lacks '%s':\n%s", args, needle, out); } while (0)

static void write_file(const char *path, const void *data, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f) return;
    fwrite(data, 1, n, f);
    fclose(f);
}

int main(void) {
    bin = getenv("VLKV_BIN");
    if (!bin) {
        fprintf(stderr, "test_cli: VLKV_BIN not set (run through ctest)\n");
        return 77;
    }
    const char *llm = "cli_llm.gguf", *mm = "cli_mmproj.gguf";
    struct vlkv_mkmodel_params p = vlkv_mkmodel_params_default();
    p.n_ctx = 256;
    CHECK(vlkv_mkmodel_llama(llm, &p) == VLKV_OK);
    struct vlkv_mkmodel_clip_params cpar = vlkv_mkmodel_clip_params_default();
    cpar.n_embd_out = p.n_embd;
    CHECK(vlkv_mkmodel_clip(mm, &cpar) == VLKV_OK);

    /* good runs */
    CHECK_MSG(run("info cli_llm.gguf") == 0 && strstr(out, "blk.0.attn_q.weight"), "%s", out);
    CHECK_MSG(run("run -m cli_llm.gguf -p hello -n 4 -t 2") == 0, "%s", out);
    CHECK_MSG(run("run -m cli_llm.gguf -p hello -n 4 -t 2 --kv-policy h2o --kv-budget 0.5 --kv-stats") == 0, "%s", out);
    CHECK_MSG(strstr(out, "kv:") != NULL, "no KV summary:\n%s", out);
    CHECK_MSG(run("run --kv-help prefixkv") == 0 && strlen(out) > 40, "%s", out);

    /* usage errors: exit 2 */
    EXPECT_FAIL("", 2, "usage");
    EXPECT_FAIL("frobnicate", 2, "unknown command");
    EXPECT_FAIL("run -p hi", 2, "-m MODEL");
    EXPECT_FAIL("run -m cli_llm.gguf -p hi -n abc", 2, "expected an integer");
    EXPECT_FAIL("run -m cli_llm.gguf -p hi --kv-pos sideways", 2, "original");
    EXPECT_FAIL("run -m cli_llm.gguf -p hi --kv-policy nosuch", 2, "nosuch");
    EXPECT_FAIL("run -m cli_llm.gguf -p hi --kv-policy h2o --kv-budget 0", 2, "budget");
    EXPECT_FAIL("run -m cli_llm.gguf -p hi --kv-policy h2o --kv-budget 1.5", 2, "budget");
    EXPECT_FAIL("run -m cli_llm.gguf -p hi --kv-policy h2o --kv-budget -3", 2, "budget");
    EXPECT_FAIL("run -m cli_llm.gguf -p hi --kv-policy h2o --kv-opt nosuchkey=1", 2, "nosuchkey");
    EXPECT_FAIL("run --kv-help nosuch", 2, "unknown KV policy");
    EXPECT_FAIL("run -m cli_llm.gguf -p hi --image x.png", 2, "--mmproj");

    /* runtime errors: exit 1, naming the file */
    EXPECT_FAIL("run -m does_not_exist.gguf -p hi", 1, "does_not_exist.gguf");
    write_file("cli_garbage.gguf", "this is not a gguf file at all, just text\n", 43);
    EXPECT_FAIL("run -m cli_garbage.gguf -p hi", 1, "cli_garbage.gguf");
    EXPECT_FAIL("info cli_garbage.gguf", 1, "cli_garbage.gguf");
    {   /* a truncated copy of a valid model */
        FILE *f = fopen(llm, "rb");
        static char buf[1 << 20];
        size_t n = f ? fread(buf, 1, sizeof buf, f) : 0;
        if (f) fclose(f);
        write_file("cli_trunc.gguf", buf, n / 2);
        EXPECT_FAIL("run -m cli_trunc.gguf -p hi", 1, "cli_trunc.gguf");
    }
    /* a prompt longer than the context */
    {
        static char args[8192];
        int k = snprintf(args, sizeof args, "run -m cli_llm.gguf -c 32 -p '");
        for (int i = 0; i < 200; i++) k += snprintf(args + k, sizeof args - (size_t)k, "word ");
        snprintf(args + k, sizeof args - (size_t)k, "'");
        int rc = run(args);
        CHECK_MSG(rc == 1, "long prompt: exit %d\n%s", rc, out);
        CHECK_MSG(strstr(out, "n_ctx") || strstr(out, "context"), "long prompt message:\n%s", out);
    }
    /* images: missing, truncated, not an image; a vision run works */
    EXPECT_FAIL("run -m cli_llm.gguf --mmproj cli_mmproj.gguf --image nope.png -p hi", 1, "nope.png");
    write_file("cli_notimg.png", "definitely not a PNG", 20);
    EXPECT_FAIL("run -m cli_llm.gguf --mmproj cli_mmproj.gguf --image cli_notimg.png -p hi", 1, "cli_notimg.png");
    {
        /* 2x2 grey PNG, then cut in half */
        static const unsigned char png[] = {   /* PIL: Image.new('L', (2, 2), 128).save(..., 'PNG') */
            0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52,
            0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x02, 0x08, 0x00, 0x00, 0x00, 0x00, 0x57, 0xdd, 0x52,
            0xf8, 0x00, 0x00, 0x00, 0x0e, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9c, 0x63, 0x6c, 0x60, 0x60, 0x62,
            0x60, 0x00, 0x00, 0x02, 0x92, 0x00, 0x84, 0xf7, 0x7c, 0xa3, 0x58, 0x00, 0x00, 0x00, 0x00, 0x49,
            0x45, 0x4e, 0x44, 0xae, 0x42, 0x60, 0x82};
        write_file("cli_ok.png", png, sizeof png);
        write_file("cli_trunc.png", png, 30);
        EXPECT_FAIL("run -m cli_llm.gguf --mmproj cli_mmproj.gguf --image cli_trunc.png -p hi", 1, "cli_trunc.png");
        int rc = run("run -m cli_llm.gguf --mmproj cli_mmproj.gguf --image cli_ok.png -p hi -n 2 -t 2");
        CHECK_MSG(rc == 0, "vision run: exit %d\n%s", rc, out);
    }
    /* mmproj mismatched with the text model: projector width != n_embd */
    {
        struct vlkv_mkmodel_clip_params bad = cpar;
        bad.n_embd_out = p.n_embd * 2;
        CHECK(vlkv_mkmodel_clip("cli_mmproj_wide.gguf", &bad) == VLKV_OK);
        int rc = run("run -m cli_llm.gguf --mmproj cli_mmproj_wide.gguf --image cli_ok.png -p hi");
        CHECK_MSG(rc == 1, "width mismatch: exit %d\n%s", rc, out);
    }
    /* eval: bad data lines are reported with their line number and skipped */
    {
        const char *data = "{\"prompt\": \"hello\"}\n"
                           "{\"prompt\": \"\"}\n"
                           "{\"prompt\": \"x\", \"colour\": 1}\n"
                           "not json\n"
                           "{\"prompt\": \"y\", \"image\": \"missing.png\"}\n";
        write_file("cli_eval.jsonl", data, strlen(data));
        int rc = run("eval -m cli_llm.gguf --data cli_eval.jsonl --policies full -n 2 -t 2 "
                     "--ref-cache cli_eval.refs.jsonl");
        CHECK_MSG(rc == 0, "eval skip: exit %d\n%s", rc, out);
        CHECK_MSG(strstr(out, "cli_eval.jsonl:2:") && strstr(out, "cli_eval.jsonl:3:") &&
                      strstr(out, "colour") && strstr(out, "cli_eval.jsonl:4:") && strstr(out, "cli_eval.jsonl:5:"),
                  "eval line reports:\n%s", out);
        rc = run("eval -m cli_llm.gguf --data cli_eval.jsonl --policies full -n 2 --on-error stop");
        CHECK_MSG(rc == 1 && strstr(out, "cli_eval.jsonl:2:"), "eval stop: exit %d\n%s", rc, out);
        EXPECT_FAIL("eval -m cli_llm.gguf --data cli_eval.jsonl --policies full,bogus", 2, "bogus");
    }
    remove("cli_garbage.gguf");
    remove("cli_trunc.gguf");
    remove("cli_notimg.png");
    return test_done("test_cli");
}
