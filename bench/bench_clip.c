/* bench_clip.c - image encode time of a CLIP-L/14-336-shaped mmproj (24 blocks, width 1024,
 * ff 4096, 16 heads, 577 tokens, projector 1024 -> 2048 -> 2048) written with the mkmodel
 * functions, per weight type: preprocessing (pad + Pillow bicubic of a 640x480 image), ViT,
 * projector, each in ms and GFLOP/s, next to OpenBLAS sgemm GFLOP/s measured in the same run
 * with the same thread count (the yardstick: the ViT is all GEMMs; target >= 60%).
 *
 *   bench_clip [-t THREADS] [-r REPS] [--types f16,q8_0] [--layers N] [--dir DIR]
 *
 * FLOPs counted: patch GEMM 2*576*588*1024; per block 4 projections 8*N*E^2, MLP 4*N*E*F,
 * attention 4*N^2*E (QK^T and PV); projector 2*576*(E*H + H*O). Softmax, norms, GELU and
 * the residual adds are not counted (they are a few % of the time). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clip.h"
#include "image.h"
#include "internal.h"
#include "mkmodel.h"
#include "ops.h"
#include "perfprobe.h"
#include "types.h"

static int parse_types(const char *s, int *types, int max) {
    int n = 0;
    char buf[128];
    snprintf(buf, sizeof buf, "%s", s);
    for (char *tok = strtok(buf, ","); tok && n < max; tok = strtok(NULL, ",")) {
        int t = vlkv_type_from_name(tok);
        if (t < 0) {
            fprintf(stderr, "bench_clip: unknown type '%s'\n", tok);
            return -1;
        }
        types[n++] = t;
    }
    return n;
}

/* the per-stage split of each encode (clip.c logs it at debug level) goes to stderr */
static void log_cb(vlkv_log_level level, const char *text, void *ud) {
    (void)ud;
    if (level <= VLKV_LOG_WARN || !strncmp(text, "clip:", 5)) fprintf(stderr, "  %s\n", text);
}

