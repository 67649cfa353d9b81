import ArgumentParser
import Countersign
import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

struct ApprovalsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "approvals",
        abstract: "Review, approve and deny requests on a Countersign server (with $COUNTERSIGN_TOKEN).",
        subcommands: [List.self, Show.self, Approve.self, Deny.self, Extend.self, Watch.self]
    )
}

/// Options of every approvals command.
struct ServerOptions: ParsableArguments {
    @Option(help: "The server (default: $COUNTERSIGN_SERVER, else http://127.0.0.1:8787).")
    var server: String?

    func client() throws -> APIClient { try APIClient(server: server) }
}

/// How requests are printed for approvers.
enum RequestText {
    static func age(_ value: JSONValue?, now: Date = Date()) -> String {
        guard let text = value?.stringValue, let date = Timestamp.date(text) else { return "?" }
        return duration(now.timeIntervalSince(date))
    }

    static func remaining(_ value: JSONValue?, now: Date = Date()) -> String {
        guard let text = value?.stringValue, let date = Timestamp.date(text) else { return "?" }
        let left = date.timeIntervalSince(now)
        return left <= 0 ? "expired" : "in " + duration(left)
    }

    static func duration(_ seconds: TimeInterval) -> String {
        let value = Int(seconds.rounded(.down))
        if value < 60 { return "\(max(0, value))s" }
        if value < 3600 { return "\(value / 60)m" }
        if value < 86400 { return "\(value / 3600)h\(value % 3600 / 60 == 0 ? "" : "\(value % 3600 / 60)m")" }
        return "\(value / 86400)d"
    }

    static func column(_ text: String, _ width: Int) -> String {
        let clipped = text.count > width - 1 ? String(text.prefix(width - 2)) + "…" : text
        return clipped.padding(toLength: width, withPad: " ", startingAt: 0)
    }

    static func header() -> String {
        column("ID", 38) + column("AGE", 6) + column("LEVEL", 10) + column("STATE", 14) + column("OPERATION", 32)
            + column("TARGET", 24) + column("AGENT", 14) + "EXPIRES"
    }

    static func row(_ request: JSONValue) -> String {
        column(request["id"]?.stringValue ?? "?", 38) + column(age(request["createdAt"]), 6)
            + column(request["risk"]?["level"]?.stringValue ?? "?", 10)
            + column(request["state"]?.stringValue ?? "?", 14)
            + column((request["operation"]?.stringValue ?? "?") + (request["sandbox"] != nil ? " [sandbox]" : ""), 32)
            + column(request["target"]?.stringValue ?? "-", 24) + column(request["agent"]?.stringValue ?? "?", 14)
            + (request["state"] == "pending" ? remaining(request["expiresAt"]) : "-")
    }

