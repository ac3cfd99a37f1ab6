#include "recast_blas.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

/* Recast's own single-precision kernels for CPUs with AVX-512: matrix–vector products over rows (decoding
   one token streams every weight once) and over columns (attention's weighted sum of values), and a matrix
   product in the GotoBLAS layout (prefill). Anything they do not cover goes to the BLAS library. They exist
   because the BLAS a machine has may not use its widest vectors: OpenBLAS honours OPENBLAS_CORETYPE, and with
   the Haswell kernels preset on an AVX-512 machine its sgemm runs at half the core's peak and its sgemv streams
   weights more slowly than the memory allows. */

static pthread_once_t choose_once = PTHREAD_ONCE_INIT;
static int use_own;

#if defined(__x86_64__) && (defined(__clang__) || defined(__GNUC__))
#include <immintrin.h>
#define RECAST_HAVE_AVX512 1
#endif

static void choose(void) {
    const char *forced = getenv("RECAST_KERNELS");
    if (forced && strcmp(forced, "blas") == 0) return;
#ifdef RECAST_HAVE_AVX512
    __builtin_cpu_init();
    use_own = __builtin_cpu_supports("avx512f") ? 1 : 0;
#endif
}

const char *recast_kernels(void) {
    pthread_once(&choose_once, choose);
    return use_own ? "avx512f" : "blas";
}

#ifdef RECAST_HAVE_AVX512

#define TARGET __attribute__((target("avx512f")))

/* ---- y = alpha·A x + beta·y, A [m, n] row-major: four rows at a time, each a dot product ---- */

TARGET static void gemv_rows(int m, int n, float alpha, const float *a, int lda, const float *x, float beta,
                             float *y) {
    const int tail = n & 15;
    const __mmask16 mask = (__mmask16)((1u << tail) - 1);
    int i = 0;
    float v[4];
    for (; i + 4 <= m; i += 4) {
        const float *r0 = a + (size_t)i * lda, *r1 = r0 + lda, *r2 = r1 + lda, *r3 = r2 + lda;
        __m512 s0 = _mm512_setzero_ps(), s1 = s0, s2 = s0, s3 = s0, t0 = s0, t1 = s0, t2 = s0, t3 = s0;
        int k = 0;
        for (; k + 32 <= n; k += 32) {
            const __m512 xa = _mm512_loadu_ps(x + k), xb = _mm512_loadu_ps(x + k + 16);
            s0 = _mm512_fmadd_ps(_mm512_loadu_ps(r0 + k), xa, s0);
            s1 = _mm512_fmadd_ps(_mm512_loadu_ps(r1 + k), xa, s1);
            s2 = _mm512_fmadd_ps(_mm512_loadu_ps(r2 + k), xa, s2);
            s3 = _mm512_fmadd_ps(_mm512_loadu_ps(r3 + k), xa, s3);
            t0 = _mm512_fmadd_ps(_mm512_loadu_ps(r0 + k + 16), xb, t0);
            t1 = _mm512_fmadd_ps(_mm512_loadu_ps(r1 + k + 16), xb, t1);
            t2 = _mm512_fmadd_ps(_mm512_loadu_ps(r2 + k + 16), xb, t2);
            t3 = _mm512_fmadd_ps(_mm512_loadu_ps(r3 + k + 16), xb, t3);
        }
        for (; k + 16 <= n; k += 16) {
            const __m512 xa = _mm512_loadu_ps(x + k);
            s0 = _mm512_fmadd_ps(_mm512_loadu_ps(r0 + k), xa, s0);
            s1 = _mm512_fmadd_ps(_mm512_loadu_ps(r1 + k), xa, s1);
            s2 = _mm512_fmadd_ps(_mm512_loadu_ps(r2 + k), xa, s2);
            s3 = _mm512_fmadd_ps(_mm512_loadu_ps(r3 + k), xa, s3);
        }
        if (tail) {
            const __m512 xa = _mm512_maskz_loadu_ps(mask, x + k);
            s0 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(mask, r0 + k), xa, s0);
            s1 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(mask, r1 + k), xa, s1);
            s2 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(mask, r2 + k), xa, s2);
            s3 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(mask, r3 + k), xa, s3);
        }
        v[0] = _mm512_reduce_add_ps(_mm512_add_ps(s0, t0));
        v[1] = _mm512_reduce_add_ps(_mm512_add_ps(s1, t1));
        v[2] = _mm512_reduce_add_ps(_mm512_add_ps(s2, t2));
        v[3] = _mm512_reduce_add_ps(_mm512_add_ps(s3, t3));
        for (int r = 0; r < 4; r++) y[i + r] = beta == 0 ? alpha * v[r] : alpha * v[r] + beta * y[i + r];
    }
    for (; i < m; i++) {
        const float *r0 = a + (size_t)i * lda;
        __m512 s0 = _mm512_setzero_ps();
        int k = 0;
        for (; k + 16 <= n; k += 16) s0 = _mm512_fmadd_ps(_mm512_loadu_ps(r0 + k), _mm512_loadu_ps(x + k), s0);
        if (tail) s0 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(mask, r0 + k), _mm512_maskz_loadu_ps(mask, x + k), s0);
        const float dot = _mm512_reduce_add_ps(s0);
        y[i] = beta == 0 ? alpha * dot : alpha * dot + beta * y[i];
    }
}

