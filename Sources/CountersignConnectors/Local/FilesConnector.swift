public import Countersign
import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Executes the `files` operations under one workspace root.
///
/// Paths are relative to the root. Absolute paths, `~`, `..` components and symbolic links whose
/// target is outside the root are refused; files are never written through a symbolic link, and
/// writes go to a temporary file that is flushed and renamed into place.
public struct FilesConnector: Connector {
    public let name = "files"
    public let operations: [OperationDescriptor]
    /// The workspace root, with every symbolic link resolved.
    public let root: String
    /// The largest file `files.read` returns.
    public static let maximumReadBytes = 1_048_576
    /// The most entries `files.list` returns.
    public static let maximumListEntries = 10_000

    /// Creates the connector for an existing directory.
    ///
    /// - Throws: ``ConnectorError`` when the root does not exist or is not a directory.
    public init(root: String) throws(ConnectorError) {
        self.root = try Self.workspaceRoot(root)
        operations = try Self.compile(FilesOperations.descriptors)
    }

    public func execute(
        _ operation: OperationID,
        arguments: JSONValue,
        context: ExecutionContext
    ) async throws(ConnectorError)
        -> JSONValue
    {
        switch operation.name {
        case "read": return try read(arguments)
        case "list": return try list(arguments)
        case "write": return try write(arguments)
        case "append": return try append(arguments)
        case "delete": return try delete(arguments)
        default: throw .refused("files has no operation \(operation.name)")
        }
    }

    // MARK: - Operations

    func read(_ arguments: JSONValue) throws(ConnectorError) -> JSONValue {
        let relative = arguments["path"]?.stringValue ?? ""
        let path = try existing(relative)
        var info = stat()
        guard stat(path, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else {
            throw .refused("\"\(relative)\" is not a regular file")
        }
        guard Int(info.st_size) <= Self.maximumReadBytes else {
            throw .refused("\"\(relative)\" is larger than 1 MiB (\(info.st_size) bytes)")
        }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw .failed("cannot read \"\(relative)\"")
        }
        guard let text = String(validating: Array(data), as: UTF8.self) else {
            throw .refused("\"\(relative)\" is not UTF-8 text")
        }
        return ["path": .string(relative), "content": .string(text), "bytes": .number(Double(data.count))]
    }

    func list(_ arguments: JSONValue) throws(ConnectorError) -> JSONValue {
        let relative = arguments["path"]?.stringValue ?? "."
        let path = try existing(relative)
        guard Self.isDirectory(path) else { throw .refused("\"\(relative)\" is not a directory") }
        let recursive = arguments["recursive"]?.boolValue ?? false
        var entries: [JSONValue] = []
        var truncated = false
        var pending = [""]
        while let directory = pending.popLast() {
            let names: [String]
            do {
                names = try FileManager.default.contentsOfDirectory(
                    atPath: path + (directory.isEmpty ? "" : "/" + directory)
                )
                .sorted()
            } catch {
                throw .failed("cannot list \"\(relative)\"")
            }
            for name in names {
                guard entries.count < Self.maximumListEntries else {
                    truncated = true
                    break
                }
                let entryPath = directory.isEmpty ? name : directory + "/" + name
                var info = stat()
                guard lstat(path + "/" + entryPath, &info) == 0 else { continue }
                let type: String
                switch info.st_mode & S_IFMT {
                case S_IFDIR:
                    type = "directory"
                    if recursive { pending.append(entryPath) }
                case S_IFLNK: type = "symlink"
                case S_IFREG: type = "file"
                default: type = "other"
                }
                entries.append([
                    "path": .string(entryPath), "type": .string(type), "bytes": .number(Double(info.st_size)),
                ])
            }
        }
        return ["path": .string(relative), "entries": .array(entries), "truncated": .bool(truncated)]
    }

    func write(_ arguments: JSONValue) throws(ConnectorError) -> JSONValue {
        let relative = arguments["path"]?.stringValue ?? ""
        let content = Array((arguments["content"]?.stringValue ?? "").utf8)
        let overwrite = arguments["overwrite"]?.boolValue ?? false
        let path = try creatable(relative)
        var info = stat()
        let exists = lstat(path, &info) == 0
        if exists {
            guard (info.st_mode & S_IFMT) != S_IFLNK else {
                throw .refused("\"\(relative)\" is a symbolic link; it is not written through")
            }
            guard (info.st_mode & S_IFMT) == S_IFREG else {
                throw .refused("\"\(relative)\" exists and is not a regular file")
            }
            guard overwrite else { throw .conflict("\"\(relative)\" already exists; set overwrite to replace it") }
        }
        let temporary = path + ".countersign-\(UUID().uuidString.lowercased()).tmp"
        let descriptor = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else { throw .failed("cannot create \"\(relative)\"") }
        do {
            try Self.writeAll(descriptor, content, relative)
            close(descriptor)
        } catch {
            close(descriptor)
            unlink(temporary)
            throw error
        }
        guard rename(temporary, path) == 0 else {
            unlink(temporary)
            throw .failed("cannot move the new content into \"\(relative)\"")
        }
        return ["path": .string(relative), "bytes": .number(Double(content.count)), "created": .bool(!exists)]
    }

