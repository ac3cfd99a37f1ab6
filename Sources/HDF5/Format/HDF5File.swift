// The file model: the superblock, objects parsed from their headers, groups' links, attributes and
// dataset descriptions.

/// An HDF5 file opened for reading: its superblock, and its objects parsed on demand and cached.
/// Not thread-safe (the caches are plain dictionaries): use one instance per thread or serialize calls.
final class HDF5File {
    let file: FileBytes
    let rootAddress: UInt64
    let superblock: Superblock
    /// Objects already parsed, by header address (every one: the work budget bounds how many).
    private var objects: [UInt64: HDF5Object] = [:]

    /// Parses the superblock. `bytes` is the whole file (a read-only mapping the caller keeps alive).
    init(bytes: UnsafeRawBufferPointer) throws {
        let superblock = try Superblock.locate(in: bytes)
        var file = FileBytes(bytes)
        file.base = superblock.position
        file.offsetSize = superblock.offsetSize
        file.lengthSize = superblock.lengthSize
        self.file = file
        self.superblock = superblock
        self.rootAddress = superblock.rootAddress
    }

    deinit { file.state.clear() }

    /// The object whose header is at `address`, parsed (messages decoded). Cached.
    func object(at address: UInt64) throws -> HDF5Object {
        if let cached = objects[address] { return cached }
        var object = try HDF5Object(at: address, in: file)
        // A version 0/1 root group whose header lacks a symbol table message uses the superblock's cached one.
        if address == rootAddress, object.symbolTable == nil, object.linkInfo == nil,
           let cached = superblock.rootCachedSymbolTable, object.kind == .other {
            object.symbolTable = SymbolTableMessage(btree: cached.btree, heap: cached.heap)
            object.kind = .group
        }
        objects[address] = object
        return object
    }
}

/// One link of a group (IV.A.2.g Link Message, or a symbol table entry of an old-style group).
struct HDF5Link: Sendable {
    var name: String
    var target: Target
    enum Target: Sendable, Equatable {
        case hard(UInt64)
        case soft(String)
        case external(file: String, object: String)
        case userDefined(UInt8)
    }
}

/// What a dataset's header says: datatype, dataspace, layout, filters and fill value.
struct HDF5Dataset: @unchecked Sendable {
    // @unchecked: the views (compact data, fill value) point into the read-only mapping of the file,
    // which outlives every description; they are views rather than copies so that many objects
    // cannot multiply one large message in memory.
    var datatype: HDF5Datatype
    /// nil: null dataspace; []: scalar.
    var shape: [Int]?
    var storage: Storage
    var filters: [FilterDescription]
    /// One element, when defined (a view into the file).
    var fillValue: UnsafeRawBufferPointer?
    /// The data layout message's version (1 to 5). Version 5 (libhdf5 2.0, libver 'v200'/'latest') stores the
    /// size of each filtered chunk in the chunk index in a field of "size of lengths" bytes, where version
    /// 4 uses a width computed from the chunk's byte size. Addition to the agreed API, for the storage side.
    var layoutVersion: UInt8 = 0
    /// The dataset has an external file list message (its raw data lives in other files): reading it
    /// throws "not supported". Addition to the agreed API.
    var hasExternalFiles: Bool = false
    /// The dataspace's maximum dimensions (`UInt64.max` when unlimited); nil when the dataspace does not
    /// give them (the maximum is then the shape). Fixed arrays, extensible arrays and implicit indexes
    /// number their chunks by the maximum extent.
    var maximumShape: [UInt64]? = nil
    enum Storage: @unchecked Sendable {
        case contiguous(address: UInt64?, size: UInt64)
        case compact(UnsafeRawBufferPointer)
        case chunked(index: ChunkIndex, chunkDims: [UInt64])
        case virtual
    }
}

/// An object (group, dataset, named datatype) whose header has been parsed. Its messages stay views
/// into the file; links and attributes are decoded when asked for.
struct HDF5Object {
    let address: UInt64
    var kind: Kind
    enum Kind: Sendable { case group, dataset, namedDatatype, other }
    /// The dataset description; nil unless kind == .dataset.
    let dataset: HDF5Dataset?
    /// A named datatype's type; nil otherwise.
    let namedDatatype: HDF5Datatype?

    let file: FileBytes
    var symbolTable: SymbolTableMessage?
    let linkInfo: LinkInfoMessage?
    let linkMessages: [RawMessage]
    let attributeMessages: [RawMessage]
    let attributeInfo: AttributeInfoMessage?

