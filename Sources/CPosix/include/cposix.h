#ifndef RECAST_CPOSIX_H
#define RECAST_CPOSIX_H

/// Atomically exchanges two paths (Linux renameat2 with RENAME_EXCHANGE). Returns 0, or -1 with errno set
/// (EINVAL or ENOSYS where the file system or kernel does not support it).
int recast_exchange_paths(const char *a, const char *b);

/// Renames `from` to `to` only if `to` does not exist (Linux renameat2 with RENAME_NOREPLACE), atomically,
/// for files and folders. Returns 0, or -1 with errno set: EEXIST when `to` exists; EINVAL or ENOSYS when
/// the file system or kernel cannot rename without replacing (the caller falls back, see AtomicOutput).
int recast_rename_noreplace(const char *from, const char *to);

#include <stddef.h>

/// Asks glibc's malloc to keep freed blocks of up to `bytes` for reuse: blocks below `bytes` come from the heap
/// rather than a fresh mapping, and up to twice `bytes` of free memory at the heap's top stays mapped. Without
/// it, every buffer above the dynamic mmap threshold (128 KiB to 32 MiB) is a new mapping whose pages fault and
/// are zeroed by the kernel on first touch. `bytes` is capped at 32 MiB, glibc's largest mmap threshold on
/// 64-bit. Does nothing outside glibc.
void recast_keep_freed_blocks(size_t bytes);

#endif
