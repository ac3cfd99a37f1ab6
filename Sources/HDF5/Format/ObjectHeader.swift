// IV.A Object headers: version 1 (8-byte aligned messages) and version 2 (`OHDR`, checksummed chunks,
// `OCHK` continuation chunks), flattened into the list of their messages.

/// One header message as stored: its type, flags and body (a view into the file).
struct RawMessage {
    var type: UInt16
    var flags: UInt8
    /// Absolute position of the body's first byte.
    var position: Int
    var body: UnsafeRawBufferPointer

    /// Message flag bit 1: the body is a shared-message reference, not the message itself.
    var isShared: Bool { flags & 0x02 != 0 }
    /// Message flag bit 7: a reader that does not know the type must fail.
    var failIfUnknown: Bool { flags & 0x80 != 0 }

    func cursor(in file: FileBytes) -> Cursor {
        Cursor(file: file, position: position, end: position + body.count)
    }
}

enum MessageType {
    static let null: UInt16 = 0x00
    static let dataspace: UInt16 = 0x01
    static let linkInfo: UInt16 = 0x02
    static let datatype: UInt16 = 0x03
    static let fillValueOld: UInt16 = 0x04
    static let fillValue: UInt16 = 0x05
    static let link: UInt16 = 0x06
    static let externalFiles: UInt16 = 0x07
    static let layout: UInt16 = 0x08
    static let bogus: UInt16 = 0x09
    static let groupInfo: UInt16 = 0x0A
    static let filterPipeline: UInt16 = 0x0B
    static let attribute: UInt16 = 0x0C
    static let comment: UInt16 = 0x0D
    static let modificationTimeOld: UInt16 = 0x0E
    static let sharedMessageTable: UInt16 = 0x0F
    static let continuation: UInt16 = 0x10
    static let symbolTable: UInt16 = 0x11
    static let modificationTime: UInt16 = 0x12
    static let btreeK: UInt16 = 0x13
    static let driverInfo: UInt16 = 0x14
    static let attributeInfo: UInt16 = 0x15
    static let referenceCount: UInt16 = 0x16

    /// The message types IV.A.2 allows to be shared.
    static let shareable: Set<UInt16> = [dataspace, datatype, fillValueOld, fillValue, filterPipeline, attribute]

    /// The message types this reader knows (decodes or deliberately ignores).
    static func isKnown(_ type: UInt16) -> Bool { type <= 0x18 }
}

enum ObjectHeader {
    /// Caps that keep a hostile header from making the walk unbounded.
    static let maximumChunks = 16_384
    static let maximumMessages = 1 << 20

    /// Every message of the object header at `address`, chunk 0 first, then the continuation chunks in
    /// the order the continuation messages name them. Null messages are dropped. Parsed once per file
    /// (many objects may refer to one header through shared messages).
    static func messages(at address: UInt64, in file: FileBytes) throws -> [RawMessage] {
        try header(at: address, in: file).messages
    }

    /// The object header at `address`, parsed once per file.
    static func header(at address: UInt64, in file: FileBytes) throws -> HeaderMessages {
        try file.state.headers.value(address) {
            let messages = try parse(at: address, in: file)
            // Version 1 chunks are not checksummed (`Lookup3.verify` charges version 2's): charge them here.
            let bytes = messages.reduce(0) { $0 &+ 8 &+ $1.body.count }
            try file.budget.chargeItem(bytes, "the object header at address \(address)")
            return HeaderMessages(messages)
        }
    }

    private static func parse(at address: UInt64, in file: FileBytes) throws -> [RawMessage] {
        let start = try file.position(of: address)
        var probe = try file.cursor(at: address)
        let first = try probe.u8()
        if first == 1 {
            return try readVersion1(at: address, start: start, in: file)
        }
        probe = try file.cursor(at: address)
        let signature = try probe.bytes(4)
        if signature.elementsEqual("OHDR".utf8) {
            return try readVersion2(at: address, start: start, in: file)
        }
        throw FormatError("no object header at address \(address): expected version 1 or the signature 'OHDR'", at: start)
    }

    private struct Continuation { var address: UInt64; var length: Int }

