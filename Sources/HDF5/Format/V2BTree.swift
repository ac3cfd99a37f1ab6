// Version-2 B-trees (spec III.A.2): header `BTHD`, internal nodes `BTIN`, leaf nodes `BTLF`.
// Every node is checksummed (lookup3); records are fixed-size and returned as views into the file.

/// Version-2 B-tree (spec III.A.2): every record, in order, as raw bytes.
struct V2BTree {
    let file: FileBytes
    /// Address of the header.
    let address: UInt64
    /// Record type: 1–4 huge heap objects, 5/6 links, 8/9 attributes, 10/11 chunks.
    let type: UInt8
    let recordSize: Int
    let nodeSize: Int
    /// Levels below the root (0: the root is a leaf).
    let depth: Int
    let rootAddress: UInt64?
    let rootRecordCount: Int
    let totalRecordCount: UInt64
    /// Most records a node at each depth (index 0 = leaves) can hold.
    private let maxRecords: [Int]
    /// Width of the "total records below" field of pointers to a node at each depth.
    private let cumulativeCountSize: [Int]
    /// Width of the "records in child" field (sized for the leaf maximum).
    private let childCountSize: Int

    /// Signature + version + type + checksum, the fixed part of every node.
    private static let nodeOverhead = 10
    private static let maxDepth = 64

    /// Reads and checks the header (BTHD) at `address`.
    init(at address: UInt64, in file: FileBytes) throws {
        self.file = file
        self.address = address
        var cursor = try file.cursor(at: address)
        let start = cursor.position
        try cursor.expect(signature: "BTHD")
        let version = try cursor.u8()
        guard version == 0 else { throw FormatError("version-2 B-tree header version \(version) is not supported (only 0)", at: start) }
        type = try cursor.u8()
        let rawNodeSize = try cursor.u32()
        let rawRecordSize = try cursor.u16()
        let rawDepth = try cursor.u16()
        _ = try cursor.u8()  // split percent
        _ = try cursor.u8()  // merge percent
        rootAddress = try cursor.address()
        let rootCount = try cursor.u16()
        totalRecordCount = try cursor.length()
        try Lookup3.verify(file, block: start, count: cursor.position - start, what: "the version-2 B-tree header at address \(address)")

        guard rawRecordSize > 0 else { throw FormatError("the version-2 B-tree at address \(address) has records of 0 bytes", at: start) }
        guard UInt64(rawNodeSize) <= UInt64(file.count) else {
            throw FormatError("the version-2 B-tree at address \(address) has nodes of \(rawNodeSize) bytes, more than the file holds", at: start)
        }
        recordSize = Int(rawRecordSize)
        nodeSize = Int(rawNodeSize)
        guard nodeSize >= Self.nodeOverhead + recordSize else {
            throw FormatError("the version-2 B-tree at address \(address) has nodes of \(nodeSize) bytes, too small for one \(recordSize)-byte record", at: start)
        }
        guard Int(rawDepth) <= Self.maxDepth else {
            throw FormatError("the version-2 B-tree at address \(address) is \(rawDepth) levels deep; at most \(Self.maxDepth) are accepted", at: start)
        }
        depth = Int(rawDepth)
        rootRecordCount = Int(rootCount)

        // Node capacities per depth, as libhdf5 derives them from the node and record sizes.
        let leafMax = (nodeSize - Self.nodeOverhead) / recordSize
        let countSize = Checked.encodedSize(UInt64(leafMax))
        var maxima = [leafMax]
        var cumulative: [UInt64] = [UInt64(leafMax)]
        var cumulativeSizes = [0]
        var level = 1
        while level <= depth {
            let pointerSize = file.offsetSize + countSize + (level > 1 ? cumulativeSizes[level - 1] : 0)
            let room = nodeSize - Self.nodeOverhead - pointerSize
            let perNode = room > 0 ? room / (recordSize + pointerSize) : 0
            guard perNode > 0 else {
                throw FormatError("the version-2 B-tree at address \(address) has \(depth) levels but its \(nodeSize)-byte nodes cannot hold an internal node at level \(level)", at: start)
            }
            let below = cumulative[level - 1]
            let total = try Checked.add(try Checked.multiply(UInt64(perNode) + 1, below, "the record capacity of a version-2 B-tree", at: start),
                                        UInt64(perNode), "the record capacity of a version-2 B-tree", at: start)
            maxima.append(perNode)
            cumulative.append(total)
            cumulativeSizes.append(Checked.encodedSize(total))
            level += 1
        }
        maxRecords = maxima
        cumulativeCountSize = cumulativeSizes
        childCountSize = countSize
        guard rootRecordCount <= maxima[depth] else {
            throw FormatError("the version-2 B-tree at address \(address) says its root holds \(rootRecordCount) records but such a node holds at most \(maxima[depth])", at: start)
        }
    }