    init(at address: UInt64, in file: FileBytes) throws {
        self.address = address
        self.file = file
        let messages = try ObjectHeader.messages(at: address, in: file)
        var symbolTable: SymbolTableMessage?
        var linkInfo: LinkInfoMessage?
        var attributeInfo: AttributeInfoMessage?
        var links: [RawMessage] = []
        var attributes: [RawMessage] = []
        var datatypeMessage: RawMessage?, dataspaceMessage: RawMessage?, layoutMessage: RawMessage?
        var fillMessage: RawMessage?, oldFillMessage: RawMessage?, pipelineMessage: RawMessage?
        var hasGroupInfo = false
        var hasExternalFiles = false
        for message in messages {
            // Only these types may be shared (IV.A.2): a shared layout, say, would let many objects
            // reuse one large message.
            if message.isShared, !MessageType.shareable.contains(message.type) {
                throw FormatError("the object header at address \(address) marks a message of type \(message.type) as shared, which that type cannot be", at: message.position)
            }
            switch message.type {
            case MessageType.symbolTable:
                var c = message.cursor(in: file)
                symbolTable = try SymbolTableMessage.decode(&c)
            case MessageType.linkInfo:
                var c = try ObjectHeader.resolveShared(message, in: file).cursor(in: file)
                linkInfo = try LinkInfoMessage.decode(&c)
            case MessageType.attributeInfo:
                var c = try ObjectHeader.resolveShared(message, in: file).cursor(in: file)
                attributeInfo = try AttributeInfoMessage.decode(&c)
            case MessageType.link: links.append(message)
            case MessageType.attribute: attributes.append(message)
            case MessageType.groupInfo: hasGroupInfo = true
            case MessageType.externalFiles: hasExternalFiles = true
            case MessageType.datatype: datatypeMessage = datatypeMessage ?? message
            case MessageType.dataspace: dataspaceMessage = dataspaceMessage ?? message
            case MessageType.layout: layoutMessage = layoutMessage ?? message
            case MessageType.fillValue: fillMessage = fillMessage ?? message
            case MessageType.fillValueOld: oldFillMessage = oldFillMessage ?? message
            case MessageType.filterPipeline: pipelineMessage = pipelineMessage ?? message
            default:
                if !MessageType.isKnown(message.type), message.failIfUnknown {
                    throw FormatError("the object header at address \(address) has a message of unknown type \(message.type) that readers must understand", at: message.position)
                }
            }
        }
        self.symbolTable = symbolTable
        self.linkInfo = linkInfo
        self.attributeInfo = attributeInfo
        self.linkMessages = links
        self.attributeMessages = attributes

        func decodeType(_ message: RawMessage) throws -> HDF5Datatype {
            try DatatypeDecoder.decode(message: try ObjectHeader.resolveShared(message, in: file), in: file)
        }

        if let layoutMessage {
            guard let datatypeMessage, let dataspaceMessage else {
                throw FormatError("the dataset at address \(address) lacks its \(datatypeMessage == nil ? "datatype" : "dataspace") message", at: layoutMessage.position)
            }
            let datatype = try decodeType(datatypeMessage)
            var spaceCursor = try ObjectHeader.resolveShared(dataspaceMessage, in: file).cursor(in: file)
            let (dims, maximum) = try DataspaceMessage.decodeWithMaximum(&spaceCursor)
            let shape = try dims.map { try $0.map { d -> Int in
                guard let v = Int(exactly: d) else {
                    throw FormatError("the dataset at address \(address) has a dimension of \(d)", at: dataspaceMessage.position)
                }
                return v
            } }
            var layoutCursor = try ObjectHeader.resolveShared(layoutMessage, in: file).cursor(in: file)
            let layout = try LayoutMessage.decode(&layoutCursor, rank: dims?.count ?? 0)
            if let elementSize = layout.chunkElementSize, elementSize != UInt64(datatype.size) {
                throw FormatError("the chunked layout of the dataset at address \(address) has elements of \(elementSize) bytes, but its datatype's are \(datatype.size)", at: layoutMessage.position)
            }
            var storage = layout.storage
            if layout.sizeUnknown, case .contiguous(let storageAddress, _) = storage {
                let elements = try DataspaceMessage.elementCount(dims, at: layoutMessage.position)
                let (bytes, overflow) = elements.multipliedReportingOverflow(by: UInt64(datatype.size))
                guard !overflow else {
                    throw FormatError("the dataset at address \(address) is too large", at: layoutMessage.position)
                }
                storage = .contiguous(address: storageAddress, size: bytes)
            }
            var filters: [FilterDescription] = []
            if let pipelineMessage {
                var c = try ObjectHeader.resolveShared(pipelineMessage, in: file).cursor(in: file)
                filters = try FilterPipelineMessage.decode(&c)
            }
            var fill: UnsafeRawBufferPointer?
            if let fillMessage {
                var c = try ObjectHeader.resolveShared(fillMessage, in: file).cursor(in: file)
                fill = try FillValueMessage.decode(&c)
            } else if let oldFillMessage {
                var c = try ObjectHeader.resolveShared(oldFillMessage, in: file).cursor(in: file)
                fill = try FillValueMessage.decodeOld(&c)
            }
            self.dataset = HDF5Dataset(datatype: datatype, shape: shape, storage: storage, filters: filters, fillValue: fill,
                                       layoutVersion: layout.version, hasExternalFiles: hasExternalFiles, maximumShape: maximum)
            self.namedDatatype = nil
            self.kind = .dataset
        } else if symbolTable != nil || linkInfo != nil || hasGroupInfo || !links.isEmpty {
            self.dataset = nil
            self.namedDatatype = nil
            self.kind = .group
        } else if let datatypeMessage {
            self.dataset = nil
            self.namedDatatype = try decodeType(datatypeMessage)
            self.kind = .namedDatatype
        } else {
            self.dataset = nil
            self.namedDatatype = nil
            self.kind = .other
        }
    }

