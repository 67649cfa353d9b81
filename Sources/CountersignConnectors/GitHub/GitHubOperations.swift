public import Countersign
import Foundation

/// GitHub's operations: schemas, scopes, hints and impact derived from the arguments.
///
/// Scopes are GitHub OAuth app scopes: `repo` for repositories and their issues, pull requests,
/// contents, releases and collaborators; `delete_repo` to delete a repository.
public enum GitHubOperations {
    /// Branch names that are, by convention, protected or deployed from.
    static let protectedBranches: Set<String> = ["main", "master", "production", "prod", "release", "trunk", "develop"]

    static func isProtected(_ branch: String?) -> Bool {
        guard let branch else { return false }
        return protectedBranches.contains(branch) || branch.hasPrefix("release/") || branch.hasPrefix("releases/")
    }

    static let owner: JSONValue = ["type": "string", "pattern": "^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})$"]
    static let repo: JSONValue = ["type": "string", "pattern": "^[A-Za-z0-9._-]{1,100}$"]
    static let branch: JSONValue = [
        "type": "string", "minLength": 1, "maxLength": 250,
        "pattern": "^(?!/)(?!.*//)(?!.*\\.\\.)[^\\s~^:?*\\[\\\\]+(?<!/)(?<!\\.lock)$",
    ]
    static let number: JSONValue = ["type": "integer", "minimum": 1]

    static func schema(_ required: [String], _ properties: [String: JSONValue]) -> JSONValue {
        var all: [String: JSONValue] = ["owner": owner, "repo": repo]
        for (key, value) in properties { all[key] = value }
        return [
            "type": "object", "additionalProperties": false,
            "required": .array((["owner", "repo"] + required).map(JSONValue.string)),
            "properties": .object(all),
        ]
    }

    static func repository(_ arguments: JSONValue) -> String {
        "\(arguments["owner"]?.stringValue ?? "?")/\(arguments["repo"]?.stringValue ?? "?")"
    }

    /// Hints on a branch argument: a protected or default-looking branch is High.
    static func branchHint(_ key: String, _ what: String) -> RiskHint {
        RiskHint("protected_branch") { arguments in
            let branch = arguments[key]?.stringValue
            return isProtected(branch) ? (.high, "\(what) \(branch ?? "") is a default or protected branch") : nil
        }
    }