    private static func continuation(_ body: inout Cursor, file: FileBytes) throws -> Continuation {
        let at = body.position
        guard let address = try body.address() else {
            throw FormatError("an object header continuation message has an undefined address", at: at)
        }
        let length = try body.length(atMost: file.count, "an object header continuation length")
        return Continuation(address: address, length: length)
    }

    /// Adds `message` to the header's list and, when it is a continuation message, returns the chunk it
    /// leads to, refusing a chunk already visited (a cycle) and more chunks or messages than the caps.
    private static func record(_ message: RawMessage, in messages: inout [RawMessage], visited: inout Set<UInt64>,
                               chunks: Int, header address: UInt64, file: FileBytes) throws -> Continuation? {
        messages.append(message)
        guard messages.count <= maximumMessages else {
            throw FormatError("the object header at address \(address) has more than \(maximumMessages) messages", at: message.position)
        }
        guard message.type == MessageType.continuation else { return nil }
        var body = message.cursor(in: file)
        let next = try continuation(&body, file: file)
        guard visited.insert(next.address).inserted else {
            throw FormatError("the object header at address \(address) continues into address \(next.address) twice (a cycle)", at: message.position)
        }
        // A continuation chunk belongs to one header: many headers sharing one large chunk would make
        // each of them parse it again.
        if let owner = file.state.owners.claim(.continuation, next.address, for: address) {
            throw FormatError("the object header at address \(address) continues into the chunk at address \(next.address), which belongs to the object header at address \(owner)", at: message.position)
        }
        guard chunks < maximumChunks else {
            throw FormatError("the object header at address \(address) has more than \(maximumChunks) continuation chunks", at: message.position)
        }
        return next
    }

    // MARK: version 1

    private static func readVersion1(at address: UInt64, start: Int, in file: FileBytes) throws -> [RawMessage] {
        var cursor = try file.cursor(at: address)
        try cursor.skip(2)  // version, reserved
        _ = try cursor.u16()  // number of messages (not trusted: the chunks are walked instead)
        _ = try cursor.u32()  // reference count
        let sizeAt = cursor.position
        let size = Int(try cursor.u32())
        try cursor.skip(4)  // the header is padded to 16 bytes
        guard size <= cursor.remaining else {
            throw FormatError("the object header at address \(address) claims \(size) bytes of messages, past the end of the file", at: sizeAt)
        }
        var chunks = [(position: cursor.position, length: size)]
        var visited: Set<UInt64> = [address]
        var messages: [RawMessage] = []
        var index = 0
        while index < chunks.count {
            let chunk = chunks[index]
            index += 1
            var body = Cursor(file: file, position: chunk.position, end: chunk.position + chunk.length)
            while body.remaining >= 8 {
                let type = try body.u16()
                let length = Int(try body.u16())
                let flags = try body.u8()
                try body.skip(3)
                let bodyAt = body.position
                guard length <= body.remaining else {
                    throw FormatError("a message of type \(type) with \(length) bytes overruns its object header chunk (object header at address \(address))", at: bodyAt)
                }
                let view = try body.bytes(length)
                if body.remaining > 0 { try? body.align(8, from: chunk.position) }
                if type == MessageType.null { continue }
                let message = RawMessage(type: type, flags: flags, position: bodyAt, body: view)
                if let next = try record(message, in: &messages, visited: &visited, chunks: chunks.count, header: address, file: file) {
                    let position = try file.position(of: next.address)
                    _ = try file.cursor(at: next.address, count: next.length)
                    chunks.append((position, next.length))
                }
            }
        }
        return messages
    }

    // MARK: version 2

