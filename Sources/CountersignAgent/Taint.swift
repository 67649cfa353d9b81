public import Countersign
import Foundation

/// The prompt-injection path that ends in exfiltration.
///
/// Once a run has read content that someone else wrote (a web page fetched with `http.request`, an
/// email read with `gmail.read_message`, an issue and its comments read with `github.read_issue`),
/// whatever the planner proposes next may follow instructions hidden in it. A later step that sends
/// something outside the principal's organisation (mail to other domains, a new host, a repository
/// made public, a post in a public repository or in a Slack channel shared with other
/// organisations) is then raised to Critical (a fresh authentication of the approver) with the
/// reason "follows untrusted input read at step N", whatever the model says about it.
public enum Taint {
    /// Operations whose result is content written by others.
    public static let untrustedReads: Set<String> = ["http.request", "gmail.read_message", "github.read_issue"]

    /// The level a step that reaches outside after an untrusted read is raised to.
    public static let level = RiskLevel.critical

    /// The signal for a step about to be proposed, if the run read untrusted input before it (an
    /// earlier step of those operations that executed) and the step reaches outside.
    public static func signal(for step: RunStep, in run: Run) -> RiskReason? {
        guard let read = untrustedRead(before: step, in: run) else { return nil }
        let earlier = run.steps.filter { $0.index < step.index && $0.state == .executed }
        let hosts = Set(earlier.filter { $0.operation.description == "http.request" }.compactMap { host($0.arguments) })
        guard let reach = egress(step.operation, step.arguments, principal: run.principal, knownHosts: hosts) else {
            return nil
        }
        return RiskReason(
            source: .signal,
            name: "taint",
            level: level,
            text: "follows untrusted input read at step \(read.index) (\(read.operation)), and \(reach)"
        )
    }

    /// For a step after an untrusted read: the signal it gets if it publishes where people outside
    /// the organisation read it (the gateway looks the audience up: a public repository, a Slack
    /// channel shared with other organisations), given the audience in words.
    public static func publishing(for step: RunStep, in run: Run) -> (@Sendable (String) -> RiskReason)? {
        guard let read = untrustedRead(before: step, in: run) else { return nil }
        let source = "follows untrusted input read at step \(read.index) (\(read.operation))"
        return { audience in
            RiskReason(source: .signal, name: "taint", level: level, text: "\(source), and \(audience)")
        }
    }

    /// The first executed step before `step` that read content written by others.
    static func untrustedRead(before step: RunStep, in run: Run) -> RunStep? {
        run.steps.first {
            $0.index < step.index && $0.state == .executed && untrustedReads.contains($0.operation.description)
        }
    }

    /// How an action reaches outside the principal's organisation.
    ///
    /// - Parameters:
    ///   - operation: The action's operation.
    ///   - arguments: Its arguments.
    ///   - principal: On whose behalf it is taken (their domain is the organisation's).
    ///   - knownHosts: Hosts the run has already called: calling them again is not new.
    /// - Returns: The words for it, or `nil` when it does not reach outside (or it cannot be told
    ///   from the arguments).
    public static func egress(
        _ operation: OperationID,
        _ arguments: JSONValue,
        principal: String,
        knownHosts: Set<String>
    ) -> String? {
        let home = domain(principal)
        func outside(_ keys: [String]) -> [String] {
            keys.flatMap { (arguments[$0]?.arrayValue ?? []).compactMap(\.stringValue) }.filter { domain($0) != home }
        }
        switch operation.description {
        case "gmail.send_message", "gmail.reply":
            let recipients = outside(["to", "cc", "bcc"])
            return recipients.isEmpty
                ? nil : "writes to \(recipients.count) address(es) outside \(home ?? "the organisation")"
        case "gmail.create_filter":
            guard let forward = arguments["action"]?["forward"]?.stringValue, domain(forward) != home else {
                return nil
            }
            return "forwards mail to \(forward)"
        case "calendar.create_event", "calendar.update_event":
            let guests = outside(["attendees"])
            return guests.isEmpty ? nil : "invites \(guests.count) address(es) outside \(home ?? "the organisation")"
        case "github.set_visibility":
            return arguments["visibility"]?.stringValue == "public" ? "makes a repository public" : nil
        case "http.request":
            guard let host = host(arguments), !knownHosts.contains(host) else { return nil }
            return "sends a request to a new host, \(host)"
        default:
            return nil
        }
    }

    /// The domain of an address, lower-cased; `nil` without one.
    static func domain(_ address: String) -> String? {
        guard let at = address.lastIndex(of: "@") else { return nil }
        let domain = address[address.index(after: at)...].lowercased()
        return domain.isEmpty ? nil : domain
    }

    /// The host an `http.request` goes to, lower-cased.
    static func host(_ arguments: JSONValue) -> String? {
        arguments["url"]?.stringValue.flatMap { URLComponents(string: $0)?.host?.lowercased() }
    }
}
