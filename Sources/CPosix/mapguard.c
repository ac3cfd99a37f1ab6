#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include "mapguard.h"

// A fixed table, so that the handler reads it without locks or allocation (both unsafe in a signal
// handler). Writers take `table_lock`; the handler only loads atomics.
#define SLOTS 65536

struct slot {
    _Atomic uintptr_t base;  // 0 when free
    _Atomic size_t size;
    _Atomic int changed;
};

static struct slot slots[SLOTS];
static _Atomic int used;  // slots[0..<used] have ever been taken
static pthread_mutex_t table_lock = PTHREAD_MUTEX_INITIALIZER;
static struct sigaction previous;
static int installed;
static uintptr_t page_mask;

static void pass_on(int sig, siginfo_t *info, void *context) {
    if ((previous.sa_flags & SA_SIGINFO) && previous.sa_sigaction != NULL) {
        previous.sa_sigaction(sig, info, context);
        return;
    }
    if (previous.sa_handler != SIG_DFL && previous.sa_handler != SIG_IGN && previous.sa_handler != NULL) {
        previous.sa_handler(sig);
        return;
    }
    // The default action: a returning fault handler re-executes the access, which now ends the
    // process with SIGBUS; a SIGBUS sent by kill() is raised again and delivered on return.
    signal(SIGBUS, SIG_DFL);
    if (info == NULL || info->si_code <= 0) raise(SIGBUS);
}

static void on_sigbus(int sig, siginfo_t *info, void *context) {
    if (info != NULL && info->si_code > 0) {
        uintptr_t address = (uintptr_t)info->si_addr;
        int n = atomic_load(&used);
        for (int i = 0; i < n; i++) {
            uintptr_t base = atomic_load(&slots[i].base);
            size_t size = atomic_load(&slots[i].size);
            if (base == 0 || address < base || address - base >= size) continue;
            // Zero pages over the faulting page and everything after it in this mapping: once a file
            // is cut, every later page faults too, and one call keeps that from costing a signal a page.
            uintptr_t start = address & page_mask;
            size_t length = base + size - start;
            void *p = mmap((void *)start, length, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
            if (p == MAP_FAILED) break;
            atomic_store(&slots[i].changed, 1);
            return;
        }
    }
    pass_on(sig, info, context);
}

static int install(void) {
    if (installed) return 0;
    page_mask = ~((uintptr_t)sysconf(_SC_PAGESIZE) - 1);
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_sigaction = on_sigbus;
    action.sa_flags = SA_SIGINFO | SA_ONSTACK;
    sigemptyset(&action.sa_mask);
    if (sigaction(SIGBUS, &action, &previous) != 0) return -1;
    installed = 1;
    return 0;
}

int recast_guard_register(const void *base, size_t size) {
    if (base == NULL || size == 0) return -1;
    pthread_mutex_lock(&table_lock);
    int slot = -1;
    if (install() == 0) {
        int n = atomic_load(&used);
        for (int i = 0; i < n; i++) {
            if (atomic_load(&slots[i].base) == 0) { slot = i; break; }
        }
        if (slot < 0 && n < SLOTS) {
            slot = n;
            atomic_store(&used, n + 1);
        }
        if (slot >= 0) {
            atomic_store(&slots[slot].changed, 0);
            atomic_store(&slots[slot].size, size);
            atomic_store(&slots[slot].base, (uintptr_t)base);
        }
    }
    pthread_mutex_unlock(&table_lock);
    return slot;
}

void recast_guard_unregister(int slot) {
    if (slot < 0 || slot >= SLOTS) return;
    pthread_mutex_lock(&table_lock);
    atomic_store(&slots[slot].base, 0);
    atomic_store(&slots[slot].size, 0);
    pthread_mutex_unlock(&table_lock);
}

int recast_guard_changed(int slot) {
    if (slot < 0 || slot >= SLOTS) return 0;
    return atomic_load(&slots[slot].changed);
}
