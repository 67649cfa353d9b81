extension Policy {
    /// The policy Countersign writes to a new data directory; `countersign policy default` prints it.
    public static let defaultYAML = #"""
        # Countersign default policy (version 1). Reference: docs/policy.md
        #
        # Each operation has a default level and risk hints computed from its arguments. Rules can
        # raise the level, ask, deny, or require more (approvers, step-up, confirmation text), never
        # remove a hint. The highest level wins; deny wins over everything.
        version: 1

        # What each level requires unless a rule asks for more.
        levels:
          low:      { decision: allow, ttl: 15m }
          medium:   { decision: ask, approvers: 1, ttl: 1h }
          high:     { decision: ask, approvers: 1, confirm: true, ttl: 30m }
          critical: { decision: ask, approvers: 1, step_up: true, ttl: 15m }

        rules:
          - name: no-privilege-escalation
            reason: Running programs as another user is never delegated to an agent
            match:
              operation: shell.run
              arguments:
                - path: program
                  regex: '(^|/)(sudo|su|doas|pkexec)$'
            decision: deny

          - name: no-agent-supplied-credentials
            reason: Agents must not carry credentials of their own; Countersign vends tokens
            match:
              operation: http.request
              arguments:
                - path: headers
                  contains: Authorization
            decision: deny

          - name: shell-two-approvers-for-deletion
            reason: Deleting data from the shell needs a second pair of eyes
            match:
              operation: shell.run
              arguments:
                - path: program
                  regex: '(^|/)(rm|shred|dd|mkfs|truncate)$'
            approvers: 2

          - name: no-self-approval-of-critical-deletes
            reason: Mass deletions must be approved by someone other than the person they act for
            match:
              operation: files.delete
              arguments:
                - path: paths
                  at_least: 20
            self_approval: false

        tests:
          - name: reading a file is allowed
            action: { operation: files.read, arguments: { path: notes/todo.md } }
            expect: { level: low, decision: allow }
          - name: writing a file asks
            action: { operation: files.write, arguments: { path: notes/todo.md, content: "- ship it" } }
            expect: { level: medium, decision: ask, approvers: 1 }
          - name: deleting a directory is high
            action: { operation: files.delete, arguments: { paths: [build], recursive: true } }
            expect: { level: high, decision: ask, step_up: false }
          - name: shell is critical with step-up
            action: { operation: shell.run, arguments: { program: ls, arguments: ["-la"] } }
            expect: { level: critical, decision: ask, step_up: true }
          - name: rm from the shell needs two approvers
            action: { operation: shell.run, arguments: { program: rm, arguments: ["-rf", "build"] } }
            expect: { level: critical, decision: ask, approvers: 2 }
          - name: sudo is denied
            action: { operation: shell.run, arguments: { program: /usr/bin/sudo, arguments: [ls] } }
            expect: { decision: deny }
          - name: a credential file is high even to read
            action: { operation: files.read, arguments: { path: .ssh/id_ed25519 } }
            expect: { level: high, decision: ask }
        """#
}
