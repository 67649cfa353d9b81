import Countersign
import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Reads a password: prompted twice without echo on a terminal, else the first line of standard input.
enum PasswordInput {
    static func read(for account: String) throws -> Secret {
        guard isatty(STDIN_FILENO) == 1 else {
            guard let line = Swift.readLine(strippingNewline: true) else {
                throw CommandError("no password on standard input")
            }
            return Secret(line)
        }
        let first = try prompt("Password for \(account): ")
        let second = try prompt("Again: ")
        guard first.reveal() == second.reveal() else { throw CommandError("the passwords do not match") }
        return first
    }

    /// Reads one secret: prompted once without echo on a terminal, else the first line of standard input.
    static func readOnce(_ label: String) throws -> Secret {
        guard isatty(STDIN_FILENO) == 1 else {
            guard let line = Swift.readLine(strippingNewline: true) else {
                throw CommandError("no \(label) on standard input")
            }
            return Secret(line)
        }
        return try prompt("\(label.prefix(1).uppercased() + label.dropFirst()): ")
    }

    private static func prompt(_ text: String) throws -> Secret {
        FileHandle.standardError.write(Data(text.utf8))
        var saved = termios()
        guard tcgetattr(STDIN_FILENO, &saved) == 0 else { throw CommandError("cannot read from the terminal") }
        var silent = saved
        silent.c_lflag &= ~tcflag_t(ECHO)
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &silent)
        defer {
            tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved)
            FileHandle.standardError.write(Data("\n".utf8))
        }
        guard let line = Swift.readLine(strippingNewline: true) else { throw CommandError("no password given") }
        return Secret(line)
    }
}
