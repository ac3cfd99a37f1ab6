#include "recast_blas.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stddef.h>

/* The CBLAS constants, as every cblas.h defines them. */
enum { ROW_MAJOR = 101, NO_TRANS = 111, TRANS = 112 };

typedef void (*sgemm_fn)(int, int, int, int, int, int, float, const float *, int, const float *, int, float, float *, int);
typedef void (*sgemv_fn)(int, int, int, int, float, const float *, int, const float *, int, float, float *, int);
typedef int (*threads_fn)(void);
typedef void (*set_threads_fn)(int);

static pthread_once_t once = PTHREAD_ONCE_INIT;
static sgemm_fn sgemm;
static sgemv_fn sgemv;
static threads_fn threads;
static const char *error = "";
static const char *library = "";
static char reason[512];
static int loaded;
static int workers = 1;
/* Set on the threads of a parallel region of Recast's own (recast_blas_set_in_region): a product there runs
   on its calling thread alone. */
static __thread int in_region;

static void load(void) {
    /* OpenBLAS first (Debian's libopenblas0 ships libopenblas.so.0); then the generic BLAS alternative. */
    static const char *const names[] = {"libopenblas.so.0", "libopenblas.so", "libopenblas.dylib", "libblas.so.3"};
    void *handle = NULL;
    const char *first_error = NULL;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        handle = dlopen(names[i], RTLD_NOW | RTLD_LOCAL);
        if (handle) { library = names[i]; break; }
        const char *e = dlerror();
        if (!first_error && e) {
            size_t n = 0;
            for (; e[n] && n + 1 < sizeof reason; n++) reason[n] = e[n];
            reason[n] = 0;
            first_error = reason;
        }
    }
    if (!handle) { error = first_error ? first_error : "no BLAS library found"; return; }
    sgemm = (sgemm_fn)dlsym(handle, "cblas_sgemm");
    sgemv = (sgemv_fn)dlsym(handle, "cblas_sgemv");
    threads = (threads_fn)dlsym(handle, "openblas_get_num_threads");
    set_threads_fn set_threads = (set_threads_fn)dlsym(handle, "openblas_set_num_threads");
    if (!sgemm || !sgemv) { error = "the BLAS library has no cblas_sgemm or cblas_sgemv"; return; }
    /* Recast splits products across the threads OpenBLAS was started with and runs OpenBLAS on one thread
       per call: its own workers would otherwise spin (sched_yield) for a while after each product,
       competing with Recast's threads for the cores. */
    if (threads && set_threads) {
        workers = threads();
        if (workers < 1) workers = 1;
        set_threads(1);
    }
    __atomic_store_n(&loaded, 1, __ATOMIC_RELEASE);
}

int recast_blas_load(void) {
    pthread_once(&once, load);
    return recast_blas_loaded() ? 0 : -1;
}

int recast_blas_loaded(void) { return __atomic_load_n(&loaded, __ATOMIC_ACQUIRE); }

const char *recast_blas_error(void) { return error; }
const char *recast_blas_library(void) { return library; }

void recast_blas_sgemm(int trans_a, int trans_b, int m, int n, int k, float alpha, const float *a, int lda,
                       const float *b, int ldb, float beta, float *c, int ldc) {
    sgemm(ROW_MAJOR, trans_a ? TRANS : NO_TRANS, trans_b ? TRANS : NO_TRANS, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

void recast_blas_sgemv(int trans, int m, int n, float alpha, const float *a, int lda, const float *x, float beta,
                       float *y) {
    sgemv(ROW_MAJOR, trans ? TRANS : NO_TRANS, m, n, alpha, a, lda, x, 1, beta, y, 1);
}

int recast_blas_threads(void) { return workers; }

int recast_blas_in_region(void) { return in_region; }
void recast_blas_set_in_region(int on) { in_region = on; }
