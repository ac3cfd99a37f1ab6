import FuzzSupport
import RecastCore
import SafeTensors

/// The safetensors header parser and validator, from memory: the input is a whole file.
///
/// A parse must either throw a `CheckpointError` naming the file, or return a header whose promises
/// hold: tensors contiguous from the start of the data section to the end of the file, each span the
/// size its dtype and shape need, names unique. Every tensor is then decoded, and the header is
/// written back with `SafeTensorsHeader.encode`, which must parse to the same header.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzSafeTensorsHeader(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = UnsafeRawBufferPointer(start: data, count: size)
    let header: SafeTensorsHeader
    do {
        header = try SafeTensorsHeader.parse(bytes, file: "input.safetensors")
    } catch let error as CheckpointError {
        Fuzz.invariant(error.file == "input.safetensors", "the error does not name the file: \(error)")
        return 0
    } catch {
        Fuzz.invariant(false, "parse threw an unexpected \(type(of: error)): \(error)")
        return 0
    }
    check(header, bytes)
    roundTrip(header, bytes)
    return 0
}

func check(_ header: SafeTensorsHeader, _ bytes: UnsafeRawBufferPointer) {
    Fuzz.invariant(header.dataStart >= 8 && header.dataStart <= bytes.count, "data starts at \(header.dataStart) of \(bytes.count)")
    var expected = 0
    var names = Set<String>()
    for entry in header.entries {
        let info = entry.info, range = entry.dataRange
        Fuzz.invariant(!info.name.isEmpty && !info.name.utf8.contains(0), "name '\(info.name)' was accepted")
        Fuzz.invariant(names.insert(info.name).inserted, "tensor '\(info.name)' appears twice")
        Fuzz.invariant(range.lowerBound == expected, "tensor '\(info.name)' starts at \(range.lowerBound), not \(expected)")
        Fuzz.invariant(range.count == info.byteCount, "tensor '\(info.name)' spans \(range.count) bytes, lists \(info.byteCount)")
        Fuzz.invariant(TensorInfo(name: info.name, dtype: info.dtype, shape: info.shape)?.byteCount == info.byteCount,
                       "tensor '\(info.name)' spans \(info.byteCount) bytes for \(info.dtype.rawValue) \(info.shape)")
        expected = range.upperBound
        let start = header.dataStart + range.lowerBound
        Fuzz.invariant(start + range.count <= bytes.count, "tensor '\(info.name)' runs past the end of the input")
        Fuzz.decode(UnsafeRawBufferPointer(rebasing: bytes[start..<(start + range.count)]), info)
    }
    Fuzz.invariant(header.dataStart + expected == bytes.count, "tensor data ends at \(header.dataStart + expected) of \(bytes.count)")
}

/// Encodes the header again, followed by the same data section, and parses it: the writer's header
/// must be one the reader accepts and reads back to the same tensors and metadata.
func roundTrip(_ header: SafeTensorsHeader, _ bytes: UnsafeRawBufferPointer) {
    var file = SafeTensorsHeader.encode(header.entries.map(\.info), metadata: header.metadata)
    file.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[header.dataStart...]))
    file.withUnsafeBytes { again in
        do {
            let back = try SafeTensorsHeader.parse(again, file: "encoded.safetensors")
            Fuzz.invariant(back.entries == header.entries, "encode → parse changed the tensors")
            Fuzz.invariant(back.metadata.map(\.key) == header.metadata.map(\.key) && back.metadata.map(\.value) == header.metadata.map(\.value),
                           "encode → parse changed the metadata")
        } catch {
            Fuzz.invariant(false, "the reader refuses the header the writer made of an accepted one: \(error)")
        }
    }
}

// MARK: structure-aware mutation

let headerMutator = JSONMutator(
    keys: ["dtype", "shape", "data_offsets", "__metadata__", "t", "u", "format"],
    strings: DType.elementTypes.map(\.rawValue) + ["F32 ", "f32", "pt"])

/// Half the time: edit the header's JSON, then either lay the data offsets out again to fit the
/// (edited) dtypes and shapes, with the data section resized to match, or leave them as edited (for
/// the validator), sometimes resizing the data section. Otherwise libFuzzer's byte mutation.
@_cdecl("LLVMFuzzerCustomMutator")
public func mutateSafeTensors(_ data: UnsafeMutablePointer<UInt8>?, _ size: Int, _ maxSize: Int, _ seed: UInt32) -> Int {
    guard let data else { return 0 }
    var rng = SplitMix(seed: UInt64(seed) &* 0x1000_0000_01B3 &+ UInt64(size))
    let bytes = UnsafeRawBufferPointer(start: data, count: size)
    guard rng.below(2) == 0, size >= 8 else { return Fuzz.byteMutation(data, size, maxSize) }
    let declared = bytes.loadUnaligned(fromByteOffset: 0, as: UInt64.self).littleEndian
    guard declared <= UInt64(size - 8),
          var json = try? JSON.parse(UnsafeRawBufferPointer(rebasing: bytes[8..<(8 + Int(declared))])) else {
        return Fuzz.byteMutation(data, size, maxSize)
    }
    headerMutator.mutate(&json, &rng)
    var body = Array(bytes[(8 + Int(declared))...])
    if rng.below(3) == 0 {
        relayout(&json, &body, &rng)
    } else if rng.below(4) == 0 {
        let change = rng.below(17) - 8
        if change < 0 { body.removeLast(min(-change, body.count)) } else { body += (0..<change).map { _ in UInt8(truncatingIfNeeded: rng.next()) } }
    }
    var header = Array(json.serialized().utf8)
    if rng.below(2) == 0 { while (8 + header.count) % 8 != 0 { header.append(0x20) } }
    var out: [UInt8] = []
    withUnsafeBytes(of: UInt64(header.count).littleEndian) { out.append(contentsOf: $0) }
    return Fuzz.emit(out + header + body, data, size, maxSize)
}

/// Sets every tensor's `data_offsets` contiguously from its dtype and shape, and sizes the data section
/// to match (keeping its bytes, padding with random ones), so edited dtypes and shapes reach the decoders.
func relayout(_ json: inout JSON, _ body: inout [UInt8], _ rng: inout SplitMix) {
    guard case var .object(pairs) = json else { return }
    var offset = 0
    for k in pairs.indices where pairs[k].0 != "__metadata__" {
        guard case var .object(fields) = pairs[k].1,
              let code = pairs[k].1["dtype"]?.stringValue, let dtype = DType(code: code),
              let dims = pairs[k].1["shape"]?.arrayValue else { continue }
        let shape = dims.compactMap(\.intValue)
        guard shape.count == dims.count, let n = elementCount(of: shape), let bytes = dtype.byteCount(elements: n),
              bytes <= 1 << 16 else { continue }
        let offsets = JSON.array([.int(offset), .int(offset + bytes)])
        if let i = fields.firstIndex(where: { $0.0 == "data_offsets" }) { fields[i].1 = offsets } else { fields.append(("data_offsets", offsets)) }
        pairs[k].1 = .object(fields)
        offset += bytes
    }
    json = .object(pairs)
    if body.count > offset { body.removeLast(body.count - offset) }
    while body.count < offset { body.append(UInt8(truncatingIfNeeded: rng.next())) }
}
