#ifndef RECAST_MAPGUARD_H
#define RECAST_MAPGUARD_H

#include <stddef.h>

/// A guard for read-only file mappings whose file may shrink while they are read.
///
/// Touching a page of a mapping beyond the end of its (truncated) file raises SIGBUS. Once a mapping is
/// registered, a SIGBUS inside it is absorbed: anonymous zero pages are mapped over the rest of the
/// mapping (MAP_FIXED), the registration is flagged as changed, and the faulting read resumes and
/// reads zeros. The reader checks the flag (`recast_guard_changed`) after each read and reports the
/// file as changed, so the zeros never reach a published output. A SIGBUS anywhere else goes on to the
/// handler that was installed before (or the default action, which ends the process).

/// Registers `size` bytes at `base` (a mapping made by the caller). Installs the SIGBUS handler on
/// first use. Returns a slot number, or -1 when every slot is taken or the handler cannot be installed.
int recast_guard_register(const void *base, size_t size);

/// Forgets a registration; call before unmapping.
void recast_guard_unregister(int slot);

/// 1 once a fault inside the registered mapping was absorbed, else 0.
int recast_guard_changed(int slot);

#endif