    /// Where the group keeps its links when they are not in its own header: a symbol table (B-tree and
    /// local heap) or dense storage (fractal heap and name index).
    var linkStorage: [UInt64]? {
        if let symbolTable { return [0, symbolTable.btree, symbolTable.heap] }
        if let linkInfo, linkInfo.fractalHeap != nil || linkInfo.nameIndex != nil {
            return [1, linkInfo.fractalHeap ?? .max, linkInfo.nameIndex ?? .max]
        }
        return nil
    }

    /// The links of a group, in the order stored (the caller sorts); [] for non-groups. A link storage
    /// belongs to one group: another group's (a copy of its header pointing at the same storage) is
    /// refused, and each storage is listed once per file.
    func links() throws -> [HDF5Link] {
        guard kind == .group else { return [] }
        var result: [HDF5Link] = []
        if let storage = linkStorage {
            if let owner = file.state.owners.claim(.linkStorage, storage[1], for: address) {
                throw FormatError("the group at address \(address) lists its links in the storage at address \(storage[1]), which belongs to the object at address \(owner)")
            }
            result = try file.state.links.value(storage) {
                if let symbolTable { return try SymbolTableGroup.links(symbolTable, in: file) }
                guard let linkInfo, let heapAddress = linkInfo.fractalHeap else { return [] }
                guard let indexAddress = linkInfo.nameIndex else {
                    throw FormatError("the group at address \(address) has a fractal heap of links but no name index")
                }
                return try DenseStorage.links(heap: heapAddress, index: indexAddress, in: file)
            }
        }
        for message in linkMessages {
            try file.budget.chargeItem(message.body.count, "a link of the group at address \(address)")
            var c = message.cursor(in: file)
            result.append(try LinkMessage.decode(&c))
        }
        return result
    }

    /// All attributes, compact then dense: names, types and shapes decoded, values views into the file
    /// (decoded only when asked for, by `HDF5Attribute.strings` or `integers`). Each attribute message
    /// and each dense storage is parsed once per file; a dense storage belongs to one object.
    func attributes() throws -> [HDF5Attribute] {
        try file.state.objectAttributes.value(address) { try listAttributes() }
    }

    private func listAttributes() throws -> [HDF5Attribute] {
        var result: [HDF5Attribute] = []
        for message in attributeMessages {
            var c = try ObjectHeader.resolveShared(message, in: file).cursor(in: file)
            result.append(try AttributeMessage.decode(&c, in: file))
        }
        if let attributeInfo, let heapAddress = attributeInfo.fractalHeap {
            guard let indexAddress = attributeInfo.nameIndex else {
                throw FormatError("the object at address \(address) has a fractal heap of attributes but no name index")
            }
            if let owner = file.state.owners.claim(.attributeStorage, heapAddress, for: address) {
                throw FormatError("the object at address \(address) keeps its attributes in the storage at address \(heapAddress), which belongs to the object at address \(owner)")
            }
            result += try DenseStorage.attributes(heap: heapAddress, index: indexAddress, in: file)
        }
        try file.budget.charge(result.count, "the attributes of the object at address \(address)")
        return result
    }

    /// The first attribute called `name`, nil when there is none.
    func attribute(named name: String) throws -> HDF5Attribute? {
        try attributes().first { $0.name == name }
    }
}
