// Group storage: III.A.1 version-1 B-trees, III.C symbol table nodes, III.D local heaps (old-style
// groups) and the dense links and attributes of new-style objects (fractal heap + version-2 B-tree).

/// III.A.1 Version 1 B-tree (`TREE`): node type 0 indexes a group's symbol table nodes, type 1 a
/// chunked dataset's chunks. Keys and children alternate: key 0, child 0, key 1, …, child n-1, key n.
enum V1BTree {
    /// Deeper trees are rejected; a real file never comes near this.
    static let maximumDepth = 64

    /// Calls `visit` for every leaf entry, in order, with a cursor at the entry's left key and the
    /// child address (a symbol table node for type 0, a chunk for type 1).
    /// Every node belongs to the tree whose root is `address`: a node another tree reached first (a
    /// copy of a tree's root sharing the original's nodes) is refused.
    static func walk(at address: UInt64, nodeType: UInt8, keySize: Int, in file: FileBytes,
                     visit: (inout Cursor, UInt64) throws -> Void) throws {
        var visited: Set<UInt64> = []
        try walkNode(at: address, root: address, nodeType: nodeType, keySize: keySize, expectedLevel: nil, depth: 0,
                     visited: &visited, in: file, visit: visit)
    }

    private static func walkNode(at address: UInt64, root: UInt64, nodeType: UInt8, keySize: Int, expectedLevel: UInt8?,
                                 depth: Int, visited: inout Set<UInt64>, in file: FileBytes,
                                 visit: (inout Cursor, UInt64) throws -> Void) throws {
        var cursor = try file.cursor(at: address)
        let start = cursor.position
        guard depth < maximumDepth else {
            throw FormatError("the version 1 B-tree is more than \(maximumDepth) levels deep", at: start)
        }
        guard visited.insert(address).inserted else {
            throw FormatError("the version 1 B-tree node at address \(address) is reached twice (a cycle)", at: start)
        }
        if let owner = file.state.owners.claim(.v1Node, address, for: root) {
            throw FormatError("the version 1 B-tree node at address \(address) belongs to the B-tree rooted at address \(owner), not to the one rooted at \(root)", at: start)
        }
        try cursor.expect(signature: "TREE")
        let type = try cursor.u8()
        guard type == nodeType else {
            throw FormatError("the version 1 B-tree node at address \(address) has type \(type) where type \(nodeType) was expected", at: start)
        }
        let level = try cursor.u8()
        if let expectedLevel, level != expectedLevel {
            throw FormatError("the version 1 B-tree node at address \(address) is at level \(level) where level \(expectedLevel) was expected", at: start)
        }
        let entries = Int(try cursor.u16())
        try cursor.skip(2 * file.offsetSize)  // left and right siblings
        let entrySize = keySize + file.offsetSize
        guard entries * entrySize + keySize <= cursor.remaining else {
            throw FormatError("the version 1 B-tree node at address \(address) has \(entries) entries, more than fit in the file", at: start)
        }
        try file.budget.charge(cursor.position - start + entries * (entrySize + WorkBudget.perItem) + keySize,
                               "the version 1 B-tree node at address \(address)")
        for _ in 0..<entries {
            var key = try cursor.sub(keySize)
            let childAt = cursor.position
            guard let child = try cursor.address() else {
                throw FormatError("the version 1 B-tree node at address \(address) has an undefined child address", at: childAt)
            }
            if level == 0 {
                try visit(&key, child)
            } else {
                try walkNode(at: child, root: root, nodeType: nodeType, keySize: keySize, expectedLevel: level - 1,
                             depth: depth + 1, visited: &visited, in: file, visit: visit)
            }
        }
    }

