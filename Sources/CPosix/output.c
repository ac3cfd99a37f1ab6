#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>
#include <sys/syscall.h>
#include "cposix_output.h"

#ifndef RENAME_NOREPLACE
#define RENAME_NOREPLACE (1 << 0)
#endif

int recast_rename_noreplace(const char *from, const char *to) {
#ifdef SYS_renameat2
    return (int)syscall(SYS_renameat2, AT_FDCWD, from, AT_FDCWD, to, RENAME_NOREPLACE);
#else
    errno = ENOSYS;
    return -1;
#endif
}

static const int cleanup_signals[] = {SIGINT, SIGTERM, SIGHUP};
static int signal_pipe[2] = {-1, -1};
static void (*signal_cleanup)(int) = 0;

/// Async-signal-safe: one write(2) of the signal number; errno is preserved for the interrupted code.
static void forward_signal(int signo) {
    int saved = errno;
    unsigned char b = (unsigned char)signo;
    ssize_t n = write(signal_pipe[1], &b, 1);
    (void)n;  // A full pipe means a signal is already queued: nothing to add.
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
    unsigned char b = 0;
    for (;;) {
        ssize_t n = read(signal_pipe[0], &b, 1);
        if (n == 1) break;
        if (n < 0 && errno == EINTR) continue;
        return 0;  // The pipe is gone: nothing more to do (the process keeps the default behaviour it has now).
    }
    // Further signals during the clean-up only queue a byte in the pipe; the process ends here either way.
    if (signal_cleanup) signal_cleanup((int)b);
    _exit(128 + (int)b);
}

int recast_signals_start(void (*cleanup)(int)) {
    if (signal_pipe[0] >= 0) return 0;
    if (pipe(signal_pipe) != 0) return -1;
    for (int i = 0; i < 2; i++) {
        if (fcntl(signal_pipe[i], F_SETFD, FD_CLOEXEC) != 0) return -1;
    }
    // The handler must never block on a full pipe.
    int flags = fcntl(signal_pipe[1], F_GETFL);
    if (flags < 0 || fcntl(signal_pipe[1], F_SETFL, flags | O_NONBLOCK) != 0) return -1;
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