/* ---- y = alpha·Aᵀ x + beta·y, A [m, n] row-major: y stays in registers, 128 columns at a time, while the
   rows of A stream past, each scaled by its element of x (attention's weighted sum of the values) ---- */

TARGET static void gemv_columns(int m, int n, float alpha, const float *a, int lda, const float *x, float beta,
                                float *y) {
    for (int j0 = 0; j0 < n; j0 += 128) {
        const int width = n - j0 < 128 ? n - j0 : 128, vectors = (width + 15) / 16;
        __mmask16 masks[8];
        for (int v = 0; v < 8; v++) {
            const int left = width - v * 16;
            masks[v] = left >= 16 ? (__mmask16)0xFFFF : left > 0 ? (__mmask16)((1u << left) - 1) : 0;
        }
        __m512 acc[8];
        for (int v = 0; v < 8; v++) acc[v] = _mm512_setzero_ps();
        for (int i = 0; i < m; i++) {
            const __m512 xi = _mm512_set1_ps(x[i]);
            const float *row = a + (size_t)i * lda + j0;
            for (int v = 0; v < vectors; v++)
                acc[v] = _mm512_fmadd_ps(xi, _mm512_maskz_loadu_ps(masks[v], row + v * 16), acc[v]);
        }
        const __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta);
        for (int v = 0; v < vectors; v++) {
            __m512 out = _mm512_mul_ps(acc[v], va);
            if (beta != 0) out = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(masks[v], y + j0 + v * 16), out);
            _mm512_mask_storeu_ps(y + j0 + v * 16, masks[v], out);
        }
    }
}

/* ---- C = alpha·A op(B) + beta·C, row-major, A [m, k] ----
   B is packed, KC rows of k at a time and NC columns at a time, into panels of NR columns ([kc][NR], zeros
   past the last column); a 12 × 32 tile of C then sums, for each p, a broadcast element of each of 12 rows of A
   times the panel's two vectors: 24 accumulators in registers. The 12 rows of A (12 · KC floats) stay in L1
   while the tile moves across the packed block (NC · KC floats, in L2). */

enum { MR = 12, NR = 32, KC = 384, NC = 256 };

#define ROW(r)                                                                                                   \
    do {                                                                                                         \
        const __m512 ar = _mm512_set1_ps(a[(size_t)(r) * lda + p]);                                              \
        c##r##a = _mm512_fmadd_ps(ar, b0, c##r##a);                                                              \
        c##r##b = _mm512_fmadd_ps(ar, b1, c##r##b);                                                              \
    } while (0)