    /// Every record in key order, as views into the file, walking internal (BTIN) and leaf (BTLF) nodes.
    func records() throws -> [UnsafeRawBufferPointer] {
        guard let root = rootAddress, rootRecordCount > 0 || depth > 0 else { return [] }
        var walk = Walk(budget: file.count / max(nodeSize, 1) + 1)
        try walk.node(self, at: root, depth: depth, count: rootRecordCount)
        guard UInt64(walk.records.count) == totalRecordCount else {
            throw FormatError("the version-2 B-tree at address \(address) says it holds \(totalRecordCount) records but its nodes hold \(walk.records.count)")
        }
        return walk.records
    }

    private struct Walk {
        var records: [UnsafeRawBufferPointer] = []
        var visited: Set<UInt64> = []
        /// Nodes that can still be read: nodes do not overlap, so the file holds at most this many.
        var budget: Int

        mutating func node(_ tree: V2BTree, at address: UInt64, depth: Int, count: Int) throws {
            guard visited.insert(address).inserted else {
                throw FormatError("the version-2 B-tree at address \(tree.address) reaches its node at address \(address) twice")
            }
            guard budget > 0 else { throw FormatError("the version-2 B-tree at address \(tree.address) has more nodes than the file can hold") }
            budget -= 1
            // A node belongs to one tree: copies of a tree's header sharing its nodes are refused.
            if let owner = tree.file.state.owners.claim(.v2Node, address, for: tree.address) {
                throw FormatError("the version-2 B-tree node at address \(address) belongs to the B-tree at address \(owner), not to the one at \(tree.address)")
            }
            guard depth >= 0, depth < tree.maxRecords.count, count <= tree.maxRecords[depth] else {
                throw FormatError("a node of the version-2 B-tree at address \(tree.address) claims \(count) records, more than a node holds")
            }
            let file = tree.file
            var cursor = try file.cursor(at: address)
            let start = cursor.position
            try cursor.expect(signature: depth == 0 ? "BTLF" : "BTIN")
            let version = try cursor.u8()
            guard version == 0 else { throw FormatError("version-2 B-tree node version \(version) is not supported (only 0)", at: start) }
            let type = try cursor.u8()
            guard type == tree.type else {
                throw FormatError("a node of type \(type) in a version-2 B-tree of type \(tree.type)", at: start)
            }
            var nodeRecords: [UnsafeRawBufferPointer] = []
            nodeRecords.reserveCapacity(count)
            for _ in 0..<count { nodeRecords.append(try cursor.bytes(tree.recordSize)) }
            if depth == 0 {
                try Lookup3.verify(file, block: start, count: cursor.position - start, what: "the version-2 B-tree leaf node at address \(address)")
                records.append(contentsOf: nodeRecords)
                return
            }
            var children: [(address: UInt64, count: Int)] = []
            for _ in 0...count {
                let fieldStart = cursor.position
                guard let child = try cursor.address() else {
                    throw FormatError("a version-2 B-tree internal node points to an undefined child", at: fieldStart)
                }
                let childCount = try cursor.uint(tree.childCountSize)
                if depth > 1 { _ = try cursor.uint(tree.cumulativeCountSize[depth - 1]) }
                guard childCount <= UInt64(tree.maxRecords[depth - 1]) else {
                    throw FormatError("a version-2 B-tree child node is said to hold \(childCount) records; at most \(tree.maxRecords[depth - 1]) fit", at: fieldStart)
                }
                children.append((child, Int(childCount)))
            }
            try Lookup3.verify(file, block: start, count: cursor.position - start, what: "the version-2 B-tree internal node at address \(address)")
            for (k, child) in children.enumerated() {
                try node(tree, at: child.address, depth: depth - 1, count: child.count)
                if k < nodeRecords.count { records.append(nodeRecords[k]) }
            }
        }
    }
}
