import Crypto
import Yams

extension Policy {
    /// Parses and checks a policy written in YAML.
    ///
    /// Every problem is reported, each with its line and column: YAML syntax, unknown keys, wrong
    /// types, bad globs or regular expressions, operations the catalog does not know, and per-level
    /// settings that would let High or Critical actions through without a human.
    ///
    /// - Parameters:
    ///   - yaml: The policy's text.
    ///   - catalog: When given, operation patterns and test actions are checked against it.
    /// - Throws: ``PolicyError`` with every problem found.
    public init(yaml: String, catalog: OperationCatalog? = nil) throws(PolicyError) {
        var parser = PolicyParser(catalog: catalog)
        let policy = parser.parse(yaml)
        guard parser.issues.isEmpty, let policy else { throw PolicyError(issues: parser.issues) }
        self.init(
            levels: policy.levels,
            rules: policy.rules,
            tests: policy.tests,
            sourceDigest: "sha256:" + Hex.encode(SHA256.hash(data: Array(yaml.utf8))),
            catalog: catalog
        )
    }
}

private struct PolicyParser {
    let catalog: OperationCatalog?
    var issues: [PolicyIssue] = []

    init(catalog: OperationCatalog?) {
        self.catalog = catalog
    }

    mutating func report(_ node: Node?, _ message: String) {
        let mark = node?.mark
        issues.append(PolicyIssue(line: mark?.line ?? 1, column: mark?.column ?? 1, message: message))
    }

    /// What a policy file holds, before it is compiled.
    struct Parsed {
        var levels: [RiskLevel: LevelSettings] = LevelSettings.defaults
        var rules: [PolicyRule] = []
        var tests: [PolicyTest] = []
    }

    mutating func parse(_ yaml: String) -> Parsed? {
        let root: Node?
        do {
            root = try Yams.compose(yaml: yaml)
        } catch let error as YamlError {
            issues.append(Self.issue(from: error, in: yaml))
            return nil
        } catch {
            issues.append(PolicyIssue(line: 1, column: 1, message: "cannot read the policy as YAML"))
            return nil
        }
        guard let root, let mapping = mapping(root, "the policy") else {
            if root == nil { report(nil, "the policy is empty; it needs at least `version: 1`") }
            return nil
        }
        var policy = Parsed()
        var sawVersion = false
        for (key, value) in mapping {
            switch key.string {
            case "version":
                sawVersion = true
                if value.int != 1 { report(value, "unsupported policy version; use `version: 1`") }
            case "levels": parseLevels(value, into: &policy)
            case "rules":
                for item in sequence(value, "rules") ?? [] {
                    if let rule = parseRule(item) { policy.rules.append(rule) }
                }
            case "tests":
                for item in sequence(value, "tests") ?? [] {
                    if let test = parseTest(item) { policy.tests.append(test) }
                }
            default:
                report(key, "unknown key `\(key.string ?? "")`; expected version, levels, rules or tests")
            }
        }
        if !sawVersion { report(root, "missing `version: 1`") }
        var names: Set<String> = []
        for rule in policy.rules where !names.insert(rule.name).inserted {
            issues.append(PolicyIssue(line: rule.line, column: 1, message: "rule name `\(rule.name)` is used twice"))
        }
        return policy
    }

    static func issue(from error: YamlError, in yaml: String) -> PolicyIssue {
        switch error {
        case .scanner(_, let problem, let mark, _), .parser(_, let problem, let mark, _),
            .composer(_, let problem, let mark, _):
            return PolicyIssue(line: mark.line, column: mark.column, message: "YAML: \(problem)")
        case .duplicatedKeysInMapping(let duplicates, let context):
            // Yams marks the mapping; point at the second occurrence of the key instead.
            let (line, column) =
                secondOccurrence(of: duplicates.first ?? "", in: yaml, from: context.mark.line)
                ?? (context.mark.line, context.mark.column)
            return PolicyIssue(
                line: line,
                column: column,
                message: "YAML: duplicate key `\(duplicates.joined(separator: ", "))`; each key may appear once"
            )
        default:
            return PolicyIssue(line: 1, column: 1, message: "YAML: \(error)")
        }
    }

