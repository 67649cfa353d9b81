import Countersign

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Creates files that hold secrets: mode 0600 from the moment they exist, never replacing a file.
package enum SecretFile {
    /// Writes `contents` to a new file at `path` and flushes it to disk.
    ///
    /// - Throws: ``AuditError`` when the file exists or cannot be written.
    package static func create(_ path: String, contents: [UInt8]) throws {
        let descriptor = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else {
            throw AuditError.badKey("cannot create \(path) (errno \(errno))")
        }
        defer { close(descriptor) }
        var written = 0
        while written < contents.count {
            let result = contents.withUnsafeBytes { buffer in
                write(descriptor, buffer.baseAddress! + written, buffer.count - written)
            }
            guard result > 0 else { throw AuditError.badKey("cannot write \(path) (errno \(errno))") }
            written += result
        }
        guard fsync(descriptor) == 0 else { throw AuditError.badKey("cannot flush \(path) (errno \(errno))") }
    }
}
