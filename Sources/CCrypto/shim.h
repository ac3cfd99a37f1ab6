#ifndef RECAST_CCRYPTO_SHIM_H
#define RECAST_CCRYPTO_SHIM_H
// OpenSSL's libcrypto, for SHA-256 with the CPU's SHA extensions (provenance hashes of multi-GB files).
#include <openssl/evp.h>
#endif
