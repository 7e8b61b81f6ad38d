/* perfprobe.h - machine probes that benchmarks compare against in the same run:
 * read bandwidth (the decode roofline) and OpenBLAS sgemm throughput (the prefill yardstick). */
#ifndef VLKV_PERFPROBE_H
#define VLKV_PERFPROBE_H

#include <stddef.h>

/* Best-of-`reps` read bandwidth in GB/s (1e9 B/s) streaming a `bytes` buffer with n_threads
 * OpenMP threads (vectorised sum). Returns 0 on allocation failure. */
double vlkv_probe_read_bw(size_t bytes, int n_threads, int reps);

/* Best-of-`reps` cblas_sgemm GFLOP/s for C[m,n] = A[m,k] * B[k,n]^T with n_threads OpenBLAS
 * threads; 0 when built without BLAS. */
double vlkv_probe_sgemm(int m, int n, int k, int n_threads, int reps);

/* 1 if this build has BLAS. */
int vlkv_probe_have_blas(void);

#endif /* VLKV_PERFPROBE_H */
