/* Where a process's BLAS time goes, by call shape: an LD_PRELOAD shim for tools/bench_runtime.py --profile.
 *
 *   cc -O2 -shared -fPIC -o blas_profile.so tools/blas_profile.c -ldl
 *   BLAS_PROFILE_OUT=calls.tsv LD_PRELOAD=./blas_profile.so recast bench forward MODEL
 *
 * Recast loads OpenBLAS with dlopen("libopenblas.so.0") and looks its functions up in that handle, which
 * LD_PRELOAD alone cannot interpose. So this shim wraps dlopen: asked for an OpenBLAS or BLAS library, it
 * loads the real one itself and returns a handle to the shim, whose cblas_sgemm and cblas_sgemv time the
 * real ones (wall clock, CLOCK_MONOTONIC) and add the time to a table keyed by the call's shape. At exit the
 * table is written to $BLAS_PROFILE_OUT as tab-separated lines:
 *   kind  trans_a  trans_b  m  n  k  calls  seconds  cpu_seconds
 * where cpu_seconds is the calling thread's CPU time (CLOCK_THREAD_CPUTIME_ID): with OPENBLAS_NUM_THREADS=1
 * all of the work, and steady on a busy machine where wall time is not (for sgemv: kind "gemv", m and n the matrix's rows and columns, k 0). The shapes name the call sites:
 * a projection has k = hidden size, the LM head n = vocabulary, attention scores m = n = tokens. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef void (*sgemm_fn)(int, int, int, int, int, int, float, const float *, int, const float *, int, float, float *, int);
typedef void (*sgemv_fn)(int, int, int, int, float, const float *, int, const float *, int, float, float *, int);
typedef int (*threads_fn)(void);
typedef void (*set_threads_fn)(int);
typedef void *(*dlopen_fn)(const char *, int);

static sgemm_fn real_sgemm;
static sgemv_fn real_sgemv;
static threads_fn real_threads;
static set_threads_fn real_set_threads;

enum { SLOTS = 4096 };
struct entry { int kind, ta, tb, m, n, k; long calls; double seconds, cpu; };
static struct entry table[SLOTS];
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

static double clock_seconds(clockid_t id) {
    struct timespec t;
    clock_gettime(id, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static void add(int kind, int ta, int tb, int m, int n, int k, double seconds, double cpu) {
    unsigned h = (unsigned)(kind * 31 + ta * 7 + tb * 3) * 2654435761u ^ (unsigned)m * 40503u ^ (unsigned)n * 65599u ^ (unsigned)k * 97u;
    pthread_mutex_lock(&lock);
    for (unsigned i = 0; i < SLOTS; i++) {
        struct entry *e = &table[(h + i) % SLOTS];
        if (e->calls == 0) { *e = (struct entry){kind, ta, tb, m, n, k, 0, 0, 0}; }
        if (e->kind == kind && e->ta == ta && e->tb == tb && e->m == m && e->n == n && e->k == k) {
            e->calls++;
            e->seconds += seconds;
            e->cpu += cpu;
            break;
        }
    }
    pthread_mutex_unlock(&lock);
}

__attribute__((destructor)) static void dump(void) {
    const char *path = getenv("BLAS_PROFILE_OUT");
    if (!path) return;
    FILE *f = fopen(path, "w");
    if (!f) return;
    for (int i = 0; i < SLOTS; i++) {
        struct entry *e = &table[i];
        if (e->calls) fprintf(f, "%s\t%d\t%d\t%d\t%d\t%d\t%ld\t%.9f\t%.9f\n", e->kind ? "gemv" : "gemm", e->ta, e->tb, e->m, e->n, e->k, e->calls,
                               e->seconds, e->cpu);
    }
    fclose(f);
}

void cblas_sgemm(int order, int ta, int tb, int m, int n, int k, float alpha, const float *a, int lda, const float *b, int ldb,
                 float beta, float *c, int ldc) {
    double start = clock_seconds(CLOCK_MONOTONIC), cpu = clock_seconds(CLOCK_THREAD_CPUTIME_ID);
    real_sgemm(order, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    add(0, ta == 112, tb == 112, m, n, k, clock_seconds(CLOCK_MONOTONIC) - start, clock_seconds(CLOCK_THREAD_CPUTIME_ID) - cpu);
}

void cblas_sgemv(int order, int ta, int m, int n, float alpha, const float *a, int lda, const float *x, int incx, float beta,
                 float *y, int incy) {
    double start = clock_seconds(CLOCK_MONOTONIC), cpu = clock_seconds(CLOCK_THREAD_CPUTIME_ID);
    real_sgemv(order, ta, m, n, alpha, a, lda, x, incx, beta, y, incy);
    add(1, ta == 112, 0, m, n, 0, clock_seconds(CLOCK_MONOTONIC) - start, clock_seconds(CLOCK_THREAD_CPUTIME_ID) - cpu);
}

int openblas_get_num_threads(void) { return real_threads ? real_threads() : 1; }

/* Recast sets OpenBLAS to one thread per call and splits products over its own threads. */
void openblas_set_num_threads(int n) { if (real_set_threads) real_set_threads(n); }

void *dlopen(const char *name, int flags) {
    static dlopen_fn real_dlopen;
    if (!real_dlopen) real_dlopen = (dlopen_fn)dlsym(RTLD_NEXT, "dlopen");
    if (!name || (!strstr(name, "openblas") && !strstr(name, "libblas"))) return real_dlopen(name, flags);
    void *blas = real_dlopen(name, flags);
    if (!blas) return NULL;
    real_sgemm = (sgemm_fn)dlsym(blas, "cblas_sgemm");
    real_sgemv = (sgemv_fn)dlsym(blas, "cblas_sgemv");
    real_threads = (threads_fn)dlsym(blas, "openblas_get_num_threads");
    real_set_threads = (set_threads_fn)dlsym(blas, "openblas_set_num_threads");
    Dl_info self;
    if (!real_sgemm || !real_sgemv || !dladdr((void *)&cblas_sgemm, &self)) return blas;
    return real_dlopen(self.dli_fname, RTLD_NOW | RTLD_NOLOAD);
}
