#ifndef RECAST_FUZZ_CHDF5_PROBE_H
#define RECAST_FUZZ_CHDF5_PROBE_H
#include <hdf5.h>

/** H5Fget_obj_count(H5F_OBJ_ALL, H5F_OBJ_ALL): identifiers of every kind still open in any file. */
static inline long recast_fuzz_open_objects(void) {
    return (long)H5Fget_obj_count((hid_t)H5F_OBJ_ALL, H5F_OBJ_ALL);
}

#endif
