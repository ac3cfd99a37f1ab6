#ifndef RECAST_CPOSIX_OUTPUT_H
#define RECAST_CPOSIX_OUTPUT_H

/// Starts the thread that turns SIGINT, SIGTERM and SIGHUP into a clean exit. Blocks the three signals in
/// the calling thread (so threads created afterwards inherit the block), starts a thread that unblocks them
/// and waits, and installs a handler that only records the signal and posts a semaphore (it may run in that
/// thread, or in a thread created before, such as a BLAS pool started when the library loaded). The waiting
/// thread then calls `cleanup(signal)` (where removing a folder tree is allowed, unlike in a signal handler)
/// and ends the process with `_exit(128 + signal)`. Signals the parent set to be ignored stay ignored.
/// Uses no file descriptor. Returns 0, or -1 with errno set. Call it once, first thing in `main`.
int recast_signals_start(void (*cleanup)(int signal));

#endif
