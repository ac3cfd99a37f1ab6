import Dispatch
import Foundation
import Quantization
import RecastCore

/// A GGUF file as a `TensorStore`: llama.cpp's tensor names, GGML types as `DType`s (the quantised
/// ones handed out as their raw blocks, like any tensor's bytes), shapes outermost first, and the
/// metadata as text with long arrays summarised. `loadFloat32` dequantises.
extension GGUFFile: TensorStore {
    public var format: CheckpointFormat { .gguf }
    public var layout: String { "gguf" }
    public var files: [String] { [path] }

    /// Every metadata entry as text: a value, or for an array of more than eight elements its count
    /// and type (`tokenizer.ggml.tokens: 49,152 strings`).
    public var metadata: Metadata { header.metadata.map { ($0.key, $0.value.description) } }

    public var tensors: [TensorInfo] { header.tensors.map(\.tensorInfo) }

    public func info(named name: String) -> TensorInfo? { tensor(named: name)?.tensorInfo }

    /// The SHA-256 of the mapped file, without opening it again.
    public func sha256(of file: String) throws -> String {
        guard file == path else { return try SHA256.hex(file: file) }
        return try SHA256.hex(mapping: mapping)
    }

    /// The tensor as f32: element types widened, block-quantised types dequantised bit for bit as
    /// gguf-py does; a type Recast cannot decode is an error naming it.
    public func loadFloat32(_ name: String) throws -> [Float] {
        guard let t = tensor(named: name) else { throw CheckpointError.tensor(name, in: path, "not in this file") }
        guard t.type.isQuantized else { return try decodeFloat32(name) }
        guard t.type.canDequantize else {
            throw CheckpointError.tensor(name, in: path, "is \(t.type.rawValue), a GGML type Recast cannot dequantize")
        }
        let count = t.elementCount
        guard t.byteCount == t.type.byteCount(elements: count) else {
            throw CheckpointError.tensor(name, in: path, "holds \(t.byteCount) bytes, not whole \(t.type.rawValue) blocks for \(count) elements")
        }
        let need = MemoryNeed.product([count, MemoryLayout<Float>.stride])
        if let refusal = MemoryLimit.current().refusal(needing: need, for: "its \(count) values dequantised to f32") {
            throw CheckpointError.tensor(name, in: path, refusal)
        }
        // Large tensors are decoded in as many pieces as there are cores, each a whole number of blocks.
        let blocks = count / t.type.blockSize
        let pieces = count >= 1 << 20 ? max(1, min(ProcessInfo.processInfo.activeProcessorCount, 8)) : 1
        let perPiece = (blocks + pieces - 1) / pieces
        return try withBytes(of: name) { raw in
            let failures = FirstError()
            let values = [Float](unsafeUninitializedCapacity: count) { buffer, initialized in
                if let outPointer = buffer.baseAddress, let basePointer = raw.baseAddress {
                    // Each piece writes its own disjoint range of `out`.
                    nonisolated(unsafe) let out = outPointer, base = basePointer
                    DispatchQueue.concurrentPerform(iterations: pieces) { p in
                        let first = min(p * perPiece, blocks), last = min(first + perPiece, blocks)
                        guard last > first else { return }
                        let bytes = UnsafeRawBufferPointer(start: base + first * t.type.bytesPerBlock,
                                                           count: (last - first) * t.type.bytesPerBlock)
                        do {
                            try Dequantize.rows(type: t.type, bytes: bytes, count: (last - first) * t.type.blockSize,
                                                into: out + first * t.type.blockSize)
                        } catch {
                            failures.record(error)
                        }
                    }
                }
                initialized = count
            }
            if let e = failures.first as? QuantizationError { throw CheckpointError.tensor(name, in: path, e.description) }
            if let e = failures.first { throw e }
            return values
        }
    }
}

extension GGUFTensorInfo {
    /// The tensor as every store describes one: shape outermost first.
    public var tensorInfo: TensorInfo { TensorInfo(name: name, dtype: type, shape: shape, byteCount: byteCount) }
}

/// The first error thrown by concurrent pieces of work.
private final class FirstError: @unchecked Sendable {
    private let lock = NSLock()
    private var error: Error?

    func record(_ e: Error) {
        lock.lock()
        if error == nil { error = e }
        lock.unlock()
    }

    var first: Error? {
        lock.lock()
        defer { lock.unlock() }
        return error
    }
}
