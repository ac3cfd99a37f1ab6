import RecastCore

/// The format `torch.save(..., _use_new_zipfile_serialization=False)` writes: five pickles in a row
/// (magic number, protocol 1001, system info, the object, the list of storage keys), then each storage
/// in the order of that list as an int64 element count followed by its little-endian bytes.
struct LegacyTorchFile {
    /// The object the file holds.
    let root: PickleValue
    /// Where each storage's bytes lie in the file.
    let storages: [String: Range<Int>]

    /// The first bytes of every legacy file: PROTO 2, then LONG1 of 10 bytes (the magic number).
    static let signature: [UInt8] = [0x80, 0x02, 0x8A, 0x0A]
    /// 0x1950a86a20f9469cfc6c, little-endian.
    static let magic: [UInt8] = [0x6C, 0xFC, 0x9C, 0x46, 0xF9, 0x20, 0x6A, 0xA8, 0x50, 0x19]

    init(_ bytes: UnsafeRawBufferPointer, file: String, limits: PickleLimits = .standard) throws {
        let (magic, afterMagic) = try PickleMachine.run(bytes, from: 0, file: file, limits: limits)
        guard magic == .bigInt(Self.magic) else { throw CheckpointError(file: file, "does not start with torch's legacy magic number") }
        let (protocolVersion, afterProtocol) = try PickleMachine.run(bytes, from: afterMagic, file: file, limits: limits)
        guard protocolVersion == .int(1001) else {
            throw CheckpointError(file: file, offset: afterMagic, "has legacy protocol \(protocolVersion.scalarText ?? protocolVersion.kind); Recast reads 1001")
        }
        let (system, afterSystem) = try PickleMachine.run(bytes, from: afterProtocol, file: file, limits: limits)
        if let littleEndian = system["little_endian"], littleEndian != .bool(true) {
            throw CheckpointError(file: file, offset: afterProtocol, "was saved on a big-endian machine; Recast reads little-endian storages")
        }
        let (root, afterRoot) = try PickleMachine.run(bytes, from: afterSystem, file: file, limits: limits)
        let (keyList, afterKeys) = try PickleMachine.run(bytes, from: afterRoot, file: file, limits: limits)
        guard case .list(let keyValues) = keyList else {
            throw CheckpointError(file: file, offset: afterRoot, "has \(keyList.kind) where the list of storage keys should be")
        }
        var declared: [String: TorchStorageReference] = [:]
        try TorchStorageCatalog.collect(root, into: &declared, file: file)
        var storages: [String: Range<Int>] = [:]
        var offset = afterKeys
        for keyValue in keyValues {
            guard case .string(let key) = keyValue else {
                throw CheckpointError(file: file, offset: afterRoot, "lists \(keyValue.kind) as a storage key")
            }
            guard let ref = declared[key] else {
                throw CheckpointError(file: file, object: "storage '\(key)'", "is listed but no tensor uses it, so its element size is unknown")
            }
            guard offset <= bytes.count - 8 else {
                throw CheckpointError(file: file, object: "storage '\(key)'", offset: offset, "is cut short: the file ends before its element count")
            }
            var count: UInt64 = 0
            for i in (0..<8).reversed() { count = count << 8 | UInt64(bytes[offset + i]) }
            guard count == UInt64(ref.count), let size = ref.byteCount else {
                throw CheckpointError(file: file, object: "storage '\(key)'", offset: offset, "holds \(count) elements but the pickle declares \(ref.count)")
            }
            let start = offset + 8
            guard start <= bytes.count, size <= bytes.count - start else {
                throw CheckpointError(file: file, object: "storage '\(key)'", offset: start, "needs \(size) bytes but the file ends \(bytes.count - start) bytes later: it is truncated")
            }
            guard storages[key] == nil else { throw CheckpointError(file: file, object: "storage '\(key)'", "is listed twice") }
            storages[key] = start..<(start + size)
            offset = start + size
        }
        self.root = root
        self.storages = storages
    }
}
