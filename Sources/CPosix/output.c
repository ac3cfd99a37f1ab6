#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>
#include <sys/syscall.h>
#include "cposix_output.h"

static const int cleanup_signals[] = {SIGINT, SIGTERM, SIGHUP};
// The handler hands the signal to the clean-up thread through a semaphore: sem_post is
// async-signal-safe, and a semaphore costs no file descriptor (a process under `ulimit -n 8` needs them all).
static sem_t signal_posted;
static volatile sig_atomic_t signal_received = 0;
static int signals_started = 0;
static void (*signal_cleanup)(int) = 0;

static void forward_signal(int signo) {
    int saved = errno;
    if (signal_received == 0) signal_received = signo;
    sem_post(&signal_posted);
    errno = saved;
}

static void signal_set(sigset_t *set) {
    sigemptyset(set);
    for (size_t i = 0; i < sizeof cleanup_signals / sizeof cleanup_signals[0]; i++) sigaddset(set, cleanup_signals[i]);
}

static void *signal_thread(void *unused) {
    (void)unused;
    sigset_t set;
    signal_set(&set);
    // This thread is the one the kernel can deliver the signals to (every thread created after
    // recast_signals_start blocks them); a signal that was pending arrives here now.
    pthread_sigmask(SIG_UNBLOCK, &set, 0);
    while (sem_wait(&signal_posted) != 0) {
        if (errno != EINTR) return 0;  // Cannot wait: the signals keep the handler, which only posts.
    }
    int signo = signal_received;
    // Further signals during the clean-up only post again; the process ends here either way.
    if (signal_cleanup) signal_cleanup(signo);
    _exit(128 + signo);
}

int recast_signals_start(void (*cleanup)(int)) {
    if (signals_started) return 0;
    if (sem_init(&signal_posted, 0, 0) != 0) return -1;
    signals_started = 1;
    signal_cleanup = cleanup;

    sigset_t set;
    signal_set(&set);
    int err = pthread_sigmask(SIG_BLOCK, &set, 0);
    if (err != 0) { errno = err; return -1; }

    pthread_t thread;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    err = pthread_create(&thread, &attr, signal_thread, 0);
    pthread_attr_destroy(&attr);
    if (err != 0) {
        // No thread to hand the signals to: keep the default behaviour rather than block them for good.
        pthread_sigmask(SIG_UNBLOCK, &set, 0);
        errno = err;
        return -1;
    }

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = forward_signal;
    sa.sa_flags = SA_RESTART;
    sigfillset(&sa.sa_mask);
    for (size_t i = 0; i < sizeof cleanup_signals / sizeof cleanup_signals[0]; i++) {
        struct sigaction old;
        // A signal the parent set to be ignored (nohup, a background job) stays ignored.
        if (sigaction(cleanup_signals[i], 0, &old) == 0 && old.sa_handler == SIG_IGN) continue;
        if (sigaction(cleanup_signals[i], &sa, 0) != 0) return -1;
    }
    return 0;
}
