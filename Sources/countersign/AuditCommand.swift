import ArgumentParser
import Countersign
import CountersignStore
import Foundation

struct AuditCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "audit",
        abstract: "Verify, read and export the tamper-evident audit log.",
        subcommands: [Verify.self, Tail.self, Export.self, Checkpoint.self]
    )

    /// Opens the store of an existing data directory.
    static func openStore(_ data: DataOptions) async throws -> (CountersignStorage, DataDirectory) {
        try await data.openStore(existing: true)
    }
}

extension AuditCommand {
    struct Verify: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Recompute the hash chain and check it against signed checkpoints.",
            discussion: """
                Detects an edited, deleted, reordered or inserted entry, and truncation behind the last
                checkpoint, and names the first bad sequence number. Exits 1 when the log fails.
                """
        )

        @OptionGroup var data: DataOptions

        @Option(help: "A checkpoint file (default: the data directory's audit-checkpoints.jsonl).")
        var checkpoint: String?

        @Option(help: "The checkpoint public key, as hex or a file (default: the data directory's key).")
        var publicKey: String?

        @Flag(help: "Report progress on standard error even when it is not a terminal.")
        var progress = false

        func run() async throws {
            let (store, directory) = try await AuditCommand.openStore(data)
            let checkpointPath = checkpoint ?? directory.checkpointsPath
            if checkpoint != nil && !FileManager.default.fileExists(atPath: checkpointPath) {
                throw ValidationError("cannot read the checkpoint file \(checkpointPath)")
            }
            let checkpoints = try CheckpointWriter.read(checkpointPath)
            var key: [UInt8]?
            if let publicKey {
                key = try DataDirectory.publicKey(from: publicKey)
            } else if !checkpoints.isEmpty {
                key = try DataDirectory.publicKey(from: directory.publicKeyPath)
            }
            let total = try await store.auditHead().size
            let showProgress = progress || isatty(STDERR_FILENO) == 1
            let started = Date()
            let result = try await store.verifyAudit(checkpoints: checkpoints, publicKey: key) { count in
                if showProgress {
                    let percent = total > 0 ? Int(Double(count) / Double(total) * 100) : 100
                    StandardError.write("verified \(count) of \(total) entries (\(percent)%)")
                }
            }
            let seconds = String(format: "%.2f", Date().timeIntervalSince(started))
            if let failure = result.failure {
                print("FAILED at entry \(failure.sequence): \(failure.problem)")
                print(
                    "\(result.entries) entries before it verified; checked \(result.checkpointsChecked) of \(checkpoints.count) checkpoints"
                )
                throw ExitCode(1)
            }
            print(
                "OK: \(plural(result.entries, "entry", "entries")) verified in \(seconds) s; head \(result.headHash); "
                    + "\(result.checkpointsChecked) of \(checkpoints.count) signed checkpoints matched"
            )
        }
    }

    struct Tail: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print the latest audit entries, one JSON object a line."
        )

        @OptionGroup var data: DataOptions

        @Option(name: [.customShort("n"), .long], help: "How many entries.")
        var count = 20

        @Flag(name: .shortAndLong, help: "Keep printing new entries as they are appended.")
        var follow = false

        func run() async throws {
            let (store, _) = try await AuditCommand.openStore(data)
            let size = try await store.auditHead().size
            var last = max(0, size - Int64(max(count, 0)))
            repeat {
                let entries = try await store.auditEntries(after: last, limit: 1000)
                for entry in entries { print(entry.text) }
                last = entries.last?.sequence ?? last
                if follow && entries.isEmpty { try await Task.sleep(for: .milliseconds(500)) }
            } while follow
        }
    }

    struct Export: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Export the whole audit log.",
            discussion: "jsonl: one entry a line, {seq, hash, prevHash, entry}, where entry is the exact hashed body."
        )

        enum Format: String, ExpressibleByArgument { case jsonl }

        @OptionGroup var data: DataOptions

        @Option(help: "The output format.")
        var format: Format = .jsonl

        @Option(name: .shortAndLong, help: "Write to this file instead of standard output.")
        var output: String?

        func run() async throws {
            let (store, _) = try await AuditCommand.openStore(data)
            var handle = FileHandle.standardOutput
            if let output {
                guard FileManager.default.createFile(atPath: output, contents: nil) else {
                    throw ValidationError("cannot create \(output)")
                }
                handle = try FileHandle(forWritingTo: URL(filePath: output))
            }
            var last: Int64 = 0
            while true {
                let entries = try await store.auditEntries(after: last, limit: 10_000)
                guard let final = entries.last else { break }
                var chunk = ""
                for entry in entries {
                    chunk += "{\"seq\":\(entry.sequence),\"hash\":\"\(Hex.encode(entry.hash))\","
                    chunk += "\"prevHash\":\"\(Hex.encode(entry.previousHash))\",\"entry\":\(entry.text)}\n"
                }
                handle.write(Data(chunk.utf8))
                last = final.sequence
            }
            if output != nil { try handle.close() }
        }
    }

    struct Checkpoint: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Sign the log's current head and append it to the checkpoint file.",
            discussion: "Copy the checkpoint file and the public key (audit-signing.pub) off the machine."
        )

        @OptionGroup var data: DataOptions

        @Option(help: "Keep running and sign at this interval (90s, 10m, 1h) whenever the log has grown.")
        var every: String?

        func validate() throws {
            if let every, DurationText.seconds(every) == nil {
                throw ValidationError("--every takes a duration such as 90s, 10m or 1h")
            }
        }

        func run() async throws {
            let (store, directory) = try await AuditCommand.openStore(data)
            let (signer, created) = try directory.loadOrCreateSigningKey()
            if created { Console.line("created the audit signing key \(directory.signingKeyPath)") }
            let writer = CheckpointWriter(store: store, signer: signer, path: directory.checkpointsPath)
            report(try await writer.checkpoint(now: Date()))
            guard let seconds = every.flatMap(DurationText.seconds) else { return }
            try await writer.run(
                every: .seconds(seconds),
                clock: ContinuousClock(),
                onTick: { checkpoint in if let checkpoint { report(checkpoint) } }
            )
        }
    }
}

/// `1 entry`, `2 entries`.
func plural(_ count: Int64, _ one: String, _ many: String) -> String { "\(count) \(count == 1 ? one : many)" }

/// Prints what a checkpoint run did, unbuffered, since `--every` runs until it is stopped.
func report(_ checkpoint: AuditCheckpoint?) {
    if let checkpoint {
        Console.line(
            "checkpoint: \(plural(checkpoint.treeSize, "entry", "entries")), head \(checkpoint.headHash), key \(checkpoint.keyID)"
        )
    } else {
        Console.line("no new entries since the last checkpoint")
    }
}
