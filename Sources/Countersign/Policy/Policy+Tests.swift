/// A policy test whose expectation was not met.
public struct PolicyTestFailure: Sendable, Hashable, CustomStringConvertible {
    /// The test's name.
    public let name: String
    /// Where the test is in the policy file.
    public let line: Int
    /// The column of the test.
    public let column: Int
    /// What was expected and what came out.
    public let message: String

    public var description: String { "\(line):\(column): test \"\(name)\" failed: \(message)" }
}

extension Policy {
    /// Runs the policy's inline tests against a catalog.
    ///
    /// - Returns: The failures; empty when every test passes.
    public func runTests(catalog: OperationCatalog) -> [PolicyTestFailure] {
        var failures: [PolicyTestFailure] = []
        for test in tests {
            func fail(_ message: String) {
                failures.append(
                    PolicyTestFailure(name: test.name, line: test.line, column: test.column, message: message)
                )
            }
            let descriptor: OperationDescriptor
            do {
                descriptor = try catalog.validate(test.action)
            } catch {
                fail("\(error)")
                continue
            }
            let assessment = assess(test.action, operation: descriptor)
            var mismatches: [String] = []
            if let level = test.level, level != assessment.level {
                mismatches.append("expected level \(level), got \(assessment.level)")
            }
            if let decision = test.decision, decision != assessment.decision {
                mismatches.append("expected decision \(decision), got \(assessment.decision)")
            }
            if let approvals = test.approvals, approvals != assessment.requirements.approvals {
                mismatches.append("expected \(approvals) approvers, got \(assessment.requirements.approvals)")
            }
            if let stepUp = test.stepUp, stepUp != assessment.requirements.stepUp {
                mismatches.append("expected step_up \(stepUp), got \(assessment.requirements.stepUp)")
            }
            if let client = test.clientApproval, client != assessment.requirements.clientApproval {
                mismatches.append(
                    "expected client_approval \(client), got \(assessment.requirements.clientApproval)"
                )
            }
            if !mismatches.isEmpty {
                let why = assessment.reasons.map(\.description).joined(separator: "; ")
                fail(mismatches.joined(separator: ", ") + " (reasons: \(why))")
            }
        }
        return failures
    }
}
