#include "recast_blas.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>

/* The team behind BLAS.inParallel. Decoding one token runs some two hundred small products in a row, each split
   over the cores: a team that sleeps between them (libdispatch's threads park after each region) pays a wake-up
   of tens of microseconds per product, more than a 1 MB product takes on one core. These helpers are started
   once and, after a region, spin for a while watching for the next one before they sleep on a condition
   variable. One region runs at a time; a caller that finds the team busy runs its region alone. */

/* Helpers spin this many polls (each a pause, some 10-40 ns) after a region before sleeping. */
#define SPINS 20000
/* The caller yields its core while waiting for a helper after this many polls (a descheduled helper). */
#define PATIENCE 4000
#define MAX_HELPERS 63

static struct {
    pthread_once_t once;
    pthread_mutex_t busy;       /* held by the caller of the region in flight */
    pthread_mutex_t sleep_lock; /* with `wake`: helpers that stopped spinning */
    pthread_cond_t wake;
    atomic_uint generation;     /* bumped once per region */
    atomic_int pending;         /* helpers that have not yet answered the region in flight */
    atomic_int sleepers;
    void (*fn)(void *, int);
    void *ctx;
    int workers;                /* of the region in flight, the caller included */
    int helpers;                /* started */
} team = {PTHREAD_ONCE_INIT, PTHREAD_MUTEX_INITIALIZER, PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER};

static inline void relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

static void *helper(void *arg) {
    int index = (int)(long)arg; /* 1 ... helpers: worker 0 is the caller */
    /* Helpers start (once, in `start`) before the first region is published: generation 0 is the one seen. */
    unsigned seen = 0;
    for (;;) {
        unsigned now = seen;
        for (int spin = 0; spin < SPINS && (now = atomic_load_explicit(&team.generation, memory_order_acquire)) == seen; spin++)
            relax();
        if (now == seen) {
            pthread_mutex_lock(&team.sleep_lock);
            atomic_fetch_add(&team.sleepers, 1);
            while ((now = atomic_load(&team.generation)) == seen) pthread_cond_wait(&team.wake, &team.sleep_lock);
            atomic_fetch_sub(&team.sleepers, 1);
            pthread_mutex_unlock(&team.sleep_lock);
        }
        seen = now;
        if (index < team.workers) {
            recast_blas_set_in_region(1);
            team.fn(team.ctx, index);
            recast_blas_set_in_region(0);
        }
        /* Every helper answers every region, taking part or not, so none can lag behind into the next. */
        atomic_fetch_sub_explicit(&team.pending, 1, memory_order_release);
    }
    return 0;
}

static void start(void) {
    int wanted = recast_blas_threads() - 1;
    if (wanted > MAX_HELPERS) wanted = MAX_HELPERS;
    for (int i = 1; i <= wanted; i++) {
        pthread_t thread;
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        int failed = pthread_create(&thread, &attr, helper, (void *)(long)i);
        pthread_attr_destroy(&attr);
        if (failed) break;
        team.helpers = i;
    }
}

int recast_team_run(int workers, void (*fn)(void *ctx, int worker), void *ctx) {
    pthread_once(&team.once, start);
    if (workers > team.helpers + 1) workers = team.helpers + 1;
    if (workers < 2 || pthread_mutex_trylock(&team.busy) != 0) return -1;
    team.fn = fn;
    team.ctx = ctx;
    team.workers = workers;
    atomic_store(&team.pending, team.helpers);
    atomic_fetch_add(&team.generation, 1); /* sequentially consistent: publishes the region */
    if (atomic_load(&team.sleepers) > 0) {
        pthread_mutex_lock(&team.sleep_lock);
        pthread_cond_broadcast(&team.wake);
        pthread_mutex_unlock(&team.sleep_lock);
    }
    recast_blas_set_in_region(1);
    fn(ctx, 0);
    recast_blas_set_in_region(0);
    for (int spin = 0; atomic_load_explicit(&team.pending, memory_order_acquire) != 0; spin++) {
        if (spin < PATIENCE) relax(); else sched_yield();
    }
    pthread_mutex_unlock(&team.busy);
    return 0;
}
