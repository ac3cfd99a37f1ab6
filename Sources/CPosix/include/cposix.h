#ifndef RECAST_CPOSIX_H
#define RECAST_CPOSIX_H

/// Atomically exchanges two paths (Linux renameat2 with RENAME_EXCHANGE). Returns 0, or -1 with errno set
/// (EINVAL or ENOSYS where the file system or kernel does not support it).
int recast_exchange_paths(const char *a, const char *b);

#endif
