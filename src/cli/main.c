/* main.c - `vlkv COMMAND [options]`: dispatch to the subcommands in src/cli/cmd_*.c. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "vlkv.h"

struct command {
    const char *name;
    int (*fn)(int argc, char **argv);
    const char *help;
};

static const struct command commands[] = {
    {"run",     cmd_run,     "describe images / answer a prompt, with a KV policy"},
    {"chat",    cmd_chat,    "interactive multi-turn chat with /image PATH, streamed"},
    {"bench",   cmd_bench,   "llama-bench style pp/tg speed rows against bandwidth and sgemm"},
    {"eval",    cmd_eval,    "quality of KV policies x budgets: PPL, ROUGE-L, accuracy, bytes, speed"},
    {"calibrate", cmd_calibrate, "PrefixKV calibration: per-layer KV ratios per budget -> JSON for --kv-config"},
    {"devices", cmd_devices, "list Vulkan devices and their capabilities"},
    {"info",    cmd_info,    "print a GGUF file's metadata and tensor table"},
    {"mkmodel", cmd_mkmodel, "write a synthetic llama GGUF or LLaVA mmproj (any shape, weight types, seed)"},
};

/* Warnings always; info with -v, debug with -vv. Errors only with -v: every command prints
 * vlkv_last_error() itself when a call fails, so the default output says it once. */
static void log_cb(vlkv_log_level level, const char *text, void *ud) {
    int verbosity = *(int *)ud;
    int show = level == VLKV_LOG_WARN || (level == VLKV_LOG_ERROR && verbosity >= 1) ||
               (level >= VLKV_LOG_INFO && (int)level <= verbosity + 1);
    if (show) {
        static const char *names[] = {"error", "warn", "info", "debug"};
        fprintf(stderr, "vlkv: %s: %s\n", names[level], text);
    }
}

void cli_log_to_stderr(int verbosity) {
    static int v;
    v = verbosity;
    vlkv_log_set(log_cb, &v);
}

static void usage(FILE *f) {
    fprintf(f, "usage: vlkv COMMAND [options]   (vlkv COMMAND --help for details)\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].help);
    fprintf(f, "\n%s\n", vlkv_system_info());
}

int main(int argc, char **argv) {
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(argv[1], "--version")) {
        printf("%s\n", vlkv_system_info());
        return 0;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (!strcmp(argv[1], commands[i].name)) {
            cli_log_to_stderr(0);
            return commands[i].fn(argc - 1, argv + 1);
        }
    fprintf(stderr, "vlkv: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return 2;
}