    /// All of GitHub's operations.
    public static func descriptors() throws(SchemaError) -> [OperationDescriptor] {
        [
            try operation(
                "read_issue",
                summary: "Read an issue or pull request with its comments",
                schema: schema(["issue_number"], ["issue_number": number]),
                defaultLevel: .low,
                isReversible: true,
                target: { "\(repository($0))#\($0["issue_number"]?.numberValue.map { Int($0) } ?? 0)" },
                impact: { arguments in
                    "Reads \(repository(arguments))#\(Int(arguments["issue_number"]?.numberValue ?? 0)): its title, text and first 100 comments go to the agent; nothing changes."
                }
            ),
            try operation(
                "create_issue",
                summary: "Open an issue in a repository",
                schema: schema(
                    ["title"],
                    [
                        "title": ["type": "string", "minLength": 1, "maxLength": 256],
                        "body": ["type": "string", "maxLength": 65536],
                        "labels": ["type": "array", "items": ["type": "string"], "maxItems": 20],
                        "assignees": ["type": "array", "items": owner, "maxItems": 10],
                    ]
                ),
                defaultLevel: .low,
                hints: [mentionsHint()],
                isReversible: true,
                target: { repository($0) },
                impact: { arguments in
                    "Opens an issue in \(repository(arguments)) titled \(ProviderOperations.quoted(arguments["title"]?.stringValue)), as the principal"
                        + ((arguments["assignees"]?.arrayValue?.isEmpty == false)
                            ? ", assigned to \(arguments["assignees"]!.arrayValue!.compactMap(\.stringValue).joined(separator: ", "))"
                            : "") + "."
                },
                undo: { arguments, result in
                    result["number"].map {
                        (
                            "set_issue_state",
                            [
                                "owner": arguments["owner"] ?? .null, "repo": arguments["repo"] ?? .null,
                                "issue_number": $0,
                                "state": "closed", "state_reason": "not_planned",
                            ]
                        )
                    }
                }
            ),
            try operation(
                "comment_issue",
                summary: "Comment on an issue or pull request",
                schema: schema(
                    ["issue_number", "body"],
                    ["issue_number": number, "body": ["type": "string", "minLength": 1, "maxLength": 65536]]
                ),
                defaultLevel: .low,
                hints: [mentionsHint()],
                isReversible: true,
                target: { "\(repository($0))#\($0["issue_number"]?.numberValue.map { Int($0) } ?? 0)" },
                impact: { arguments in
                    "Comments on \(repository(arguments))#\(Int(arguments["issue_number"]?.numberValue ?? 0)) as the principal: \(ProviderOperations.quoted(arguments["body"]?.stringValue))."
                }
            ),
            try operation(
                "set_issue_state",
                summary: "Close or reopen an issue",
                schema: schema(
                    ["issue_number", "state"],
                    [
                        "issue_number": number, "state": ["enum": ["open", "closed"]],
                        "state_reason": ["enum": ["completed", "not_planned", "reopened"]],
                    ]
                ),
                defaultLevel: .low,
                isReversible: true,
                target: { "\(repository($0))#\(Int($0["issue_number"]?.numberValue ?? 0))" },
                impact: { arguments in
                    let verb = arguments["state"]?.stringValue == "closed" ? "Closes" : "Reopens"
                    return "\(verb) issue \(repository(arguments))#\(Int(arguments["issue_number"]?.numberValue ?? 0))"
                        + (arguments["state_reason"]?.stringValue.map {
                            " (\($0.replacingOccurrences(of: "_", with: " ")))"
                        } ?? "")
                        + "."
                },
                undo: { arguments, _ in
                    (
                        "set_issue_state",
                        [
                            "owner": arguments["owner"] ?? .null, "repo": arguments["repo"] ?? .null,
                            "issue_number": arguments["issue_number"] ?? .null,
                            "state": arguments["state"] == "closed" ? "open" : "closed",
                        ]
                    )
                }
            ),
            try operation(
                "create_branch",
                summary: "Create a branch at a commit",
                schema: schema(
                    ["branch", "sha"],
                    ["branch": branch, "sha": ["type": "string", "pattern": "^[0-9a-f]{40}$"]]
                ),
                defaultLevel: .low,
                isReversible: true,
                target: { "\(repository($0)):\($0["branch"]?.stringValue ?? "")" },
                impact: { arguments in
                    "Creates the branch \(arguments["branch"]?.stringValue ?? "?") in \(repository(arguments)) at commit \(String((arguments["sha"]?.stringValue ?? "").prefix(12)))."
                },
                undo: { arguments, _ in
                    (
                        "delete_branch",
                        [
                            "owner": arguments["owner"] ?? .null, "repo": arguments["repo"] ?? .null,
                            "branch": arguments["branch"] ?? .null,
                        ]
                    )
                }
            ),
            try operation(
                "put_file",
                summary: "Create or update a file in a repository (one commit)",
                schema: schema(
                    ["path", "message", "content"],
                    [
                        "path": ["type": "string", "minLength": 1, "maxLength": 1024, "pattern": "^(?!/)(?!.*\\.\\.)"],
                        "message": ["type": "string", "minLength": 1, "maxLength": 4096],
                        "content": ["type": "string", "maxLength": 10_485_760],
                        "branch": branch,
                        "sha": [
                            "type": "string", "pattern": "^[0-9a-f]{40}$",
                            "description":
                                "The blob SHA of the file being replaced; required to update an existing file.",
                        ],
                    ]
                ),
                defaultLevel: .medium,
                hints: [
                    branchHint("branch", "commits directly to"),
                    RiskHint("large_change") { arguments in
                        let size = arguments["content"]?.stringValue?.utf8.count ?? 0
                        return size > 1_048_576 ? (.high, "writes a file of \(size) bytes (more than 1 MiB)") : nil
                    },
                    RiskHint("workflow_file") { arguments in
                        let path = arguments["path"]?.stringValue ?? ""
                        return path.hasPrefix(".github/workflows/") || path == "CODEOWNERS"
                            || path.hasPrefix(".github/CODEOWNERS")
                            ? (.high, "changes \(path), which controls CI or code ownership") : nil
                    },
                ],
                isReversible: true,
                target: { "\(repository($0))/\($0["path"]?.stringValue ?? "")" },
                impact: { arguments in
                    let size = arguments["content"]?.stringValue?.utf8.count ?? 0
                    let verb = arguments["sha"] == nil ? "Creates" : "Replaces"
                    let branch = arguments["branch"]?.stringValue.map { "branch \($0)" } ?? "the default branch"
                    return
                        "\(verb) \(arguments["path"]?.stringValue ?? "?") in \(repository(arguments)) on \(branch) with \(size) bytes, committed as the principal with the message \(ProviderOperations.quoted(arguments["message"]?.stringValue))."
                }
            ),
            try operation(
                "create_pull_request",
                summary: "Open a pull request",
                schema: schema(
                    ["title", "head", "base"],
                    [
                        "title": ["type": "string", "minLength": 1, "maxLength": 256],
                        "head": ["type": "string", "minLength": 1, "maxLength": 300], "base": branch,
                        "body": ["type": "string", "maxLength": 65536], "draft": ["type": "boolean"],
                    ]
                ),
                defaultLevel: .low,
                hints: [mentionsHint()],
                isReversible: true,
                target: { repository($0) },
                impact: { arguments in
                    "Opens a\(arguments["draft"] == true ? " draft" : "") pull request in \(repository(arguments)) to merge \(arguments["head"]?.stringValue ?? "?") into \(arguments["base"]?.stringValue ?? "?"), titled \(ProviderOperations.quoted(arguments["title"]?.stringValue))."
                }
            ),
            try operation(
                "merge_pull_request",
                summary: "Merge a pull request",
                schema: schema(
                    ["pull_number"],
                    [
                        "pull_number": number, "merge_method": ["enum": ["merge", "squash", "rebase"]],
                        "commit_title": ["type": "string", "maxLength": 256],
                        "commit_message": ["type": "string", "maxLength": 65536],
                        "sha": [
                            "type": "string", "pattern": "^[0-9a-f]{40}$",
                            "description": "The head commit the pull request must still be at.",
                        ],
                        "base": [
                            "type": "string",
                            "description":
                                "The branch it merges into, as the approver is told (checked against the pull request).",
                        ],
                    ]
                ),
                defaultLevel: .medium,
                hints: [
                    branchHint("base", "merges into"),
                    RiskHint("unpinned_head") { arguments in
                        arguments["sha"] == nil
                            ? (.medium, "merges whatever the pull request's head is at the time (no sha pinned)") : nil
                    },
                ],
                isReversible: false,
                target: { "\(repository($0))#\(Int($0["pull_number"]?.numberValue ?? 0))" },
                impact: { arguments in
                    let method = arguments["merge_method"]?.stringValue ?? "merge"
                    return
                        "Merges pull request \(repository(arguments))#\(Int(arguments["pull_number"]?.numberValue ?? 0))"
                        + (arguments["base"]?.stringValue.map { " into \($0)" } ?? "") + " by \(method)"
                        + (arguments["sha"]?.stringValue.map { ", only if its head is still \(String($0.prefix(12)))" }
                            ?? "")
                        + ". A merge is not undone by Countersign; reverting needs a new commit."
                }
            ),
            try operation(
                "create_release",
                summary: "Publish a release (and its tag)",
                schema: schema(
                    ["tag_name"],
                    [
                        "tag_name": ["type": "string", "minLength": 1, "maxLength": 250],
                        "target_commitish": ["type": "string", "maxLength": 250],
                        "name": ["type": "string", "maxLength": 256], "body": ["type": "string", "maxLength": 125000],
                        "draft": ["type": "boolean"], "prerelease": ["type": "boolean"],
                    ]
                ),
                defaultLevel: .medium,
                hints: [
                    RiskHint("published_release") { arguments in
                        arguments["draft"] == true
                            ? nil : (.high, "publishes the release at once (not a draft): watchers are notified")
                    }
                ],
                isReversible: true,
                target: { "\(repository($0))@\($0["tag_name"]?.stringValue ?? "")" },
                impact: { arguments in
                    let kind =
                        arguments["draft"] == true
                        ? "a draft release" : (arguments["prerelease"] == true ? "a pre-release" : "a release")
                    return
                        "Publishes \(kind) \(arguments["tag_name"]?.stringValue ?? "?") of \(repository(arguments))"
                        + (arguments["target_commitish"]?.stringValue.map { " from \($0)" } ?? "")
                        + ", creating the tag if it does not exist."
                }
            ),
            try operation(
                "add_collaborator",
                summary: "Give a user access to a repository",
                schema: schema(
                    ["username"],
                    ["username": owner, "permission": ["enum": ["pull", "triage", "push", "maintain", "admin"]]]
                ),
                defaultLevel: .high,
                hints: [
                    RiskHint("admin_permission") { arguments in
                        switch arguments["permission"]?.stringValue {
                        case "admin":
                            (.critical, "grants admin: the user can delete the repository and change who has access")
                        case "maintain": (.high, "grants maintain: the user can manage the repository's settings")
                        default: nil
                        }
                    }
                ],
                isReversible: true,
                target: { arguments in arguments["username"]?.stringValue },
                impact: { arguments in
                    "Invites \(arguments["username"]?.stringValue ?? "?") to \(repository(arguments)) with \(arguments["permission"]?.stringValue ?? "push") permission."
                }
            ),
            try operation(
                "set_visibility",
                summary: "Make a repository public or private",
                schema: schema(["visibility"], ["visibility": ["enum": ["public", "private"]]]),
                defaultLevel: .high,
                hints: [
                    RiskHint("make_public") { arguments in
                        arguments["visibility"] == "public"
                            ? (
                                .critical,
                                "makes the repository public: its code and history become visible to everyone, irreversibly once copied"
                            )
                            : nil
                    }
                ],
                isReversible: true,
                target: { repository($0) },
                impact: { arguments in
                    arguments["visibility"] == "public"
                        ? "Makes \(repository(arguments)) public: anyone can read its code, history, issues and pull requests."
                        : "Makes \(repository(arguments)) private: only people with access can see it; forks of it are detached."
                },
                undo: { arguments, _ in
                    (
                        "set_visibility",
                        [
                            "owner": arguments["owner"] ?? .null, "repo": arguments["repo"] ?? .null,
                            "visibility": arguments["visibility"] == "public" ? "private" : "public",
                        ]
                    )
                }
            ),
            try operation(
                "archive_repository",
                summary: "Archive a repository (read-only)",
                schema: schema([], [:]),
                defaultLevel: .high,
                isReversible: true,
                target: { repository($0) },
                impact: { arguments in
                    "Archives \(repository(arguments)): it becomes read-only for everyone, including its issues and pull requests."
                }
            ),
            try operation(
                "delete_branch",
                summary: "Delete a branch",
                schema: schema(["branch"], ["branch": branch]),
                defaultLevel: .medium,
                hints: [branchHint("branch", "deletes")],
                isReversible: false,
                target: { "\(repository($0)):\($0["branch"]?.stringValue ?? "")" },
                impact: { arguments in
                    "Deletes the branch \(arguments["branch"]?.stringValue ?? "?") of \(repository(arguments)); commits only on it become unreachable."
                }
            ),
            try operation(
                "delete_repository",
                summary: "Delete a repository",
                schema: schema([], [:]),
                scopes: ["delete_repo"],
                defaultLevel: .critical,
                isReversible: false,
                target: { repository($0) },
                impact: { arguments in
                    "Deletes \(repository(arguments)) with its code, issues, pull requests, releases and wiki. GitHub may restore it for 90 days only on request by an owner."
                }
            ),
        ]
    }

