#ifndef RECAST_CBLAS_SHIM_H
#define RECAST_CBLAS_SHIM_H
#include <cblas.h>
#endif
