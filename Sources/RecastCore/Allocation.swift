import CPosix

/// How the C allocator treats the buffers Recast's arithmetic frees.
///
/// A forward pass allocates and frees buffers of a few megabytes per layer (activations, scores, BLAS
/// outputs). By default glibc maps each such buffer afresh and returns it to the kernel when freed, so every
/// layer pays page faults and the kernel's zeroing of new pages: about a tenth of a 512-token prefill of
/// SmolLM2-135M (`perf`: `exc_page_fault`, `clear_page`, `brk`). Keeping freed blocks for reuse removes that
/// cost without raising the peak (the same buffers are reused, layer after layer).
public enum Allocation {
    /// Freed blocks up to this size stay with malloc for reuse (and twice it at the heap's top).
    public static let reusedBlockLimit = 32 << 20

    private static let kept: Void = recast_keep_freed_blocks(reusedBlockLimit)

    /// Sets malloc up to keep freed blocks (once per process; later calls do nothing).
    public static func keepFreedBlocks() { _ = kept }
}
