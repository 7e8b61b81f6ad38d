/* cmd_mkmodel.c - `vlkv mkmodel`: write a synthetic llama GGUF or (with --mmproj) a LLaVA mmproj
 * GGUF of any shape and weight-type mix, with seeded deterministic weights (src/mkmodel.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "args.h"
#include "cli.h"
#include "gguf.h"
#include "internal.h"
#include "mkmodel.h"
#include "types.h"

static void usage(FILE *f) {
    fprintf(f,
        "usage: vlkv mkmodel -o OUT.gguf [options]            synthetic llama text model\n"
        "       vlkv mkmodel --mmproj -o OUT.gguf [options]   synthetic LLaVA mmproj (CLIP + MLP)\n"
        "\n"
        "common:\n"
        "  -o, --out PATH        output file (required)\n"
        "  --seed N              weight seed (default 1); same seed -> identical bytes\n"
        "  --preset NAME         shape preset, later flags override it:\n"
        "                        llama: tiny (default), tinyllama (TinyLlama-1.1B), llava-7b, llava-13b\n"
        "                        mmproj: tiny (default), clip-l-336 (LLaVA-1.5; set --n-embd-out)\n"
        "  --type T              type of 2-D weights: f32 f16 bf16 q4_0 q4_1 q5_0 q5_1 q8_0 q4_K q5_K q6_K\n"
        "                        (default f32 for llama, f16 for mmproj)\n"
        "  --n-embd N --n-ff N --n-head N --n-layer N\n"
        "  --init-scale F        multiply every weight's std (1/sqrt(fan_in)) by F (default 1)\n"
        "  --name S              general.name\n"
        "llama:\n"
        "  --n-head-kv N         GQA key/value heads (default n_head)\n"
        "  --n-vocab N           vocabulary size, >= 260 (default 512; ~1240 holds every built-in word)\n"
        "  --n-ctx N             llama.context_length (default 2048)\n"
        "  --rope-base F --rms-eps F\n"
        "  --type-output T --type-embd T\n"
        "  --ftype q4_k_m|q5_k_m llama.cpp mix: Q4_K/Q5_K, Q6_K attn_v/ffn_down on use_more_bits layers, Q6_K output\n"
        "  --override SUBSTR=T[,...]  tensors whose name contains SUBSTR get type T (repeatable, last wins)\n"
        "  --tied                no output.weight (tied to token_embd)\n"
        "mmproj:\n"
        "  --image-size N --patch-size N   (default 32 / 8)\n"
        "  --n-proj-hidden N     mm.0 output width (default n-embd-out)\n"
        "  --n-embd-out N        projector output = the LLM's n_embd (default 256)\n"
        "  --type-pos T          position embedding type (default: --type)\n"
        "  --type-patch T        patch conv type, f16 (default) or f32\n"
        "  --use-gelu            clip.use_gelu = true (default false: quick-GELU, as LLaVA-1.5)\n"
        "  --eps F               layer-norm epsilon (default 1e-5)\n");
}

static int parse_type(const char *flag, const char *s, int32_t *out) {
    int t = vlkv_type_from_name(s);
    if (t < 0) {
        fprintf(stderr, "vlkv: %s: unknown type '%s'\n", flag, s);
        return -1;
    }
    *out = t;
    return 0;
}

static int parse_u64(const char *flag, const char *s, uint64_t *out) {
    char *end;
    unsigned long long v = strtoull(s, &end, 0);
    if (!*s || *end || s[0] == '-') {
        fprintf(stderr, "vlkv: %s: '%s' is not a non-negative integer\n", flag, s);
        return -1;
    }
    *out = (uint64_t)v;
    return 0;
}

static int apply_llama_preset(struct vlkv_mkmodel_params *p, const char *name) {
    if (!strcmp(name, "tiny")) return 0;
    if (!strcmp(name, "tinyllama")) {
        p->n_layer = 22; p->n_embd = 2048; p->n_ff = 5632; p->n_head = 32; p->n_head_kv = 4;
        p->n_vocab = 32000; p->n_ctx = 2048;
        return 0;
    }
    if (!strcmp(name, "llava-7b")) {
        p->n_layer = 32; p->n_embd = 4096; p->n_ff = 11008; p->n_head = 32; p->n_head_kv = 32;
        p->n_vocab = 32000; p->n_ctx = 4096;
        return 0;
    }
    if (!strcmp(name, "llava-13b")) {
        p->n_layer = 40; p->n_embd = 5120; p->n_ff = 13824; p->n_head = 40; p->n_head_kv = 40;
        p->n_vocab = 32000; p->n_ctx = 4096;
        return 0;
    }
    return -1;
}

static int apply_clip_preset(struct vlkv_mkmodel_clip_params *p, const char *name) {
    if (!strcmp(name, "tiny")) return 0;
    if (!strcmp(name, "clip-l-336")) {
        p->image_size = 336; p->patch_size = 14; p->n_embd = 1024; p->n_ff = 4096; p->n_head = 16;
        p->n_layer = 23; p->n_embd_out = 4096; p->n_proj_hidden = 0;
        return 0;
    }
    return -1;
}

int cmd_mkmodel(int argc, char **argv) {
    const char *out = NULL, *preset = NULL;
    int mmproj = 0;
    char overrides[1024] = "";
    /* pass 1: model kind, preset, output */
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            usage(stdout);
            return 0;
        }
        if (!strcmp(argv[i], "--mmproj")) mmproj = 1;
        else if (!strcmp(argv[i], "--preset") && i + 1 < argc) preset = argv[++i];
    }
    struct vlkv_mkmodel_params lp = vlkv_mkmodel_params_default();
    struct vlkv_mkmodel_clip_params cp = vlkv_mkmodel_clip_params_default();
    if (preset && (mmproj ? apply_clip_preset(&cp, preset) : apply_llama_preset(&lp, preset)) != 0) {
        fprintf(stderr, "vlkv: mkmodel: unknown %s preset '%s' (see --help)\n", mmproj ? "mmproj" : "llama", preset);
        return 2;
    }

    /* pass 2: everything else; a flag for the other model kind is a usage error */
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--mmproj")) continue;
        if (!strcmp(a, "--tied")) { if (mmproj) goto wrong_kind; lp.tied = 1; continue; }
        if (!strcmp(a, "--use-gelu")) { if (!mmproj) goto wrong_kind; cp.use_gelu = 1; continue; }
        if (i + 1 >= argc) {
            fprintf(stderr, "vlkv: mkmodel: unknown flag or missing value: %s\n", a);
            usage(stderr);
            return 2;
        }
        const char *v = argv[++i];
        int rc = 0, n;
        float fv;
        int32_t t;