#define STORE(r)                                                                                                 \
    do {                                                                                                         \
        float *cr = c + (size_t)(r) * ldc;                                                                       \
        __m512 xa = _mm512_mul_ps(c##r##a, va), xb = _mm512_mul_ps(c##r##b, va);                                 \
        if (accumulate) {                                                                                        \
            xa = _mm512_add_ps(xa, _mm512_loadu_ps(cr));                                                         \
            xb = _mm512_add_ps(xb, _mm512_loadu_ps(cr + 16));                                                    \
        }                                                                                                        \
        _mm512_storeu_ps(cr, xa);                                                                                \
        _mm512_storeu_ps(cr + 16, xb);                                                                           \
    } while (0)

/* C[12, 32] (row stride ldc) = alpha · A[12, kc] (row stride lda) · panel [kc][32], plus C when accumulate. */
TARGET static void tile(int kc, const float *a, int lda, const float *panel, float *c, int ldc, float alpha,
                        int accumulate) {
    __m512 c0a = _mm512_setzero_ps(), c0b = c0a, c1a = c0a, c1b = c0a, c2a = c0a, c2b = c0a, c3a = c0a, c3b = c0a;
    __m512 c4a = c0a, c4b = c0a, c5a = c0a, c5b = c0a, c6a = c0a, c6b = c0a, c7a = c0a, c7b = c0a;
    __m512 c8a = c0a, c8b = c0a, c9a = c0a, c9b = c0a, c10a = c0a, c10b = c0a, c11a = c0a, c11b = c0a;
    for (int p = 0; p < kc; p++) {
        const __m512 b0 = _mm512_load_ps(panel + (size_t)p * NR), b1 = _mm512_load_ps(panel + (size_t)p * NR + 16);
        ROW(0); ROW(1); ROW(2); ROW(3); ROW(4); ROW(5); ROW(6); ROW(7); ROW(8); ROW(9); ROW(10); ROW(11);
    }
    const __m512 va = _mm512_set1_ps(alpha);
    STORE(0); STORE(1); STORE(2); STORE(3); STORE(4); STORE(5); STORE(6); STORE(7); STORE(8); STORE(9);
    STORE(10); STORE(11);
}

#undef ROW
#undef STORE

/* Scratch of the calling thread: the packed block of B, 12 rows of A and a tile of C for the edges. Mapped
   rather than taken from malloc: a helper thread's first malloc would give it an arena of its own, whose freed
   blocks glibc keeps (calibrate's peak grew by about 100 MB that way). */
static __thread float *scratch;
static const size_t scratch_bytes = sizeof(float) * ((size_t)KC * NC + (size_t)MR * KC + (size_t)MR * NR);

static void release_scratch(void *p) { munmap(p, scratch_bytes); }
static pthread_key_t scratch_key;
static pthread_once_t scratch_once = PTHREAD_ONCE_INIT;
static void make_key(void) { pthread_key_create(&scratch_key, release_scratch); }

static float *thread_scratch(void) {
    if (!scratch) {
        pthread_once(&scratch_once, make_key);
        void *p = mmap(NULL, scratch_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED) return NULL;
        scratch = p;
        pthread_setspecific(scratch_key, scratch);
    }
    return scratch;
}

/* Returns 0, or -1 (nothing done) when the scratch could not be allocated. beta is 0 or 1. */
TARGET static int gemm_blocked(int trans_b, int m, int n, int k, float alpha, const float *a, int lda,
                               const float *b, int ldb, float beta, float *c, int ldc) {
    float *pack = thread_scratch();
    if (!pack) return -1;
    float *rows = pack + (size_t)KC * NC, *edge = rows + (size_t)MR * KC;
    for (int jc = 0; jc < n; jc += NC) {
        const int nc = n - jc < NC ? n - jc : NC;
        const int panels = (nc + NR - 1) / NR;
        for (int pc = 0; pc < k; pc += KC) {
            const int kc = k - pc < KC ? k - pc : KC;
            const int accumulate = pc > 0 || beta != 0;
            for (int q = 0; q < panels; q++) {
                float *panel = pack + (size_t)q * kc * NR;
                const int j0 = jc + q * NR, width = n - j0 < NR ? n - j0 : NR;
                if (trans_b) {  /* B [n, k]: column j of op(B) is row j of B */
                    for (int j = 0; j < width; j++) {
                        const float *src = b + (size_t)(j0 + j) * ldb + pc;
                        for (int p = 0; p < kc; p++) panel[(size_t)p * NR + j] = src[p];
                    }
                } else {        /* B [k, n] */
                    for (int p = 0; p < kc; p++) memcpy(panel + (size_t)p * NR, b + (size_t)(pc + p) * ldb + j0, sizeof(float) * width);
                }
                for (int j = width; j < NR; j++)
                    for (int p = 0; p < kc; p++) panel[(size_t)p * NR + j] = 0;
            }
            for (int ic = 0; ic < m; ic += MR) {
                const int mr = m - ic < MR ? m - ic : MR;
                const float *ap = a + (size_t)ic * lda + pc;
                int la = lda;
                if (mr < MR) {  /* the last rows, padded with zeros to a whole tile */
                    for (int r = 0; r < MR; r++)
                        for (int p = 0; p < kc; p++) rows[(size_t)r * kc + p] = r < mr ? ap[(size_t)r * lda + p] : 0;
                    ap = rows;
                    la = kc;
                }
                for (int q = 0; q < panels; q++) {
                    const int j0 = jc + q * NR, width = n - j0 < NR ? n - j0 : NR;
                    float *cp = c + (size_t)ic * ldc + j0;
                    if (mr == MR && width == NR) {
                        tile(kc, ap, la, pack + (size_t)q * kc * NR, cp, ldc, alpha, accumulate);
                    } else {    /* an edge tile goes through a whole one: C is never touched past its ends */
                        for (int r = 0; r < MR; r++)
                            for (int j = 0; j < NR; j++)
                                edge[r * NR + j] = accumulate && r < mr && j < width ? cp[(size_t)r * ldc + j] : 0;
                        tile(kc, ap, la, pack + (size_t)q * kc * NR, edge, NR, alpha, accumulate);
                        for (int r = 0; r < mr; r++) memcpy(cp + (size_t)r * ldc, edge + r * NR, sizeof(float) * width);
                    }
                }
            }
        }
    }
    return 0;
}

#endif

void recast_sgemm(int trans_a, int trans_b, int m, int n, int k, float alpha, const float *a, int lda,
                  const float *b, int ldb, float beta, float *c, int ldc) {
    pthread_once(&choose_once, choose);
#ifdef RECAST_HAVE_AVX512
    /* Fewer rows than half a tile waste most of it: those (and transposed A) go to BLAS. */
    if (use_own && !trans_a && m >= MR / 2 && n > 0 && k > 0) {
        if (beta != 0 && beta != 1) {
            for (int i = 0; i < m; i++)
                for (int j = 0; j < n; j++) c[(size_t)i * ldc + j] *= beta;
            beta = 1;
        }
        if (gemm_blocked(trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc) == 0) return;
    }
#endif
    recast_blas_sgemm(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

void recast_sgemv(int trans, int m, int n, float alpha, const float *a, int lda, const float *x, float beta, float *y) {
    pthread_once(&choose_once, choose);
#ifdef RECAST_HAVE_AVX512
    if (use_own && n > 0) {
        if (trans) gemv_columns(m, n, alpha, a, lda, x, beta, y);
        else gemv_rows(m, n, alpha, a, lda, x, beta, y);
        return;
    }
#endif
    recast_blas_sgemv(trans, m, n, alpha, a, lda, x, beta, y);
}
