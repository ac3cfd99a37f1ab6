import CCrypto

/// SHA-256 through OpenSSL's libcrypto, which uses the CPU's SHA extensions where present: the
/// provenance of a swapped model hashes every source byte, gigabytes of them.
public final class SHA256 {
    private let context: OpaquePointer?

    public init() {
        context = EVP_MD_CTX_new()
        EVP_DigestInit_ex(context, EVP_sha256(), nil)
    }

    deinit { EVP_MD_CTX_free(context) }

    public func update(_ data: UnsafeRawBufferPointer) {
        guard let base = data.baseAddress, data.count > 0 else { return }
        EVP_DigestUpdate(context, base, data.count)
    }

    public func update(_ bytes: [UInt8]) { bytes.withUnsafeBytes { update($0) } }

    /// The digest; the hasher must not be used afterwards.
    public func finalize() -> [UInt8] {
        var out = [UInt8](repeating: 0, count: 32)
        var length: UInt32 = 0
        out.withUnsafeMutableBufferPointer { _ = EVP_DigestFinal_ex(context, $0.baseAddress, &length) }
        return out
    }

    public static func hex(_ data: UnsafeRawBufferPointer) -> String {
        let s = SHA256()
        s.update(data)
        return hexString(s.finalize())
    }

    /// Hashes a file through a memory mapping, a piece at a time, dropping each piece once hashed.
    public static func hex(file path: String) throws -> String {
        try hex(mapping: try MappedFile(path: path))
    }

    /// Hashes a whole mapped file, a piece at a time, dropping each piece once hashed. Throws when the
    /// file changes meanwhile (checked after every piece, so a cut file stops the hash early).
    public static func hex(mapping m: MappedFile) throws -> String {
        let s = SHA256()
        var offset = 0
        let step = 1 << 24
        while offset < m.size {
            let end = min(offset + step, m.size)
            try m.reading {
                m.adviseSequential(offset..<end)
                s.update(m.view(offset..<end)!)
                m.release(offset..<end)
            }
            offset = end
        }
        try m.checkUnchanged()
        return hexString(s.finalize())
    }

    public static func hexString(_ bytes: [UInt8]) -> String {
        let digits = Array("0123456789abcdef")
        var out = ""
        for b in bytes { out.append(digits[Int(b >> 4)]); out.append(digits[Int(b & 15)]) }
        return out
    }
}