    private static func readVersion2(at address: UInt64, start: Int, in file: FileBytes) throws -> [RawMessage] {
        var cursor = try file.cursor(at: address)
        try cursor.skip(4)
        let versionAt = cursor.position
        let version = try cursor.u8()
        guard version == 2 else {
            throw FormatError("object header version \(version) at address \(address) is not supported (only 1 and 2)", at: versionAt)
        }
        let flags = try cursor.u8()
        if flags & 0x20 != 0 { try cursor.skip(16) }  // access, modification, change, birth times
        if flags & 0x10 != 0 { try cursor.skip(4) }  // maximum compact / minimum dense attribute counts
        let sizeAt = cursor.position
        let size64 = try cursor.uint(1 << Int(flags & 0x03))
        guard size64 <= UInt64(cursor.remaining) else {
            throw FormatError("the object header at address \(address) claims a first chunk of \(size64) bytes, past the end of the file", at: sizeAt)
        }
        let size = Int(size64)
        let messagesStart = cursor.position
        try Lookup3.verify(file, block: start, count: messagesStart + size - start,
                           what: "the object header at address \(address)")
        let tracksCreationOrder = flags & 0x04 != 0
        var chunks = [(position: messagesStart, length: size)]
        var visited: Set<UInt64> = [address]
        var messages: [RawMessage] = []
        var index = 0
        while index < chunks.count {
            let chunk = chunks[index]
            index += 1
            let headerSize = tracksCreationOrder ? 6 : 4
            var body = Cursor(file: file, position: chunk.position, end: chunk.position + chunk.length)
            while body.remaining >= headerSize {  // anything shorter is a gap
                let type = UInt16(try body.u8())
                let length = Int(try body.u16())
                let messageFlags = try body.u8()
                if tracksCreationOrder { try body.skip(2) }
                let bodyAt = body.position
                guard length <= body.remaining else {
                    throw FormatError("a message of type \(type) with \(length) bytes overruns its object header chunk (object header at address \(address))", at: bodyAt)
                }
                let view = try body.bytes(length)
                if type == MessageType.null { continue }
                let message = RawMessage(type: type, flags: messageFlags, position: bodyAt, body: view)
                if let next = try record(message, in: &messages, visited: &visited, chunks: chunks.count, header: address, file: file) {
                    guard next.length >= 8 else {
                        throw FormatError("an object header continuation chunk of \(next.length) bytes is too short for its signature and checksum", at: bodyAt)
                    }
                    var chunkCursor = try file.cursor(at: next.address, count: next.length)
                    let chunkStart = chunkCursor.position
                    try chunkCursor.expect(signature: "OCHK")
                    try Lookup3.verify(file, block: chunkStart, count: next.length - 4,
                                       what: "the object header continuation chunk at address \(next.address)")
                    chunks.append((chunkStart + 4, next.length - 8))
                }
            }
        }
        return messages
    }

    /// The message a shared-message reference (IV.A.2, "Shared Message") points to: supported when it is
    /// stored in another object header (a committed datatype, say); the shared message table is not.
    static func resolveShared(_ message: RawMessage, in file: FileBytes, depth: Int = 0) throws -> RawMessage {
        guard message.isShared else { return message }
        var reference = message.cursor(in: file)
        return try resolveSharedReference(&reference, type: message.type, in: file, depth: depth)
    }

    /// Follows the shared-message reference `reference` (which may read a copy of the bytes, such as a
    /// fractal heap object) to the message of `type` in another object header of `file`.
    static func resolveSharedReference(_ reference: inout Cursor, type: UInt16, in file: FileBytes, depth: Int = 0) throws -> RawMessage {
        let at = reference.position
        guard depth < 8 else {
            throw FormatError("shared messages refer to each other more than 8 levels deep", at: at)
        }
        let version = try reference.u8()
        let target: UInt64?
        switch version {
        case 1:
            try reference.skip(7)  // type, reserved
            _ = try reference.length()  // the local heap address of a stored symbol table entry; unused
            target = try reference.address()
        case 2, 3:
            let kind = try reference.u8()
            if kind == 1 {
                throw FormatError("a message of type \(type) is stored in the shared object header message table; shared message tables are not supported", at: at)
            }
            target = try reference.address()
        default:
            throw FormatError("shared message version \(version) is not supported (only 1 to 3)", at: at)
        }
        guard let target else {
            throw FormatError("a shared message of type \(type) points to an undefined address", at: at)
        }
        // Many objects may share one message (a committed datatype): each header is parsed once.
        guard let found = try header(at: target, in: file).firstOfType[type] else {
            throw FormatError("a shared message of type \(type) points to the object header at address \(target), which has no such message", at: at)
        }
        guard found.isShared else { return found }
        var next = found.cursor(in: file)
        return try resolveSharedReference(&next, type: type, in: file, depth: depth + 1)
    }
}
