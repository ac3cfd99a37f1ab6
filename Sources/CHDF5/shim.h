#ifndef RECAST_CHDF5_SHIM_H
#define RECAST_CHDF5_SHIM_H
#include <hdf5.h>
#endif
