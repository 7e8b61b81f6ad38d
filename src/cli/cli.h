/* cli.h - subcommands of the `vlkv` tool. The CLI is the only code that prints to stdout or
 * calls exit(); each subcommand returns the process exit status (0 ok, 1 runtime error,
 * 2 usage error). */
#ifndef VLKV_CLI_H
#define VLKV_CLI_H

int cmd_info(int argc, char **argv);      /* cmd_info.c: GGUF metadata and tensor table */
int cmd_mkmodel(int argc, char **argv);   /* cmd_mkmodel.c: synthetic llama / mmproj GGUF */
int cmd_run(int argc, char **argv);       /* cmd_run.c: one prompt (+ images), streamed */
int cmd_chat(int argc, char **argv);      /* cmd_chat.c: interactive multi-turn chat */
int cmd_bench(int argc, char **argv);     /* cmd_bench.c: llama-bench style pp/tg rows */
int cmd_devices(int argc, char **argv);   /* cmd_devices.c: Vulkan devices and capabilities */
int cmd_eval(int argc, char **argv);      /* cmd_eval.c: quality of KV policies x budgets */
int cmd_calibrate(int argc, char **argv); /* cmd_calibrate.c: PrefixKV per-layer ratios -> JSON */

/* Log callback printing to stderr (WARN and ERROR always, INFO/DEBUG with -v). */
void cli_log_to_stderr(int verbosity);

#endif /* VLKV_CLI_H */
