#ifndef RECAST_CHDF5_SHIM_H
#define RECAST_CHDF5_SHIM_H
/*
 * The C edge of Recast's HDF5 module.
 *
 * Swift cannot import HDF5's object-like macros that expand to expressions (every H5T_NATIVE_* and
 * H5T_IEEE_* constant is `(H5OPEN H5T_..._g)`, H5P_DEFAULT is a cast), nor the versioned API macros
 * (H5Literate, H5Oget_info_by_name change signature between 1.10 and 1.12). Each wrapper below
 * names the C original it stands for; the Swift side sees plain functions and plain integers.
 */
#include <hdf5.h>
#include <stdint.h>
#include <string.h>

/* ---- identifiers and flags ---- */

/** H5P_DEFAULT */
static inline hid_t recast_H5P_DEFAULT(void) { return H5P_DEFAULT; }
/** H5S_ALL */
static inline hid_t recast_H5S_ALL(void) { return H5S_ALL; }
/** H5E_DEFAULT */
static inline hid_t recast_H5E_DEFAULT(void) { return H5E_DEFAULT; }
/** H5F_ACC_RDONLY */
static inline unsigned recast_H5F_ACC_RDONLY(void) { return H5F_ACC_RDONLY; }
/** H5F_ACC_TRUNC */
static inline unsigned recast_H5F_ACC_TRUNC(void) { return H5F_ACC_TRUNC; }
/** H5F_LIBVER_LATEST */
static inline H5F_libver_t recast_H5F_LIBVER_LATEST(void) { return H5F_LIBVER_LATEST; }
/** H5T_VARIABLE */
static inline size_t recast_H5T_VARIABLE(void) { return H5T_VARIABLE; }

/**
 * H5Pset_file_locking(fapl, 1, 1) where the library has it (1.10.7+, 1.12.1+): lock files as usual,
 * but do not fail on file systems that do not support locks (some network mounts).
 */
static inline herr_t recast_lock_unless_unsupported(hid_t fapl) {
#if H5_VERS_MAJOR > 1 || (H5_VERS_MAJOR == 1 && (H5_VERS_MINOR > 12 || (H5_VERS_MINOR == 12 && H5_VERS_RELEASE >= 1) || \
                                                 (H5_VERS_MINOR == 10 && H5_VERS_RELEASE >= 7)))
    return H5Pset_file_locking(fapl, 1, 1);
#else
    (void)fapl;
    return 0;
#endif
}

/**
 * H5Pset_file_locking(fapl, 0, 1) where the library has it: readers take no lock. A read-only open
 * needs none, and a lock held through a descriptor that a forked child inherited would otherwise
 * refuse the open.
 */
static inline herr_t recast_no_lock_for_reading(hid_t fapl) {
#if H5_VERS_MAJOR > 1 || (H5_VERS_MAJOR == 1 && (H5_VERS_MINOR > 12 || (H5_VERS_MINOR == 12 && H5_VERS_RELEASE >= 1) || \
                                                 (H5_VERS_MINOR == 10 && H5_VERS_RELEASE >= 7)))
    return H5Pset_file_locking(fapl, 0, 1);
#else
    (void)fapl;
    return 0;
#endif
}

/* ---- property list classes ---- */

/** H5P_FILE_ACCESS */
static inline hid_t recast_H5P_FILE_ACCESS(void) { return H5P_FILE_ACCESS; }
/** H5P_DATASET_CREATE */
static inline hid_t recast_H5P_DATASET_CREATE(void) { return H5P_DATASET_CREATE; }
/** H5P_LINK_CREATE */
static inline hid_t recast_H5P_LINK_CREATE(void) { return H5P_LINK_CREATE; }
/** H5P_ATTRIBUTE_CREATE */
static inline hid_t recast_H5P_ATTRIBUTE_CREATE(void) { return H5P_ATTRIBUTE_CREATE; }

/* ---- predefined datatypes (never closed) ---- */