    /// One of GitHub's operations: the provider is GitHub and the scope `repo` unless said otherwise.
    static func operation(
        _ name: String,
        summary: String,
        schema: JSONValue,
        scopes: [String] = ["repo"],
        defaultLevel: RiskLevel,
        hints: [RiskHint] = [],
        isReversible: Bool,
        target: @escaping @Sendable (JSONValue) -> String?,
        impact: @escaping @Sendable (JSONValue) -> String,
        undo: (@Sendable (JSONValue, JSONValue) -> (operation: String, arguments: JSONValue)?)? = nil
    ) throws(SchemaError) -> OperationDescriptor {
        try ProviderOperations.descriptor(
            "github." + name,
            provider: "github",
            summary: summary,
            schema: schema,
            scopes: scopes,
            defaultLevel: defaultLevel,
            hints: hints,
            isReversible: isReversible,
            target: target,
            impact: impact,
            undo: undo
        )
    }

    /// Mentions of whole teams notify many people at once.
    static func mentionsHint() -> RiskHint {
        RiskHint("team_mention") { arguments in
            let text = (arguments["body"]?.stringValue ?? "") + " " + (arguments["title"]?.stringValue ?? "")
            return text.contains(/@[A-Za-z0-9-]+\/[A-Za-z0-9_.-]+/)
                ? (.medium, "mentions a team, notifying all its members") : nil
        }
    }
}