    /// Every chunk of a version-1 B-tree of type 1. Keys: chunk size (u32), filter mask (u32) and
    /// rank + 1 offsets of 8 bytes, the last being the element-size dimension (always 0).
    static func chunks(at address: UInt64, rank: Int, in file: FileBytes) throws -> [ChunkRecord] {
        guard rank >= 1, rank <= DataspaceMessage.maximumRank else {
            throw FormatError("a chunked dataset of rank \(rank)")
        }
        var records: [ChunkRecord] = []
        try walk(at: address, nodeType: 1, keySize: 8 + 8 * (rank + 1), in: file) { key, child in
            let size = try key.u32()
            let mask = try key.u32()
            var offsets: [UInt64] = []
            for _ in 0..<rank { offsets.append(try key.u64()) }
            records.append(ChunkRecord(offsets: offsets, address: child, storedSize: UInt64(size), filterMask: mask))
        }
        return records
    }
}

/// III.D Local heap (`HEAP`): the names of an old-style group's links.
struct LocalHeap {
    let file: FileBytes
    let dataAddress: UInt64
    let dataSize: Int

    init(at address: UInt64, in file: FileBytes) throws {
        var cursor = try file.cursor(at: address)
        let start = cursor.position
        try cursor.expect(signature: "HEAP")
        let version = try cursor.u8()
        guard version == 0 else { throw FormatError("local heap version \(version) is not supported (only 0)", at: start) }
        try cursor.skip(3)
        let size = try cursor.length(atMost: file.count, "the local heap's data segment size")
        _ = try cursor.length()  // free list head
        guard let data = try cursor.address() else {
            throw FormatError("the local heap at address \(address) has no data segment", at: start)
        }
        _ = try file.cursor(at: data, count: size)
        self.file = file
        self.dataAddress = data
        self.dataSize = size
    }

    /// The local heap at `address`, read once per file.
    static func at(_ address: UInt64, in file: FileBytes) throws -> LocalHeap {
        try file.state.localHeaps.value(address) {
            try file.budget.chargeItem(32, "the local heap at address \(address)")
            return try LocalHeap(at: address, in: file)
        }
    }

    /// The NUL-terminated string at `offset` in the data segment.
    func string(at offset: UInt64) throws -> String {
        guard offset < UInt64(dataSize) else {
            throw FormatError("a name at offset \(offset) lies outside the local heap's \(dataSize)-byte data segment")
        }
        var cursor = try file.cursor(at: dataAddress + offset, count: dataSize - Int(offset))
        let text = try cursor.cString(limit: min(dataSize, 1 << 16))
        try file.budget.charge(text.utf8.count + 1, "a name in the local heap at address \(dataAddress)")
        return text
    }
}

/// Old-style groups: symbol table message → B-tree (type 0) → symbol table nodes (`SNOD`, III.B).
enum SymbolTableGroup {
    static func links(_ table: SymbolTableMessage, in file: FileBytes) throws -> [HDF5Link] {
        let heap = try LocalHeap.at(table.heap, in: file)
        var links: [HDF5Link] = []
        var nodes: Set<UInt64> = []
        try V1BTree.walk(at: table.btree, nodeType: 0, keySize: file.lengthSize, in: file) { _, node in
            guard nodes.insert(node).inserted else {
                throw FormatError("the group's B-tree names the symbol table node at address \(node) twice")
            }
            try readNode(at: node, tree: table.btree, heap: heap, in: file, into: &links)
        }
        return links
    }