#define INT_FLAG(flag, lo, hi, lfield, cfield)                                                        \
        if (!strcmp(a, flag)) {                                                                       \
            rc = cli_parse_int(a, v, lo, hi, &n);                                                     \
            if (!rc) { if (mmproj) { cfield; } else { lfield; } }                                     \
            goto next;                                                                                \
        }
        if (!strcmp(a, "-o") || !strcmp(a, "--out")) { out = v; goto next; }
        if (!strcmp(a, "--preset")) goto next;
        if (!strcmp(a, "--seed")) {
            uint64_t s;
            rc = parse_u64(a, v, &s);
            lp.seed = cp.seed = s;
            goto next;
        }
        if (!strcmp(a, "--name")) { lp.name = cp.name = v; goto next; }
        if (!strcmp(a, "--type")) { rc = parse_type(a, v, &t); lp.type = cp.type = t; goto next; }
        if (!strcmp(a, "--init-scale")) {
            rc = cli_parse_float(a, v, 1e-6, 1e6, &fv);
            lp.init_scale = cp.init_scale = fv;
            goto next;
        }
        INT_FLAG("--n-embd", 1, 1 << 20, lp.n_embd = n, cp.n_embd = n)
        INT_FLAG("--n-ff", 1, 1 << 22, lp.n_ff = n, cp.n_ff = n)
        INT_FLAG("--n-head", 1, 4096, lp.n_head = n, cp.n_head = n)
        INT_FLAG("--n-layer", 1, 4096, lp.n_layer = n, cp.n_layer = n)
        if (mmproj) {
            INT_FLAG("--image-size", 1, 8192, (void)0, cp.image_size = n)
            INT_FLAG("--patch-size", 1, 8192, (void)0, cp.patch_size = n)
            INT_FLAG("--n-proj-hidden", 1, 1 << 20, (void)0, cp.n_proj_hidden = n)
            INT_FLAG("--n-embd-out", 1, 1 << 20, (void)0, cp.n_embd_out = n)
            if (!strcmp(a, "--type-pos")) { rc = parse_type(a, v, &cp.type_pos); goto next; }
            if (!strcmp(a, "--type-patch")) { rc = parse_type(a, v, &cp.type_patch); goto next; }
            if (!strcmp(a, "--eps")) { rc = cli_parse_float(a, v, 0, 1, &cp.eps); goto next; }
        } else {
            INT_FLAG("--n-head-kv", 1, 4096, lp.n_head_kv = n, (void)0)
            INT_FLAG("--n-vocab", 260, 1 << 24, lp.n_vocab = n, (void)0)
            INT_FLAG("--n-ctx", 1, 1 << 24, lp.n_ctx = n, (void)0)
            if (!strcmp(a, "--rope-base")) { rc = cli_parse_float(a, v, 1, 1e9, &lp.rope_base); goto next; }
            if (!strcmp(a, "--rms-eps")) { rc = cli_parse_float(a, v, 0, 1, &lp.rms_eps); goto next; }
            if (!strcmp(a, "--type-output")) { rc = parse_type(a, v, &lp.type_output); goto next; }
            if (!strcmp(a, "--type-embd")) { rc = parse_type(a, v, &lp.type_embd); goto next; }
            if (!strcmp(a, "--ftype")) {
                if (!strcmp(v, "q4_k_m") || !strcmp(v, "Q4_K_M")) lp.ftype = VLKV_FTYPE_Q4_K_M;
                else if (!strcmp(v, "q5_k_m") || !strcmp(v, "Q5_K_M")) lp.ftype = VLKV_FTYPE_Q5_K_M;
                else {
                    fprintf(stderr, "vlkv: --ftype: unknown preset '%s' (q4_k_m, q5_k_m)\n", v);
                    rc = -1;
                }
                goto next;
            }
            if (!strcmp(a, "--override")) {
                size_t l = strlen(overrides);
                if (l + strlen(v) + 2 > sizeof overrides) {
                    fprintf(stderr, "vlkv: --override: too long\n");
                    return 2;
                }
                snprintf(overrides + l, sizeof overrides - l, "%s%s", l ? "," : "", v);
                lp.overrides = overrides;
                goto next;
            }
        }