static inline hid_t recast_H5T_IEEE_F32LE(void) { return H5T_IEEE_F32LE; }
static inline hid_t recast_H5T_IEEE_F64LE(void) { return H5T_IEEE_F64LE; }
static inline hid_t recast_H5T_STD_I8LE(void) { return H5T_STD_I8LE; }
static inline hid_t recast_H5T_STD_U8LE(void) { return H5T_STD_U8LE; }
static inline hid_t recast_H5T_STD_I16LE(void) { return H5T_STD_I16LE; }
static inline hid_t recast_H5T_STD_U16LE(void) { return H5T_STD_U16LE; }
static inline hid_t recast_H5T_STD_I32LE(void) { return H5T_STD_I32LE; }
static inline hid_t recast_H5T_STD_U32LE(void) { return H5T_STD_U32LE; }
static inline hid_t recast_H5T_STD_I64LE(void) { return H5T_STD_I64LE; }
static inline hid_t recast_H5T_STD_U64LE(void) { return H5T_STD_U64LE; }
/** H5T_NATIVE_INT8: the base type h5py gives its boolean enum. */
static inline hid_t recast_H5T_NATIVE_INT8(void) { return H5T_NATIVE_INT8; }
/** H5T_NATIVE_INT64: the memory type for integer attributes. */
static inline hid_t recast_H5T_NATIVE_INT64(void) { return H5T_NATIVE_INT64; }
/** H5T_C_S1 */
static inline hid_t recast_H5T_C_S1(void) { return H5T_C_S1; }

/* ---- version-independent link iteration ---- */

/** What a link points at, independent of the H5L_info_t / H5L_info2_t split. */
enum {
    RECAST_LINK_HARD = 0,
    RECAST_LINK_SOFT = 1,
    RECAST_LINK_EXTERNAL = 2,
    RECAST_LINK_OTHER = 3
};

/** Called once per link, in name order; return 0 to go on, non-zero to stop. */
typedef int (*recast_link_callback)(const char *name, int kind, size_t value_size, void *context);

typedef struct {
    recast_link_callback callback;
    void *context;
} recast_link_visit;

static inline int recast_link_kind(H5L_type_t type) {
    switch (type) {
    case H5L_TYPE_HARD: return RECAST_LINK_HARD;
    case H5L_TYPE_SOFT: return RECAST_LINK_SOFT;
    case H5L_TYPE_EXTERNAL: return RECAST_LINK_EXTERNAL;
    default: return RECAST_LINK_OTHER;
    }
}

#if H5_VERSION_GE(1, 12, 0)
static herr_t recast_link_trampoline(hid_t group, const char *name, const H5L_info2_t *info, void *data) {
    (void)group;
    recast_link_visit *visit = (recast_link_visit *)data;
    size_t size = info->type == H5L_TYPE_HARD ? 0 : info->u.val_size;
    return visit->callback(name, recast_link_kind(info->type), size, visit->context);
}
#else
static herr_t recast_link_trampoline(hid_t group, const char *name, const H5L_info_t *info, void *data) {
    (void)group;
    recast_link_visit *visit = (recast_link_visit *)data;
    size_t size = info->type == H5L_TYPE_HARD ? 0 : info->u.val_size;
    return visit->callback(name, recast_link_kind(info->type), size, visit->context);
}
#endif

/**
 * H5Literate (H5Literate2 from 1.12) over the links of `group` in the group's native order. Increasing
 * name order makes libhdf5 1.10.8 build a sorted table that crashed on 225 of 226 corrupt files under
 * fuzzing (native order: none); the caller sorts the names itself.
 */
static inline herr_t recast_iterate_links(hid_t group, recast_link_callback callback, void *context) {
    recast_link_visit visit = {callback, context};
    hsize_t index = 0;
#if H5_VERSION_GE(1, 12, 0)
    return H5Literate2(group, H5_INDEX_NAME, H5_ITER_NATIVE, &index, recast_link_trampoline, &visit);
#else
    return H5Literate(group, H5_INDEX_NAME, H5_ITER_NATIVE, &index, recast_link_trampoline, &visit);
#endif
}

/**
 * 1 when `dataset` is compact but its stored bytes are fewer than `needed`: libhdf5 1.10.8 reads past
 * such a (corrupt) message instead of failing. 0 otherwise, -1 on error.
 */