    private static func readNode(at address: UInt64, tree: UInt64, heap: LocalHeap, in file: FileBytes, into links: inout [HDF5Link]) throws {
        var cursor = try file.cursor(at: address)
        let start = cursor.position
        if let owner = file.state.owners.claim(.symbolNode, address, for: tree) {
            throw FormatError("the symbol table node at address \(address) belongs to the group whose B-tree is at address \(owner), not to the one at \(tree)", at: start)
        }
        try cursor.expect(signature: "SNOD")
        let version = try cursor.u8()
        guard version == 1 else { throw FormatError("symbol table node version \(version) is not supported (only 1)", at: start) }
        try cursor.skip(1)
        let count = Int(try cursor.u16())
        try file.budget.charge(8 + count * (file.offsetSize * 2 + 24 + WorkBudget.perItem), "the symbol table node at address \(address)")
        for _ in 0..<count {
            // III.C Symbol Table Entry.
            let entryAt = cursor.position
            let nameOffset = try cursor.uint(file.offsetSize)
            let objectAddress = try cursor.address()
            let cacheType = try cursor.u32()
            try cursor.skip(4)
            var scratch = try cursor.sub(16)
            let name = try heap.string(at: nameOffset)
            if cacheType == 2 {
                let valueOffset = try scratch.u32()
                links.append(HDF5Link(name: name, target: .soft(try heap.string(at: UInt64(valueOffset)))))
            } else {
                guard let objectAddress else {
                    throw FormatError("the symbol table entry '\(name)' has no object header address", at: entryAt)
                }
                links.append(HDF5Link(name: name, target: .hard(objectAddress)))
            }
        }
    }
}

/// Dense storage of a new-style object's links (v2 B-tree type 5) and attributes (type 8): each B-tree
/// record holds a fractal heap ID whose object is an encoded link or attribute message. The heap
/// objects are parsed where they lie in the file, without copies.
enum DenseStorage {
    /// The largest heap object accepted as one attribute message, and as one link message.
    static let maximumObjectSize = 1 << 26
    static let maximumLinkSize = 1 << 20

    /// A cursor over a heap object (a view into the file).
    private static func cursor(over object: UnsafeRawBufferPointer, in file: FileBytes) throws -> Cursor {
        let position = try file.position(ofView: object)
        return Cursor(file: file, position: position, end: position + object.count)
    }

    static func links(heap heapAddress: UInt64, index: UInt64, in file: FileBytes) throws -> [HDF5Link] {
        let heap = try FractalHeap.at(heapAddress, in: file)
        let tree = try V2BTree(at: index, in: file)
        guard tree.type == 5 else {
            throw FormatError("a group's link name index is a version 2 B-tree of type \(tree.type), not 5")
        }
        var links: [HDF5Link] = []
        for record in try tree.records() {
            guard record.count > 4 else { throw FormatError("a link name index record of \(record.count) bytes") }
            let idLength = heap.idLength >= 1 && heap.idLength < record.count - 4 ? heap.idLength : record.count - 4
            let id = UnsafeRawBufferPointer(rebasing: record[4..<(4 + idLength)])
            let object = try heap.object(id, limit: maximumLinkSize)
            try file.budget.chargeItem(object.count, "the links of the dense group whose name index is at address \(index)")
            var c = try cursor(over: object, in: file)
            links.append(try LinkMessage.decode(&c))
        }
        return links
    }

    /// The attributes of a dense storage, parsed once per file (their values stay views into the file).
    static func attributes(heap heapAddress: UInt64, index: UInt64, in file: FileBytes) throws -> [HDF5Attribute] {
        try file.state.denseAttributes.value([heapAddress, index]) {
            let heap = try FractalHeap.at(heapAddress, in: file)
            let tree = try V2BTree(at: index, in: file)
            guard tree.type == 8 else {
                throw FormatError("an object's attribute name index is a version 2 B-tree of type \(tree.type), not 8")
            }
            var attributes: [HDF5Attribute] = []
            for record in try tree.records() {
                guard record.count >= 9 else { throw FormatError("an attribute name index record of \(record.count) bytes") }
                if record[8] & 0x02 != 0 {
                    throw FormatError("an attribute stored in the shared object header message table; shared message tables are not supported")
                }
                let id = UnsafeRawBufferPointer(rebasing: record[0..<8])
                let object = try heap.object(id, limit: maximumObjectSize)
                var c = try cursor(over: object, in: file)
                attributes.append(try AttributeMessage.decode(&c, in: file))
            }
            return attributes
        }
    }
}
