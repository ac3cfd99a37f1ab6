#ifndef RECAST_BLAS_H
#define RECAST_BLAS_H

/// The C edge to BLAS. OpenBLAS is not linked into Recast: its library constructor starts threads and
/// maps buffers at process start, and under a small address-space limit (ulimit -v) it hangs there,
/// before main. It is loaded with dlopen on the first call of `recast_blas_load` instead, so commands
/// that do no arithmetic never start it.

/// Loads the BLAS library and resolves its functions, once. Returns 0, or -1 when it could not be
/// loaded; `recast_blas_error` then says why.
int recast_blas_load(void);

/// 1 once `recast_blas_load` has succeeded, else 0. Never loads.
int recast_blas_loaded(void);

/// Why loading failed (a static string owned by the shim), or an empty string.
const char *recast_blas_error(void);

/// The library that was loaded (as passed to dlopen), or an empty string.
const char *recast_blas_library(void);

/// cblas_sgemm in row-major order; `trans_a` and `trans_b` are 0 or 1. Requires a successful load.
void recast_blas_sgemm(int trans_a, int trans_b, int m, int n, int k, float alpha, const float *a, int lda,
                       const float *b, int ldb, float beta, float *c, int ldc);

/// cblas_sgemv in row-major order with unit strides. Requires a successful load.
void recast_blas_sgemv(int trans, int m, int n, float alpha, const float *a, int lda, const float *x, float beta,
                       float *y);

/// As `recast_blas_sgemm`, through Recast's own AVX-512 kernel where the CPU has AVX-512 (and RECAST_KERNELS is
/// not `blas`), for A not transposed, at least 6 rows and beta 0 or 1 (another beta scales C first); through
/// BLAS otherwise. Requires a successful load.
void recast_sgemm(int trans_a, int trans_b, int m, int n, int k, float alpha, const float *a, int lda,
                  const float *b, int ldb, float beta, float *c, int ldc);

/// As `recast_blas_sgemv`, through Recast's own AVX-512 kernels where the CPU has AVX-512 (and RECAST_KERNELS
/// is not `blas`); through BLAS otherwise. Requires a successful load.
void recast_sgemv(int trans, int m, int n, float alpha, const float *a, int lda, const float *x, float beta,
                  float *y);

/// Which kernels `recast_sgemm` and `recast_sgemv` use where they can: "avx512f" or "blas".
const char *recast_kernels(void);

/// The threads OpenBLAS started with (openblas_get_num_threads at load), or 1 when the library cannot say or
/// cannot be set to one thread. Once loaded, OpenBLAS runs each call on its calling thread and Recast splits
/// large products over this many threads itself. Requires a successful load.
int recast_blas_threads(void);

/// 1 on a thread working in one of Recast's parallel regions, where products are not split again.
int recast_blas_in_region(void);

/// Marks (1) or unmarks (0) the calling thread as working in a parallel region.
void recast_blas_set_in_region(int on);

/// Runs fn(ctx, w) for every worker w of 0 ..< workers, worker 0 on the calling thread and the others on
/// helper threads started once (at most `recast_blas_threads()` in all), each marked as in a parallel region,
/// and returns when all have finished: 0. Returns -1 without running anything when `workers` < 2, when there
/// are no helpers, or when another region is in flight; the caller then runs the work itself. Between regions
/// the helpers spin for a while (a product follows a product closely when decoding), then sleep.
int recast_team_run(int workers, void (*fn)(void *ctx, int worker), void *ctx);

#endif