    /// Everything an approver must see before deciding.
    static func detail(_ request: JSONValue) -> String {
        var lines: [String] = []
        let state = request["state"]?.stringValue ?? "?"
        lines.append("\(request["operation"]?.stringValue ?? "?") · \(state) · \(request["id"]?.stringValue ?? "?")")
        if let sandbox = request["sandbox"]?.stringValue {
            lines.append(
                "  SANDBOX       runs against the \(sandbox) that ships with Countersign, not the real service"
            )
        }
        lines.append("  on behalf of  \(request["onBehalfOf"]?.stringValue ?? "?")")
        lines.append("  proposed by   agent \(request["agent"]?.stringValue ?? "?"), \(age(request["createdAt"])) ago")
        if let target = request["target"]?.stringValue { lines.append("  target        \(target)") }
        lines.append("  impact        \(request["impact"]?.stringValue ?? "?")")
        let scopes = request["scopes"]?.arrayValue?.compactMap(\.stringValue) ?? []
        lines.append("  token scopes  \(scopes.isEmpty ? "none" : scopes.joined(separator: ", "))")
        if let token = request["token"] {
            let name = token["displayName"]?.stringValue ?? token["provider"]?.stringValue ?? "?"
            let line: String =
                switch (token["source"]?.stringValue, token["broadSource"], token["narrowed"]) {
                case ("none", _, _): "\(name): no client registered, so no token can be vended"
                case (_, true, _):
                    "\(name) via the Auth0 Management API: a BROAD source; the token carries everything the account granted"
                case (let source?, _, true): "\(name) via \(source), narrowed to these scopes"
                case (let source?, _, _):
                    "\(name) via \(source); it cannot narrow, so the token carries every scope the account granted"
                default: name
                }
            lines.append("  token from    \(line)")
        }
        lines.append("  level         \(request["risk"]?["level"]?.stringValue ?? "?")")
        lines.append("  reasons")
        for reason in request["risk"]?["reasons"]?.arrayValue ?? [] {
            let source =
                reason["source"] == "blast_radius" ? "looked up at the provider:" : reason["source"]?.stringValue ?? "?"
            let name = reason["name"]?.stringValue ?? ""
            lines.append(
                "    [\(reason["level"]?.stringValue ?? "?")] \(reason["text"]?.stringValue ?? "")  (\(source)\(name.isEmpty ? "" : " \(name)"))"
            )
        }
        if let requirements = request["requirements"], request["decision"] == "ask" {
            var parts: [String] = []
            let approvals = Int(requirements["approvals"]?.numberValue ?? 1)
            let given = Int(request["approvals"]?["given"]?.numberValue ?? 0)
            parts.append("\(approvals) approver\(approvals == 1 ? "" : "s") (\(given) so far)")
            if let text = requirements["confirmText"]?.stringValue { parts.append("--confirm \"\(text)\"") }
            if requirements["stepUp"] == true { parts.append("step-up: --otp CODE") }
            if requirements["allowSelfApproval"] == false {
                parts.append("not by \(request["onBehalfOf"]?.stringValue ?? "the principal")")
            }
            lines.append("  requires      " + parts.joined(separator: " · "))
        }
        if state == "pending" {
            lines.append(
                "  expires       \(request["expiresAt"]?.stringValue ?? "?") (\(remaining(request["expiresAt"])))"
            )
        }
        if let reason = request["agentReason"]?.stringValue {
            lines.append("  agent says    \"\(reason)\"  (the agent's own words, not verified)")
        }
        for decision in request["decisions"]?.arrayValue ?? [] {
            var line =
                "  decision      \(decision["verdict"]?.stringValue ?? "?") by \(decision["approver"]?.stringValue ?? "?")"
            line +=
                " at \(decision["decidedAt"]?.stringValue ?? "?") (\(decision["authentication"]?.stringValue ?? "?"))"
            if let reason = decision["reason"]?.stringValue { line += ": \(reason)" }
            lines.append(line)
        }
        if let failure = request["failure"]?.stringValue { lines.append("  outcome       \(failure)") }
        if let result = request["result"] {
            lines.append("  result")
            lines.append(result.prettyPrinted().split(separator: "\n").map { "    " + $0 }.joined(separator: "\n"))
        }
        if let edited = request["edited"] {
            let changed = (edited["changed"]?.arrayValue ?? []).compactMap(\.stringValue).joined(separator: ", ")
            lines.append(
                "  edited        by \(edited["by"]?.stringValue ?? "?"): changed \(changed); the agent proposed"
            )
            let original = edited["originalArguments"] ?? .null
            lines.append(original.prettyPrinted().split(separator: "\n").map { "    " + $0 }.joined(separator: "\n"))
        }
        lines.append("  payload (digest \(request["digest"]?.stringValue ?? "?"))")
        let payload = request["arguments"] ?? .null
        lines.append(payload.prettyPrinted().split(separator: "\n").map { "    " + $0 }.joined(separator: "\n"))
        return lines.joined(separator: "\n")
    }
}

extension ApprovalsCommand {
    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List requests (pending by default).")

        @Option(help: "pending, all, or a comma-separated list of states.")
        var state = "pending"

        @Flag(help: "Print the JSON the server returned.")
        var json = false

        @OptionGroup var options: ServerOptions

        func run() async throws {
            let state = self.state.addingPercentEncoding(withAllowedCharacters: .urlQueryAllowed) ?? self.state
            let listed = try await options.client().get("/v1/approvals?state=\(state)")
            if json {
                print(listed.prettyPrinted())
                return
            }
            let requests = listed["requests"]?.arrayValue ?? []
            guard !requests.isEmpty else {
                print("no \(self.state == "all" ? "" : self.state + " ")requests")
                return
            }
            print(RequestText.header())
            for request in requests { print(RequestText.row(request)) }
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show a request: payload, scopes, impact, every risk reason, requirements, expiry."
        )

        @Argument(help: "The request's id.")
        var id: String

        @Flag(help: "Print the JSON the server returned.")
        var json = false

        @OptionGroup var options: ServerOptions

