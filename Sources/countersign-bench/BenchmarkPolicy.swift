import Countersign

/// A realistic 30-rule policy and a varied set of actions for the assessment benchmark.
enum BenchmarkPolicy {
    static let yaml: String = {
        var rules: [String] = []
        let agents = ["ci-*", "release-bot", "planner", "triage-*", "ops-agent"]
        for (index, agent) in agents.enumerated() {
            rules.append(
                """
                  - name: agent-\(index)-writes
                    reason: writes by \(agent) are reviewed
                    match: { operation: "files.write", agent: "\(agent)" }
                    level: medium
                """
            )
        }
        let prefixes = ["docs/", "src/", "infra/", "secrets/", "build/"]
        for (index, prefix) in prefixes.enumerated() {
            rules.append(
                """
                  - name: path-\(index)
                    reason: changes under \(prefix)
                    match:
                      operation: "files.*"
                      arguments: [{ path: path, regex: '^\(prefix)' }]
                    level: \(index == 3 ? "critical" : "medium")
                """
            )
        }
        for (index, limit) in [5, 10, 20, 50, 100].enumerated() {
            rules.append(
                """
                  - name: many-paths-\(index)
                    reason: deletes more than \(limit) paths
                    match:
                      operation: files.delete
                      arguments: [{ path: paths, greater_than: \(limit) }]
                    approvers: \(index < 3 ? 1 : 2)
                """
            )
        }
        for (index, program) in ["git", "make", "npm", "docker", "kubectl"].enumerated() {
            rules.append(
                """
                  - name: program-\(index)
                    reason: runs \(program)
                    match:
                      operation: shell.run
                      arguments: [{ path: program, equals: \(program) }]
                    ttl: 10m
                """
            )
        }
        for (index, host) in [
            "api.acme.test", "hooks.slack.test", "example.org", "internal.acme.test", "pastebin.test",
        ]
        .enumerated() {
            rules.append(
                """
                  - name: host-\(index)
                    reason: requests to \(host)
                    match:
                      operation: http.request
                      arguments: [{ path: url, contains: "\(host)" }]
                    level: \(index == 4 ? "high" : "medium")
                """
            )
        }
        rules.append(
            """
              - name: deny-sudo
                reason: no privilege escalation
                match: { operation: shell.run, arguments: [{ path: program, one_of: [sudo, su, doas] }] }
                decision: deny
              - name: principal-contractors
                reason: contractors need two approvers
                match: { principal: "*@contractors.test" }
                approvers: 2
              - name: recursive
                reason: recursive deletion
                match: { operation: files.delete, arguments: [{ path: recursive, equals: true }] }
                step_up: true
              - name: overwrite
                reason: overwrites
                match: { operation: files.write, arguments: [{ path: overwrite, exists: true }] }
                confirm: true
              - name: night-ops
                reason: ops agents only read freely
                match: { operation: "files.read", agent: "ops-*" }
                decision: allow
            """
        )
        return "version: 1\nrules:\n" + rules.joined(separator: "\n") + "\n"
    }()

    static func actions() -> [ProposedAction] {
        var actions: [ProposedAction] = []
        let agents = ["ci-42", "release-bot", "planner", "triage-7", "ops-agent", "helper"]
        let principals = ["ana@acme.test", "bob@acme.test", "carl@contractors.test"]
        let paths = [
            "docs/readme.md", "src/main.swift", "infra/main.tf", "secrets/prod.env", "build/out.o", "notes/todo.md",
        ]
        for (index, path) in paths.enumerated() {
            let agent = agents[index % agents.count]
            let principal = principals[index % principals.count]
            actions.append(action("files.read", ["path": .string(path)], agent, principal))
            actions.append(
                action("files.write", ["path": .string(path), "content": "hello", "overwrite": true], agent, principal)
            )
            actions.append(action("files.append", ["path": .string(path), "content": "more"], agent, principal))
            let count = [1, 6, 12, 25, 60, 150][index]
            let many = JSONValue.array((0..<count).map { .string("tmp/file-\($0).log") })
            actions.append(
                action("files.delete", ["paths": many, "recursive": .bool(index % 2 == 0)], agent, principal)
            )
        }
        for program in ["git", "make", "ls", "sudo", "kubectl", "rm"] {
            actions.append(
                action("shell.run", ["program": .string(program), "arguments": ["-v"]], "ops-agent", "ana@acme.test")
            )
        }
        for host in ["api.acme.test", "hooks.slack.test", "example.org", "pastebin.test"] {
            actions.append(
                action(
                    "http.request",
                    ["method": "GET", "url": .string("https://\(host)/v1/items")],
                    "planner",
                    "bob@acme.test"
                )
            )
            actions.append(
                action(
                    "http.request",
                    ["method": "POST", "url": .string("https://\(host)/v1/items"), "body": "{}"],
                    "ci-1",
                    "ana@acme.test"
                )
            )
        }
        return actions
    }

    static func action(
        _ operation: String,
        _ arguments: JSONValue,
        _ agent: String,
        _ principal: String
    ) -> ProposedAction {
        ProposedAction(operation: OperationID(operation)!, arguments: arguments, principal: principal, agent: agent)
    }
}
