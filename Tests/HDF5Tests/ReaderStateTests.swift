import Foundation
@testable import HDF5
import RecastCore
import Testing

/// The reader's shared state (work budget, owners, tables of parsed structures) lives exactly as long as
/// the file's reader: the fractal heaps and local heaps in its tables hold the file, and so the state,
/// so without emptying the tables each opened file leaked them (found by fuzz-hdf5 under LeakSanitizer).
@Suite("HDF5 reader state")
struct ReaderStateTests {
    @Test("the tables of parsed structures are released with the file's reader")
    func stateIsReleased() throws {
        let dir = try TemporaryDirectory()
        let path = dir.file("dense.h5")
        // Dense links and dense attributes (fractal heaps) and an old-style group (local heap).
        try python("""
            import sys, h5py, numpy as np
            with h5py.File(sys.argv[1], 'w', libver='latest') as f:
                for k in range(20):
                    f[f'g/d{k}'] = np.arange(3, dtype='f4')
                    f.attrs[f'a{k}'] = f'value {k}'
            """, [path])
        let mapping = try MappedFile(path: path)
        weak var state: ReadState?
        do {
            let document = try HDF5File(bytes: mapping.bytes)
            var walker = Walker(document: document)
            try walker.walk(root: try document.object(at: document.rootAddress))
            #expect(walker.entries.count == 20)
            #expect(try document.object(at: document.rootAddress).attributes().count == 20)
            #expect(document.file.state.fractalHeaps.count > 0)
            state = document.file.state
        }
        #expect(state == nil, "the reader's state outlived its file")
        _ = mapping
    }

    @Test("the work budget is proportional to the file's size and stops every later charge once spent")
    func budget() throws {
        let budget = WorkBudget(fileSize: 1000)
        #expect(budget.limit == 1000 * WorkBudget.perByte + WorkBudget.constant)
        try budget.charge(budget.limit, "everything")
        #expect(!budget.exhausted)
        #expect(throws: FormatError.self) { try budget.charge(1, "one more unit") }
        #expect(budget.exhausted)
        do {
            try budget.charge(0, "nothing")
            Issue.record("a charge after the budget ran out succeeded")
        } catch let error as FormatError {
            #expect(error.exhausted)
            #expect(error.reason.contains("reading one more unit"))
        }
    }
}