        func run() async throws {
            let request = try await options.client().get("/v1/approvals/\(try ApprovalsCommand.pathID(id))")
            print(json ? request.prettyPrinted() : RequestText.detail(request))
        }
    }

    struct Approve: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Approve a request, bound to the digest of the payload you reviewed.",
            discussion: """
                Without --digest the request is fetched and shown first, and the approval is bound to the \
                digest shown; with --digest, a request whose payload no longer has that digest is refused. \
                High requests need --confirm with the target's name; Critical ones need --otp with a fresh \
                code from your authenticator (each code works once). On a terminal, missing ones are asked for.
                """
        )

        @Argument(help: "The request's id.")
        var id: String

        @Option(help: "The confirmation text (the target's name), for High requests.")
        var confirm: String?

        @Option(help: "A one-time code from your authenticator, for step-up.")
        var otp: String?

        @Option(help: "The digest you reviewed (sha256:…); refused if the payload changed.")
        var digest: String?

        @OptionGroup var options: ServerOptions

        func run() async throws {
            let client = try options.client()
            let path = "/v1/approvals/\(try ApprovalsCommand.pathID(id))"
            let request = try await client.get(path)
            let current = request["digest"]?.stringValue ?? ""
            if let digest, digest != current {
                throw CommandError(
                    "refused: the payload's digest is \(current), not the \(digest) you reviewed; review it again"
                )
            }
            if digest == nil { print(RequestText.detail(request) + "\n") }
            let interactive = isatty(STDIN_FILENO) == 1
            var body: [String: JSONValue] = ["digest": .string(digest ?? current)]
            var confirm = self.confirm
            if confirm == nil, interactive, let text = request["requirements"]?["confirmText"]?.stringValue {
                confirm = ApprovalsCommand.ask("Type \"\(text)\" to confirm: ")
            }
            if let confirm { body["confirm"] = .string(confirm) }
            var otp = self.otp
            if otp == nil, interactive, request["requirements"]?["stepUp"] == true {
                otp = ApprovalsCommand.ask("Step-up: code from your authenticator: ")
            }
            if let otp { body["otp"] = .string(otp) }
            let decided = try await client.post(path + "/approve", .object(body))
            let state = decided["state"]?.stringValue ?? "?"
            if state == "pending" {
                let given = Int(decided["approvals"]?["given"]?.numberValue ?? 0)
                let required = Int(decided["approvals"]?["required"]?.numberValue ?? 0)
                print("approval recorded (\(given) of \(required)); it waits for another approver")
            } else {
                print("approved: \(decided["id"]?.stringValue ?? id) is \(state); Countersign executes it now")
            }
        }
    }

    struct Deny: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Deny a request; the agent receives the reason.")

        @Argument(help: "The request's id.")
        var id: String

        @Option(help: "Why; the agent receives it.")
        var reason: String

        @OptionGroup var options: ServerOptions

        func run() async throws {
            let decided = try await options.client().post(
                "/v1/approvals/\(try ApprovalsCommand.pathID(id))/deny",
                ["reason": .string(reason)]
            )
            print("denied: \(decided["id"]?.stringValue ?? id) is \(decided["state"]?.stringValue ?? "?")")
        }
    }

    struct Extend: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Give a pending request more time before it expires.")

        @Argument(help: "The request's id.")
        var id: String

        @Option(help: "Minutes to add (1 to 1440).")
        var minutes: Int

        @OptionGroup var options: ServerOptions

        func run() async throws {
            let extended = try await options.client().post(
                "/v1/approvals/\(try ApprovalsCommand.pathID(id))/extend",
                ["minutes": .number(Double(minutes))]
            )
            print(
                "extended: \(extended["id"]?.stringValue ?? id) now expires at \(extended["expiresAt"]?.stringValue ?? "?")"
            )
        }
    }

    struct Watch: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show pending requests, then every change as it happens (until interrupted)."
        )

        @OptionGroup var options: ServerOptions

        func run() async throws {
            let client = try options.client()
            Console.line(RequestText.header())
            try await client.events("/v1/approvals/events") { event, request in
                guard event == "request" else { return }
                Console.line(RequestText.row(request))
            }
        }
    }

    /// A request id, checked so that it cannot change the path it is put in.
    static func pathID(_ id: String) throws -> String {
        guard !id.isEmpty, id.count <= 64, id.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "-" }) else {
            throw ValidationError("\(id) is not a request id")
        }
        return id
    }

    static func ask(_ prompt: String) -> String? {
        FileHandle.standardError.write(Data(prompt.utf8))
        return Swift.readLine(strippingNewline: true).flatMap { $0.isEmpty ? nil : $0 }
    }
}
