#ifndef RECAST_FUZZ_LIBFUZZER_H
#define RECAST_FUZZ_LIBFUZZER_H
#include <stddef.h>
#include <stdint.h>

/**
 * libFuzzer's own byte-level mutator, callable from a custom mutator (LLVMFuzzerCustomMutator); defined
 * by the libFuzzer runtime that `-sanitize=fuzzer` links in. Mutates Data[0..Size) in place, returns
 * the new size (at most MaxSize).
 */
size_t LLVMFuzzerMutate(uint8_t *Data, size_t Size, size_t MaxSize);

#endif
