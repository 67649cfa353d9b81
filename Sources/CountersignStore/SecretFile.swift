import Countersign
import Foundation

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

    /// Reads a file that holds a secret, refusing one that anyone but its owner can read.
    ///
    /// - Returns: Its text, or `nil` when there is no such file.
    /// - Throws: A description of what is wrong: the file is readable by others (and how to fix
    ///   it), or it cannot be read.
    package static func readOwnerOnly(_ path: String) throws(SecretFileError) -> String? {
        var info = stat()
        guard stat(path, &info) == 0 else {
            if errno == ENOENT { return nil }
            throw SecretFileError("\(path) cannot be read (errno \(errno))")
        }
        let mode = Int(info.st_mode) & 0o777
        guard mode & 0o077 == 0 else {
            throw SecretFileError(
                "\(path) is readable by other users (mode \(String(mode, radix: 8))); run chmod 600 on it"
            )
        }
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw SecretFileError("\(path) cannot be read")
        }
        return text
    }
}

/// Why a secret file was refused.
package struct SecretFileError: Error, CustomStringConvertible {
    package let description: String

    init(_ description: String) { self.description = description }
}