    /// The line and column where `key` appears as a key for the second time, at or after `startLine`.
    static func secondOccurrence(of key: String, in yaml: String, from startLine: Int) -> (Int, Int)? {
        var seen = 0
        for (offset, line) in yaml.split(separator: "\n", omittingEmptySubsequences: false).enumerated()
        where offset + 1 >= startLine {
            var searchStart = line.startIndex
            while let range = line[searchStart...].firstRange(of: key) {
                let before = line[line.startIndex..<range.lowerBound].last
                let after = line[range.upperBound...].drop { $0 == " " }.first
                if (before == nil || before == " " || before == "{" || before == "," || before == "-") && after == ":" {
                    seen += 1
                    if seen == 2 { return (offset + 1, line.distance(from: line.startIndex, to: range.lowerBound) + 1) }
                }
                searchStart = range.upperBound
            }
        }
        return nil
    }

    // MARK: - Shapes

    mutating func mapping(_ node: Node, _ what: String) -> Node.Mapping? {
        guard let mapping = node.mapping else {
            report(node, "\(what) must be a mapping (key: value)")
            return nil
        }
        return mapping
    }

    mutating func sequence(_ node: Node, _ what: String) -> Node.Sequence? {
        guard let sequence = node.sequence else {
            report(node, "\(what) must be a list")
            return nil
        }
        return sequence
    }

    mutating func string(_ node: Node, _ what: String) -> String? {
        guard let scalar = node.scalar, node.tagName != .null else {
            report(node, "\(what) must be a string")
            return nil
        }
        return scalar.string
    }

    mutating func strings(_ node: Node, _ what: String) -> [String]? {
        if node.scalar != nil { return string(node, what).map { [$0] } }
        guard let items = sequence(node, what) else { return nil }
        var result: [String] = []
        for item in items {
            guard let text = string(item, "each entry of \(what)") else { return nil }
            result.append(text)
        }
        return result
    }

    mutating func bool(_ node: Node, _ what: String) -> Bool? {
        guard node.tagName == .bool, let value = node.bool else {
            report(node, "\(what) must be true or false")
            return nil
        }
        return value
    }

    mutating func count(_ node: Node, _ what: String, minimum: Int = 0) -> Int? {
        guard node.tagName == .int, let value = node.int, value >= minimum, value <= 100 else {
            report(node, "\(what) must be a whole number from \(minimum) to 100")
            return nil
        }
        return value
    }

    mutating func number(_ node: Node, _ what: String) -> Double? {
        guard node.tagName == .int || node.tagName == .float, let value = node.float, value.isFinite else {
            report(node, "\(what) must be a number")
            return nil
        }
        return value
    }

    mutating func level(_ node: Node) -> RiskLevel? {
        guard let text = node.string, let level = RiskLevel(rawValue: text) else {
            report(node, "level must be one of low, medium, high, critical")
            return nil
        }
        return level
    }

    mutating func decision(_ node: Node) -> PolicyDecision? {
        guard let text = node.string, let decision = PolicyDecision(rawValue: text) else {
            report(node, "decision must be one of allow, ask, deny")
            return nil
        }
        return decision
    }

    /// Parses `90s`, `15m`, `2h` or `1d` into seconds.
    mutating func duration(_ node: Node) -> Int? {
        guard let text = node.string, let seconds = DurationText.seconds(text) else {
            report(node, "ttl must be a duration such as 90s, 15m, 2h or 1d")
            return nil
        }
        guard seconds <= 30 * 86400 else {
            report(node, "ttl may be at most 30d")
            return nil
        }
        return seconds
    }

    // MARK: - Sections

    mutating func parseLevels(_ node: Node, into policy: inout Parsed) {
        guard let levels = mapping(node, "levels") else { return }
        for (key, value) in levels {
            guard let level = level(key), let settings = mapping(value, "levels.\(level)") else { continue }
            var result = LevelSettings.defaults[level]!
            for (field, fieldValue) in settings {
                switch field.string {
                case "decision": result.decision = decision(fieldValue) ?? result.decision
                case "approvers": result.approvals = count(fieldValue, "approvers", minimum: 1) ?? result.approvals
                case "step_up": result.stepUp = bool(fieldValue, "step_up") ?? result.stepUp
                case "confirm": result.confirm = bool(fieldValue, "confirm") ?? result.confirm
                case "self_approval":
                    result.allowSelfApproval = bool(fieldValue, "self_approval") ?? result.allowSelfApproval
                case "ttl": result.ttlSeconds = duration(fieldValue) ?? result.ttlSeconds
                case "client_approval":
                    result.clientApproval = bool(fieldValue, "client_approval") ?? result.clientApproval
                    if level >= .high && result.clientApproval {
                        report(
                            fieldValue,
                            "\(level.title) actions are approved in the web app or the CLI, never in the agent's client"
                        )
                    }
                default:
                    report(
                        field,
                        "unknown key `\(field.string ?? "")` in levels.\(level); expected decision, approvers, step_up, confirm, self_approval, client_approval or ttl"
                    )
                }
            }
            if level >= .high && result.decision == .allow {
                report(value, "\(level.title) actions always need a human: use `decision: ask` or `decision: deny`")
            }
            if result.decision != .allow && result.approvals == 0 { result.approvals = 1 }
            policy.levels[level] = result
        }
    }