int main(int argc, char **argv) {
    vlkv_log_set(log_cb, NULL);
    int n_threads = 2, reps = 1, n_layer = 24;
    const char *types_s = "f16,q8_0", *dir = ".";
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-t") && i + 1 < argc) n_threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "-r") && i + 1 < argc) reps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--types") && i + 1 < argc) types_s = argv[++i];
        else if (!strcmp(argv[i], "--layers") && i + 1 < argc) n_layer = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--dir") && i + 1 < argc) dir = argv[++i];
        else {
            fprintf(stderr, "usage: bench_clip [-t THREADS] [-r REPS] [--types f16,q8_0] [--layers N] [--dir DIR]\n");
            return 2;
        }
    }
    if (n_threads < 1 || reps < 1 || n_layer < 1) {
        fprintf(stderr, "bench_clip: bad -t / -r / --layers\n");
        return 2;
    }
    int types[8];
    int n_types = parse_types(types_s, types, 8);
    if (n_types <= 0) return 2;

    const int64_t S = 336, P = 14, E = 1024, F = 4096, H = 2048, O = 2048;
    const int64_t NP = (S / P) * (S / P), N = NP + 1;
    const double fl_patch = 2.0 * NP * 3 * P * P * E;
    const double fl_block = 8.0 * N * E * E + 4.0 * N * E * F + 4.0 * N * N * E;
    const double fl_vit = fl_patch + n_layer * fl_block;
    const double fl_proj = 2.0 * NP * (E * H + H * O);

    /* the yardsticks: sgemm on the ViT's two main GEMM shapes */
    double sg_ff = vlkv_probe_sgemm((int)N, (int)F, (int)E, n_threads, 3);
    double sg_sq = vlkv_probe_sgemm((int)N, (int)E, (int)E, n_threads, 3);
    printf("# bench_clip: CLIP-L/14-336 shape, %d blocks, %d threads, %s\n", n_layer, n_threads, vlkv_system_info());
    printf("# OpenBLAS sgemm GFLOP/s: %.1f (577x4096x1024), %.1f (577x1024x1024)\n\n", sg_ff, sg_sq);
    printf("| weights | preprocess ms | ViT ms | ViT GFLOP/s | ViT %% of sgemm (measured just before) | projector ms | "
           "projector GFLOP/s | total ms |\n");
    printf("|---|---|---|---|---|---|---|---|\n");

    /* a 640x480 test image with some structure */
    uint8_t *rgb = malloc(640 * 480 * 3);
    if (!rgb) return 1;
    for (int y = 0; y < 480; y++)
        for (int x = 0; x < 640; x++) {
            uint8_t *p = rgb + (y * 640 + x) * 3;
            p[0] = (uint8_t)(x * 255 / 639);
            p[1] = (uint8_t)(y * 255 / 479);
            p[2] = (uint8_t)(((x / 16) ^ (y / 16)) & 1 ? 220 : 30);
        }
    vlkv_image *img = NULL;
    if (vlkv_image_from_rgb(rgb, 640, 480, &img) != VLKV_OK) return 1;
    free(rgb);

    int rc = 0;
    for (int it = 0; it < n_types; it++) {
        char path[1024];
        snprintf(path, sizeof path, "%s/bench_clip_%s.gguf", dir, vlkv_type_name((uint32_t)types[it]));
        struct vlkv_mkmodel_clip_params mp = vlkv_mkmodel_clip_params_default();
        mp.image_size = (int32_t)S;
        mp.patch_size = (int32_t)P;
        mp.n_embd = (int32_t)E;
        mp.n_ff = (int32_t)F;
        mp.n_head = 16;
        mp.n_layer = n_layer;
        mp.n_proj_hidden = (int32_t)H;
        mp.n_embd_out = (int32_t)O;
        mp.type = types[it];
        double tw = vlkv_time_ms();
        if (vlkv_mkmodel_clip(path, &mp) != VLKV_OK) {
            fprintf(stderr, "bench_clip: mkmodel: %s\n", vlkv_last_error());
            rc = 1;
            continue;
        }
        fprintf(stderr, "wrote %s in %.1f s\n", path, (vlkv_time_ms() - tw) / 1e3);
        struct vlkv_clip *clip = NULL;
        if (vlkv_clip_load(path, 0, &clip) != VLKV_OK) {
            fprintf(stderr, "bench_clip: %s\n", vlkv_last_error());
            remove(path);
            rc = 1;
            continue;
        }
        struct vlkv_ops_ctx o;
        vlkv_ops_init(&o, n_threads);
        struct vlkv_preproc pp;
        vlkv_clip_preproc_params(clip, &pp);
        float *pix = malloc((size_t)3 * S * S * sizeof(float));
        float *out = malloc((size_t)NP * O * sizeof(float));
        double best_pre = 1e30, best_vit = 1e30, best_proj = 1e30, sg_near = 0;
        int n_sg = 0;
        /* one warm-up (page faults of the mapping, BLAS thread start), then reps */
        for (int r = 0; r <= reps && pix && out; r++) {
            /* sgemm right before each timed encode: on a shared machine the yardstick must see
             * the same load as the ViT */
            if (r > 0) {
                sg_near += vlkv_probe_sgemm((int)N, (int)F, (int)E, n_threads, 3);
                n_sg++;
            }
            double t0 = vlkv_time_ms();
            if (vlkv_image_preprocess(img, &pp, pix) != VLKV_OK) break;
            double pre = vlkv_time_ms() - t0;
            struct vlkv_clip_timings tm = {0};
            if (vlkv_clip_encode_pixels(clip, &o, pix, NULL, out, &tm) != VLKV_OK) {
                fprintf(stderr, "bench_clip: %s\n", vlkv_last_error());
                rc = 1;
                break;
            }
            if (r == 0 && reps > 0) continue;
            if (pre < best_pre) best_pre = pre;
            if (tm.vision_ms < best_vit) best_vit = tm.vision_ms;
            if (tm.projector_ms < best_proj) best_proj = tm.projector_ms;
        }
        if (best_vit < 1e30) {
            double gv = fl_vit / best_vit / 1e6, gp = fl_proj / best_proj / 1e6;
            double sg = n_sg ? sg_near / n_sg : sg_ff;
            printf("| %s | %.1f | %.0f | %.1f | %.0f%% (sgemm %.1f) | %.0f | %.1f | %.0f |\n",
                   vlkv_type_name((uint32_t)types[it]), best_pre, best_vit, gv, sg > 0 ? 100.0 * gv / sg : 0.0, sg,
                   best_proj, gp, best_pre + best_vit + best_proj);
            fflush(stdout);
        }
        free(pix);
        free(out);
        vlkv_ops_free(&o);
        vlkv_clip_free(clip);
        remove(path);
    }
    printf("\nViT %.1f GFLOP per image, projector %.1f GFLOP; best of %d after one warm-up.\n", fl_vit / 1e9,
           fl_proj / 1e9, reps);
    vlkv_image_free(img);
    return rc;
}