    func append(_ arguments: JSONValue) throws(ConnectorError) -> JSONValue {
        let relative = arguments["path"]?.stringValue ?? ""
        let content = Array((arguments["content"]?.stringValue ?? "").utf8)
        let path = try creatable(relative)
        let descriptor = open(path, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else {
            throw errno == ELOOP
                ? .refused("\"\(relative)\" is a symbolic link; it is not written through")
                : .failed("cannot open \"\(relative)\" for appending")
        }
        defer { close(descriptor) }
        var info = stat()
        guard fstat(descriptor, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else {
            throw .refused("\"\(relative)\" is not a regular file")
        }
        try Self.writeAll(descriptor, content, relative)
        return ["path": .string(relative), "bytesAppended": .number(Double(content.count))]
    }

    func delete(_ arguments: JSONValue) throws(ConnectorError) -> JSONValue {
        let relatives = arguments["paths"]?.arrayValue?.compactMap(\.stringValue) ?? []
        let recursive = arguments["recursive"]?.boolValue ?? false
        // Check every path before deleting any.
        var targets: [(relative: String, path: String)] = []
        for relative in relatives {
            let path = try creatable(relative)
            guard path != root else { throw .refused("the workspace root itself cannot be deleted") }
            var info = stat()
            guard lstat(path, &info) == 0 else {
                throw .notFound("\"\(relative)\" does not exist; nothing was deleted")
            }
            if (info.st_mode & S_IFMT) == S_IFDIR && !recursive {
                throw .refused("\"\(relative)\" is a directory; set recursive to delete it with its contents")
            }
            targets.append((relative, path))
        }
        var deleted: [JSONValue] = []
        for target in targets {
            do {
                try FileManager.default.removeItem(atPath: target.path)
            } catch {
                throw .failed("deleting \"\(target.relative)\" failed after \(deleted.count) of \(targets.count) paths")
            }
            deleted.append(.string(target.relative))
        }
        return ["deleted": .array(deleted)]
    }

    // MARK: - Paths

    /// Checks a relative path's text and joins it to the root.
    func joined(_ relative: String) throws(ConnectorError) -> String {
        guard !relative.isEmpty, !relative.utf8.contains(0) else {
            throw .refused("the path is empty or has a NUL byte")
        }
        guard !relative.hasPrefix("/"), !relative.hasPrefix("~") else {
            throw .refused("\"\(relative)\" is absolute; paths are relative to the workspace root")
        }
        let parts = relative.split(separator: "/").filter { $0 != "." }
        guard !parts.contains("..") else {
            throw .refused("\"\(relative)\" uses ..; paths must stay inside the workspace root")
        }
        return parts.isEmpty ? root : root + "/" + parts.joined(separator: "/")
    }

    /// The path of something that must exist, with symbolic links resolved, inside the root.
    func existing(_ relative: String) throws(ConnectorError) -> String {
        let path = try joined(relative)
        guard let resolved = Self.realPath(path) else { throw .notFound("\"\(relative)\" does not exist") }
        guard isInsideRoot(resolved) else {
            throw .refused("\"\(relative)\" resolves outside the workspace root (a symbolic link); refused")
        }
        return resolved
    }

    /// The path of something that may not exist yet: its parent directories are created inside the
    /// root, and the nearest existing ancestor must resolve inside the root.
    func creatable(_ relative: String) throws(ConnectorError) -> String {
        let path = try joined(relative)
        guard path != root else { return root }
        let parent = String(path[..<path.lastIndex(of: "/")!])
        var missing: [String] = []
        var ancestor = parent
        while Self.realPath(ancestor) == nil, ancestor.count > root.count {
            missing.append(ancestor)
            ancestor = String(ancestor[..<ancestor.lastIndex(of: "/")!])
        }
        guard let resolved = Self.realPath(ancestor), isInsideRoot(resolved), Self.isDirectory(resolved) else {
            throw .refused("\"\(relative)\" is under a path that resolves outside the workspace root; refused")
        }
        for directory in missing.reversed() {
            guard mkdir(directory, 0o755) == 0 || errno == EEXIST else {
                throw .failed("cannot create the directory for \"\(relative)\"")
            }
            guard let made = Self.realPath(directory), isInsideRoot(made) else {
                throw .refused("\"\(relative)\" resolves outside the workspace root; refused")
            }
        }
        return path
    }

    func isInsideRoot(_ resolved: String) -> Bool {
        resolved == root || resolved.hasPrefix(root == "/" ? "/" : root + "/")
    }

    /// Resolves a workspace root, which must be an existing directory.
    static func workspaceRoot(_ root: String) throws(ConnectorError) -> String {
        guard let resolved = realPath(root), isDirectory(resolved) else {
            throw .notFound("the workspace root \(root) does not exist or is not a directory")
        }
        return resolved
    }

    /// A connector's built-in descriptors; their schemas are literals, so a failure is a bug.
    static func compile(
        _ descriptors: () throws(SchemaError) -> [OperationDescriptor]
    ) throws(ConnectorError)
        -> [OperationDescriptor]
    {
        do {
            return try descriptors()
        } catch {
            throw .failed("a built-in operation schema does not compile: \(error)")
        }
    }

    static func realPath(_ path: String) -> String? {
        guard let resolved = realpath(path, nil) else { return nil }
        defer { free(resolved) }
        return String(cString: resolved)
    }

    static func isDirectory(_ path: String) -> Bool {
        var info = stat()
        return stat(path, &info) == 0 && (info.st_mode & S_IFMT) == S_IFDIR
    }

    static func writeAll(_ descriptor: Int32, _ bytes: [UInt8], _ relative: String) throws(ConnectorError) {
        var written = 0
        while written < bytes.count {
            let result = bytes.withUnsafeBytes { buffer in
                Glibc.write(descriptor, buffer.baseAddress! + written, buffer.count - written)
            }
            guard result > 0 else { throw .failed("writing \"\(relative)\" failed") }
            written += result
        }
        guard fsync(descriptor) == 0 else { throw .failed("flushing \"\(relative)\" to disk failed") }
    }
}