#undef INT_FLAG
        i--;   /* not a flag of this kind: report it */
        goto wrong_kind;
    next:
        if (rc) return 2;
        continue;
    wrong_kind:
        fprintf(stderr, "vlkv: mkmodel: unknown flag '%s'%s\n", argv[i],
                mmproj ? " for --mmproj" : " (mmproj flags need --mmproj)");
        return 2;
    }
    if (!out) {
        fprintf(stderr, "vlkv: mkmodel: -o OUT.gguf is required\n");
        usage(stderr);
        return 2;
    }

    double t0 = vlkv_time_ms();
    vlkv_status st = mmproj ? vlkv_mkmodel_clip(out, &cp) : vlkv_mkmodel_llama(out, &lp);
    if (st != VLKV_OK) {
        fprintf(stderr, "vlkv: %s\n", vlkv_last_error());
        return st == VLKV_ERR_INVALID_ARG ? 2 : 1;
    }
    double ms = vlkv_time_ms() - t0;
    /* re-read the result with the strict reader: what we write must load */
    struct gguf_file f;
    st = vlkv_gguf_open(out, &f);
    if (st != VLKV_OK) {
        fprintf(stderr, "vlkv: mkmodel: written file does not validate: %s\n", vlkv_last_error());
        return 1;
    }
    if (mmproj)
        printf("wrote %s: mmproj %dpx/%d, %d x %d (ff %d, %d heads) -> %d, type %s, %llu tensors, %.1f MiB, %.2f s\n",
               out, cp.image_size, cp.patch_size, cp.n_layer, cp.n_embd, cp.n_ff, cp.n_head, cp.n_embd_out,
               vlkv_type_name((uint32_t)cp.type), (unsigned long long)f.n_tensors, f.size / 1048576.0, ms / 1e3);
    else
        printf("wrote %s: llama %d x %d (ff %d, heads %d/%d, vocab %d), type %s%s, %llu tensors, %.1f MiB, %.2f s\n",
               out, lp.n_layer, lp.n_embd, lp.n_ff, lp.n_head, lp.n_head_kv > 0 ? lp.n_head_kv : lp.n_head,
               lp.n_vocab, vlkv_type_name((uint32_t)lp.type),
               lp.ftype == VLKV_FTYPE_Q4_K_M ? " (q4_k_m)" : lp.ftype == VLKV_FTYPE_Q5_K_M ? " (q5_k_m)" : "",
               (unsigned long long)f.n_tensors, f.size / 1048576.0, ms / 1e3);
    vlkv_gguf_close(&f);
    return 0;
}