    mutating func parseRule(_ node: Node) -> PolicyRule? {
        guard let fields = mapping(node, "a rule") else { return nil }
        var name: String?
        var reason: String?
        var match = RuleMatch()
        var rule = PolicyRule(name: "", reason: "", match: match, line: node.mark?.line ?? 0)
        var setsSomething = false
        for (key, value) in fields {
            switch key.string {
            case "name": name = string(value, "name")
            case "reason": reason = string(value, "reason")
            case "match": match = parseMatch(value) ?? match
            case "level":
                rule.level = level(value)
                setsSomething = true
            case "decision":
                rule.decision = decision(value)
                setsSomething = true
            case "approvers":
                rule.approvals = count(value, "approvers", minimum: 1)
                setsSomething = true
            case "step_up":
                rule.stepUp = bool(value, "step_up")
                setsSomething = true
            case "confirm":
                rule.confirm = bool(value, "confirm")
                setsSomething = true
            case "self_approval":
                rule.allowSelfApproval = bool(value, "self_approval")
                setsSomething = true
            case "ttl":
                rule.ttlSeconds = duration(value)
                setsSomething = true
            case "client_approval":
                rule.clientApproval = bool(value, "client_approval")
                setsSomething = true
            default:
                report(
                    key,
                    "unknown key `\(key.string ?? "")` in a rule; expected name, reason, match, level, decision, approvers, step_up, confirm, self_approval, client_approval or ttl"
                )
            }
        }
        if name == nil { report(node, "every rule needs a `name`") }
        if reason == nil { report(node, "every rule needs a `reason` an approver can read") }
        if !setsSomething {
            report(
                node,
                "the rule sets nothing; give it a level, decision, approvers, step_up, confirm, self_approval, client_approval or ttl"
            )
        }
        guard let name, let reason else { return nil }
        rule.name = name
        rule.reason = reason
        rule.match = match
        return rule
    }

    mutating func parseMatch(_ node: Node) -> RuleMatch? {
        guard let fields = mapping(node, "match") else { return nil }
        var match = RuleMatch()
        for (key, value) in fields {
            switch key.string {
            case "operation":
                let globs = (strings(value, "operation") ?? []).map(Glob.init)
                if let catalog {
                    for glob in globs where !catalog.descriptors.contains(where: { glob.matches($0.id.description) }) {
                        report(value, "operation pattern `\(glob)` matches no operation in the catalog")
                    }
                }
                match.operations = globs
            case "agent": match.agents = (strings(value, "agent") ?? []).map(Glob.init)
            case "principal": match.principals = (strings(value, "principal") ?? []).map(Glob.init)
            case "arguments":
                for item in sequence(value, "arguments") ?? [] {
                    if let condition = parseCondition(item) { match.conditions.append(condition) }
                }
            default:
                report(
                    key,
                    "unknown key `\(key.string ?? "")` in match; expected operation, agent, principal or arguments"
                )
            }
        }
        return match
    }