static inline int recast_compact_storage_is_short(hid_t dataset, hsize_t needed) {
    hid_t dcpl = H5Dget_create_plist(dataset);
    if (dcpl < 0) return -1;
    H5D_layout_t layout = H5Pget_layout(dcpl);
    H5Pclose(dcpl);
    if (layout < 0) return -1;
    if (layout != H5D_COMPACT) return 0;
    return H5Dget_storage_size(dataset) < needed ? 1 : 0;
}

/** Object kinds, independent of H5O_type_t's numbering. */
enum {
    RECAST_OBJECT_GROUP = 0,
    RECAST_OBJECT_DATASET = 1,
    RECAST_OBJECT_DATATYPE = 2,
    RECAST_OBJECT_OTHER = 3
};

/**
 * H5Oget_info_by_name (basic fields): the kind of the object a hard link names, and a 16-byte key
 * that is equal for two names of one object (the object address before 1.12, its token after).
 */
static inline herr_t recast_object_identity(hid_t loc, const char *name, int *kind, unsigned long *fileno,
                                            unsigned char key[16]) {
    memset(key, 0, 16);
#if H5_VERSION_GE(1, 12, 0)
    H5O_info2_t info;
    herr_t status = H5Oget_info_by_name3(loc, name, &info, H5O_INFO_BASIC, H5P_DEFAULT);
    if (status < 0) return status;
    memcpy(key, &info.token, sizeof(info.token) < 16 ? sizeof(info.token) : 16);
#else
    H5O_info_t info;
    herr_t status = H5Oget_info_by_name2(loc, name, &info, H5O_INFO_BASIC, H5P_DEFAULT);
    if (status < 0) return status;
    memcpy(key, &info.addr, sizeof(info.addr) < 16 ? sizeof(info.addr) : 16);
#endif
    *fileno = info.fileno;
    switch (info.type) {
    case H5O_TYPE_GROUP: *kind = RECAST_OBJECT_GROUP; break;
    case H5O_TYPE_DATASET: *kind = RECAST_OBJECT_DATASET; break;
    case H5O_TYPE_NAMED_DATATYPE: *kind = RECAST_OBJECT_DATATYPE; break;
    default: *kind = RECAST_OBJECT_OTHER; break;
    }
    return status;
}

/** H5Treclaim (H5Dvlen_reclaim before 1.12): frees what a variable-length read allocated. */
static inline herr_t recast_reclaim(hid_t type, hid_t space, void *buffer) {
#if H5_VERSION_GE(1, 12, 0)
    return H5Treclaim(type, space, H5P_DEFAULT, buffer);
#else
    return H5Dvlen_reclaim(type, space, H5P_DEFAULT, buffer);
#endif
}

/* ---- error stack ---- */

/** Called once per entry of the error stack, outermost (the API call) first. */
typedef void (*recast_error_callback)(const char *function, const char *description, const char *major,
                                      const char *minor, void *context);

typedef struct {
    recast_error_callback callback;
    void *context;
} recast_error_visit;

static herr_t recast_error_trampoline(unsigned n, const H5E_error2_t *error, void *data) {
    (void)n;
    recast_error_visit *visit = (recast_error_visit *)data;
    char major[160] = "", minor[160] = "";
    if (H5Eget_msg(error->maj_num, NULL, major, sizeof major) < 0) major[0] = 0;
    if (H5Eget_msg(error->min_num, NULL, minor, sizeof minor) < 0) minor[0] = 0;
    visit->callback(error->func_name ? error->func_name : "", error->desc ? error->desc : "", major, minor,
                    visit->context);
    return 0;
}

/**
 * H5Eget_current_stack then H5Ewalk2 over that copy: takes (and clears) the current thread's error
 * stack. Walking a copy keeps the H5Eget_msg calls in the trampoline from disturbing what is walked.
 */
static inline void recast_take_error_stack(recast_error_callback callback, void *context) {
    recast_error_visit visit = {callback, context};
    hid_t stack = H5Eget_current_stack();
    if (stack < 0) return;
    H5Ewalk2(stack, H5E_WALK_DOWNWARD, recast_error_trampoline, &visit);
    H5Eclose_stack(stack);
}

/** H5Eset_auto2(H5E_DEFAULT, NULL, NULL): stop HDF5 printing its error stack to stderr. */
static inline herr_t recast_silence_errors(void) { return H5Eset_auto2(H5E_DEFAULT, NULL, NULL); }

#endif
