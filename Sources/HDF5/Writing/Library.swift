import CHDF5

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// The one door to the C library. Every H5* call in this module goes through `Site.check`, which
// holds the library lock, turns a negative return into an `HDF5Error` carrying the file, the HDF5
// object and HDF5's error stack, and keeps HDF5 from printing that stack itself.

enum Library {
    static let lock = RecursiveLock()

    /// Runs `body` holding the library lock. The outermost entry also switches off HDF5's automatic
    /// error printing, which thread-safe builds keep per thread.
    static func locked<R>(_ body: () throws -> R) rethrows -> R {
        lock.lock()
        defer {
            lock.depth -= 1
            lock.unlock()
        }
        if lock.depth == 0 { _ = recast_silence_errors() }
        lock.depth += 1
        return try body()
    }

    /// Takes the calling thread's HDF5 error stack (clearing it) as `function: message` lines,
    /// the API call first.
    static func takeErrorStack() -> [String] {
        var lines: [String] = []
        withUnsafeMutablePointer(to: &lines) { pointer in
            recast_take_error_stack({ function, description, _, minor, context in
                guard let context else { return }
                let function = function.map { String(cString: $0) } ?? ""
                var message = description.map { String(cString: $0) } ?? ""
                let detail = minor.map { String(cString: $0) } ?? ""
                if message.isEmpty { message = detail }
                let lines = context.assumingMemoryBound(to: [String].self)
                lines.pointee.append(function.isEmpty ? message : "\(function): \(message)")
            }, pointer)
        }
        return lines
    }

    // Names for C constants that Swift cannot import.

    /// `H5P_DEFAULT`
    static var defaultList: hid_t { recast_H5P_DEFAULT() }
    /// `H5S_ALL`
    static var allOfSpace: hid_t { recast_H5S_ALL() }
}

extension Site {
    /// Calls `call` under the library lock and returns its result, or throws an `HDF5Error`
    /// with HDF5's error stack when the result is negative.
    @discardableResult
    func check<T: BinaryInteger>(_ operation: @autoclosure () -> String, _ call: () throws -> T) throws -> T {
        try Library.locked {
            let result = try call()
            if result < 0 {
                throw HDF5Error(file: file, object: object, operation: operation(), stack: Library.takeErrorStack())
            }
            return result
        }
    }
}

// MARK: owners

/// An open file. `close()` reports a failed final flush; `deinit` closes quietly if it was not called.
final class FileHandle {
    let id: hid_t
    let site: Site
    private var isOpen = true

    init(_ id: hid_t, site: Site) {
        self.id = id
        self.site = site
    }

    func close() throws {
        guard isOpen else { return }
        isOpen = false
        try site.check("closing the file") { H5Fclose(id) }
    }

    deinit { if isOpen { Library.locked { _ = H5Fclose(id) } } }
}

/// An open dataset; `H5Dclose` in `deinit`.
final class DatasetHandle {
    let id: hid_t
    init(_ id: hid_t) { self.id = id }
    deinit { Library.locked { _ = H5Dclose(id) } }
}

/// A datatype. Predefined types (`H5T_IEEE_F32LE`, …) belong to the library and are never closed;
/// every other one is closed with `H5Tclose` in `deinit`.
final class TypeHandle {
    let id: hid_t
    private let owned: Bool
    init(_ id: hid_t) {
        self.id = id
        owned = true
    }
    init(predefined id: hid_t) {
        self.id = id
        owned = false
    }
    deinit { if owned { Library.locked { _ = H5Tclose(id) } } }
}

/// A dataspace; `H5Sclose` in `deinit`.
final class SpaceHandle {
    let id: hid_t
    init(_ id: hid_t) { self.id = id }
    deinit { Library.locked { _ = H5Sclose(id) } }
}

/// An open attribute; `H5Aclose` in `deinit`.
final class AttributeHandle {
    let id: hid_t
    init(_ id: hid_t) { self.id = id }
    deinit { Library.locked { _ = H5Aclose(id) } }
}

/// A property list; `H5Pclose` in `deinit`.
final class PropertyListHandle {
    let id: hid_t
    init(_ id: hid_t) { self.id = id }
    deinit { Library.locked { _ = H5Pclose(id) } }
}

// MARK: checked calls that hand back owners

extension Site {
    func copyType(_ type: hid_t) throws -> TypeHandle {
        TypeHandle(try check("copying a datatype") { H5Tcopy(type) })
    }

    func createPropertyList(_ listClass: hid_t, _ what: String) throws -> PropertyListHandle {
        PropertyListHandle(try check("creating the \(what) property list") { H5Pcreate(listClass) })
    }

    /// A scalar dataspace for `[]`, otherwise a simple one with `shape`.
    func createSpace(_ shape: [Int]) throws -> SpaceHandle {
        if shape.isEmpty {
            return SpaceHandle(try check("creating a scalar dataspace") { H5Screate(H5S_SCALAR) })
        }
        let dims = shape.map { hsize_t($0) }
        return SpaceHandle(try check("creating a dataspace") { H5Screate_simple(Int32(dims.count), dims, nil) })
    }
}