    mutating func parseCondition(_ node: Node) -> ArgumentCondition? {
        guard let fields = mapping(node, "an argument condition") else { return nil }
        var path: JSONPointer?
        var tests: [ArgumentCondition.Test] = []
        var negate = false
        for (key, value) in fields {
            switch key.string {
            case "path":
                guard let text = string(value, "path") else { continue }
                path = Self.pointer(text)
                if path == nil {
                    report(value, "path must be a dotted path (to.0.email) or a JSON Pointer (/to/0/email)")
                }
            case "equals": tests.append(.equals(json(value)))
            case "one_of":
                guard let items = sequence(value, "one_of") else { continue }
                tests.append(.oneOf(items.map { json($0) }))
            case "regex":
                guard let source = string(value, "regex") else { continue }
                do {
                    tests.append(.regex(try Pattern(source)))
                } catch {
                    report(value, "\(error)")
                }
            case "greater_than": number(value, "greater_than").map { tests.append(.greaterThan($0)) }
            case "at_least": number(value, "at_least").map { tests.append(.atLeast($0)) }
            case "less_than": number(value, "less_than").map { tests.append(.lessThan($0)) }
            case "at_most": number(value, "at_most").map { tests.append(.atMost($0)) }
            case "exists": bool(value, "exists").map { tests.append(.exists($0)) }
            case "contains": tests.append(.contains(json(value)))
            case "negate": negate = bool(value, "negate") ?? false
            default:
                report(
                    key,
                    "unknown key `\(key.string ?? "")` in an argument condition; expected path, equals, one_of, regex, greater_than, at_least, less_than, at_most, exists, contains or negate"
                )
            }
        }
        if path == nil && fields["path"] == nil { report(node, "an argument condition needs a `path`") }
        guard tests.count == 1 else {
            if tests.isEmpty { report(node, "an argument condition needs one test, such as equals or regex") }
            if tests.count > 1 {
                report(node, "an argument condition takes exactly one test; write one condition per test")
            }
            return nil
        }
        guard let path else { return nil }
        return ArgumentCondition(path: path, test: tests[0], negate: negate)
    }

    static func pointer(_ text: String) -> JSONPointer? {
        if text.hasPrefix("/") { return JSONPointer(text) }
        guard !text.isEmpty else { return nil }
        let tokens = text.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        guard !tokens.contains(where: \.isEmpty) else { return nil }
        return JSONPointer(tokens: tokens)
    }

    mutating func parseTest(_ node: Node) -> PolicyTest? {
        guard let fields = mapping(node, "a test") else { return nil }
        var name = "test at line \(node.mark?.line ?? 0)"
        var action: ProposedAction?
        var test = PolicyTest(
            name: name,
            action: ProposedAction(operation: OperationID("files.read")!, arguments: .null, principal: "", agent: ""),
            line: node.mark?.line ?? 0,
            column: node.mark?.column ?? 0
        )
        var sawExpect = false
        for (key, value) in fields {
            switch key.string {
            case "name": name = string(value, "name") ?? name
            case "action": action = parseAction(value)
            case "expect":
                sawExpect = true
                guard let expectations = mapping(value, "expect") else { continue }
                for (field, expected) in expectations {
                    switch field.string {
                    case "level": test.level = level(expected)
                    case "decision": test.decision = decision(expected)
                    case "approvers": test.approvals = count(expected, "approvers")
                    case "step_up": test.stepUp = bool(expected, "step_up")
                    case "client_approval": test.clientApproval = bool(expected, "client_approval")
                    default:
                        report(
                            field,
                            "unknown key `\(field.string ?? "")` in expect; expected level, decision, approvers, step_up or client_approval"
                        )
                    }
                }
            default:
                report(key, "unknown key `\(key.string ?? "")` in a test; expected name, action or expect")
            }
        }
        if !sawExpect { report(node, "a test needs `expect`") }
        guard let action else {
            if fields["action"] == nil { report(node, "a test needs an `action`") }
            return nil
        }
        test.name = name
        test.action = action
        return test
    }

    mutating func parseAction(_ node: Node) -> ProposedAction? {
        guard let fields = mapping(node, "action") else { return nil }
        var operation: OperationID?
        var arguments: JSONValue = .object([:])
        var principal = "user@example.com"
        var agent = "agent"
        for (key, value) in fields {
            switch key.string {
            case "operation":
                guard let text = string(value, "operation") else { continue }
                operation = OperationID(text)
                if operation == nil {
                    report(value, "operation must be connector.operation, such as files.write")
                } else if let catalog, catalog.descriptor(for: operation!) == nil {
                    report(value, "unknown operation `\(text)`")
                    operation = nil
                }
            case "arguments": arguments = json(value)
            case "principal": principal = string(value, "principal") ?? principal
            case "agent": agent = string(value, "agent") ?? agent
            default:
                report(
                    key,
                    "unknown key `\(key.string ?? "")` in action; expected operation, arguments, principal or agent"
                )
            }
        }
        guard let operation else {
            if fields["operation"] == nil { report(node, "an action needs an `operation`") }
            return nil
        }
        let action = ProposedAction(operation: operation, arguments: arguments, principal: principal, agent: agent)
        if let catalog {
            do {
                _ = try catalog.validate(action)
            } catch {
                report(node, "the test action's \(error)")
                return nil
            }
        }
        return action
    }

    /// Converts a YAML node to JSON.
    func json(_ node: Node) -> JSONValue { JSONValue(yamlNode: node) }
}
