import AsyncHTTPClient
public import Countersign
import Foundation
import NIOCore
import NIOHTTP1

/// GitHub's REST API (version 2022-11-28), with a token the vault vends for each approved request.
///
/// Every call carries `Authorization: Bearer`, `Accept: application/vnd.github+json`,
/// `X-GitHub-Api-Version` and a `User-Agent`, as GitHub requires; redirects are not followed.
/// Errors are mapped to what the agent and the approver can act on: not found, forbidden with the
/// scopes GitHub wanted, rate limited with the reset time, validation errors with GitHub's message.
public struct GitHubConnector: Connector {
    public let name = "github"
    public let operations: [OperationDescriptor]
    /// The API's base URL: `https://api.github.com`, or a GitHub Enterprise Server's `/api/v3`.
    public let baseURL: String

    static let apiVersion = "2022-11-28"

    /// Creates the connector.
    ///
    /// - Parameters:
    ///   - baseURL: The API's base URL.
    ///   - sandbox: The sandbox's name when `baseURL` is a sandbox that ships with Countersign;
    ///     every operation is then labelled with it.
    /// - Throws: ``SchemaError`` if a schema does not compile.
    public init(baseURL: String = "https://api.github.com", sandbox: String? = nil) throws(SchemaError) {
        self.baseURL = ProviderHTTPClient.base(baseURL)
        let descriptors = try GitHubOperations.descriptors()
        operations = sandbox.map { name in descriptors.map { $0.inSandbox(name) } } ?? descriptors
    }

    /// One call to GitHub: method, path (already escaped) and JSON body.
    struct Call: Equatable {
        let method: HTTPMethod
        let path: String
        let body: JSONValue?
    }

    static func segment(_ text: String) -> String {
        text.addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(CharacterSet(charactersIn: "-._~")))
            ?? ""
    }

    /// The request an operation makes, exactly as GitHub documents it.
    static func call(_ operation: String, _ arguments: JSONValue) throws(ConnectorError) -> Call {
        let repository =
            "/repos/\(segment(arguments["owner"]?.stringValue ?? ""))/\(segment(arguments["repo"]?.stringValue ?? ""))"
        func pick(_ keys: [String]) -> JSONValue {
            var body: [String: JSONValue] = [:]
            for key in keys { if let value = arguments[key] { body[key] = value } }
            return .object(body)
        }
        func number(_ key: String) -> Int { Int(arguments[key]?.numberValue ?? 0) }
        switch operation {
        case "read_issue":
            return Call(method: .GET, path: "\(repository)/issues/\(number("issue_number"))", body: nil)
        case "create_issue":
            return Call(
                method: .POST,
                path: "\(repository)/issues",
                body: pick(["title", "body", "labels", "assignees"])
            )
        case "comment_issue":
            return Call(
                method: .POST,
                path: "\(repository)/issues/\(number("issue_number"))/comments",
                body: pick(["body"])
            )
        case "set_issue_state":
            return Call(
                method: .PATCH,
                path: "\(repository)/issues/\(number("issue_number"))",
                body: pick(["state", "state_reason"])
            )
        case "create_branch":
            return Call(
                method: .POST,
                path: "\(repository)/git/refs",
                body: [
                    "ref": .string("refs/heads/\(arguments["branch"]?.stringValue ?? "")"),
                    "sha": arguments["sha"] ?? .null,
                ]
            )
        case "put_file":
            let path = (arguments["path"]?.stringValue ?? "").split(separator: "/").map { segment(String($0)) }.joined(
                separator: "/"
            )
            var body: [String: JSONValue] = [
                "message": arguments["message"] ?? .null,
                "content": .string(Data((arguments["content"]?.stringValue ?? "").utf8).base64EncodedString()),
            ]
            if let branch = arguments["branch"] { body["branch"] = branch }
            if let sha = arguments["sha"] { body["sha"] = sha }
            return Call(method: .PUT, path: "\(repository)/contents/\(path)", body: .object(body))
        case "create_pull_request":
            return Call(
                method: .POST,
                path: "\(repository)/pulls",
                body: pick(["title", "head", "base", "body", "draft"])
            )
        case "merge_pull_request":
            return Call(
                method: .PUT,
                path: "\(repository)/pulls/\(number("pull_number"))/merge",
                body: pick(["merge_method", "commit_title", "commit_message", "sha"])
            )
        case "create_release":
            return Call(
                method: .POST,
                path: "\(repository)/releases",
                body: pick(["tag_name", "target_commitish", "name", "body", "draft", "prerelease"])
            )
        case "add_collaborator":
            return Call(
                method: .PUT,
                path: "\(repository)/collaborators/\(segment(arguments["username"]?.stringValue ?? ""))",
                body: ["permission": arguments["permission"] ?? "push"]
            )
        case "set_visibility":
            return Call(method: .PATCH, path: repository, body: ["visibility": arguments["visibility"] ?? .null])
        case "archive_repository":
            return Call(method: .PATCH, path: repository, body: ["archived": true])
        case "delete_branch":
            let branch = (arguments["branch"]?.stringValue ?? "").split(separator: "/").map { segment(String($0)) }
                .joined(separator: "/")
            return Call(method: .DELETE, path: "\(repository)/git/refs/heads/\(branch)", body: nil)
        case "delete_repository":
            return Call(method: .DELETE, path: repository, body: nil)
        default:
            throw .refused("GitHub has no operation \(operation) here")
        }
    }

    public func execute(
        _ operation: OperationID,
        arguments: JSONValue,
        context: ExecutionContext
    ) async throws(ConnectorError) -> JSONValue {
        let call = try Self.call(operation.name, arguments)
        if operation.name == "read_issue" {
            // One token vended for both reads.
            let token = try await context.accessToken(provider: "github")
            let issue = try await get(call.path, token: token.secret)
            let comments = try await get("\(call.path)/comments?per_page=100", token: token.secret)
            return Self.issue(issue, comments: comments)
        }
        if operation.name == "merge_pull_request", let base = arguments["base"]?.stringValue {
            // The approver was told which branch it merges into: hold GitHub to it.
            let pull = try await send(
                Call(method: .GET, path: call.path.replacingOccurrences(of: "/merge", with: ""), body: nil),
                context: context
            )
            guard pull.body["base"]?["ref"]?.stringValue == base else {
                throw .conflict(
                    "the pull request merges into \(pull.body["base"]?["ref"]?.stringValue ?? "another branch"), not \(base) as approved; nothing was merged"
                )
            }
        }
        let answer = try await send(call, context: context)
        return Self.result(operation.name, arguments, answer.body)
    }

    /// The API path of the repository the arguments name (`repos/{owner}/{repo}`), checked as
    /// any call's path is.
    static func repositoryPath(_ arguments: JSONValue) throws(ConnectorError) -> String {
        try call("archive_repository", arguments).path
    }

    public var publishingOperations: Set<String> {
        ["create_issue", "comment_issue", "create_pull_request", "create_release", "put_file"]
    }

    /// A public repository is read by anyone; a private one by its members (read with a look-up
    /// token).
    public func audience(
        _ operation: OperationID,
        arguments: JSONValue,
        context: LookupContext
    ) async throws(ConnectorError) -> Audience {
        guard publishingOperations.contains(operation.name) else {
            throw .refused("github.\(operation.name) publishes nothing")
        }
        let token = try await context.readToken(provider: "github", scopes: ["repo"])
        let repo = try await get(try Self.repositoryPath(arguments), token: token.secret)
        let name = repo["full_name"]?.stringValue ?? GitHubOperations.repository(arguments)
        guard repo["private"] == false else { return .organisation("\(name) is a private repository") }
        return .outside("publishes in \(name), a public repository anyone can read")
    }

    public var lookupOperations: Set<String> {
        ["delete_repository", "archive_repository", "set_visibility", "merge_pull_request"]
    }

    /// For a repository about to be deleted, archived or made public or private: its visibility,
    /// stars, forks, open pull requests and last push, read with a look-up token.
    public func blastRadius(
        _ operation: OperationID,
        arguments: JSONValue,
        context: LookupContext
    ) async throws(ConnectorError) -> [RiskReason] {
        guard lookupOperations.contains(operation.name) else { return [] }
        let token = try await context.readToken(provider: "github", scopes: ["repo"])
        let repository = try Self.repositoryPath(arguments)
        if operation.name == "merge_pull_request" {
            // What the merge would bring in: the head commit the approver approves, the base.
            let pull = try await get(
                "\(repository)/pulls/\(Int(arguments["pull_number"]?.numberValue ?? 0))",
                token: token.secret
            )
            let head = pull["head"]?["sha"]?.stringValue ?? "?"
            var counts: [String] = []
            if let commits = pull["commits"]?.numberValue.map({ Int($0) }) {
                counts.append("\(commits) commit\(commits == 1 ? "" : "s")")
            }
            if let files = pull["changed_files"]?.numberValue.map({ Int($0) }) {
                counts.append("\(files) file\(files == 1 ? "" : "s") changed")
            }
            return [
                RiskReason(
                    source: .blastRadius,
                    name: "pull_request",
                    level: pull["state"]?.stringValue == "open" ? .low : .medium,
                    text:
                        "GitHub: pull request #\(Int(pull["number"]?.numberValue ?? 0)) merges \(pull["head"]?["ref"]?.stringValue ?? "?") "
                        + "(head \(head)) into \(pull["base"]?["ref"]?.stringValue ?? "?")"
                        + (counts.isEmpty ? "" : ", \(counts.joined(separator: ", "))")
                        + (pull["state"]?.stringValue == "open"
                            ? "" : "; it is \(pull["state"]?.stringValue ?? "not open")")
                )
            ]
        }
        let repo = try await get(repository, token: token.secret)
        let pulls = try await get("\(repository)/pulls?state=open&per_page=100", token: token.secret)
        let stars = Int(repo["stargazers_count"]?.numberValue ?? 0)
        let forks = Int(repo["forks_count"]?.numberValue ?? 0)
        let open = pulls.arrayValue?.count ?? 0
        let isPublic = repo["private"] == false
        let popular = isPublic && (stars >= 100 || forks >= 20)
        let facts =
            "\(isPublic ? "public" : "private") repository\(repo["fork"] == true ? " (a fork)" : ""), \(stars) stars, \(forks) forks, "
            + "\(open == 100 ? "100 or more" : String(open)) open pull requests, last push \(repo["pushed_at"]?.stringValue ?? "unknown")"
        let level: RiskLevel
        switch operation.name {
        case "delete_repository": level = .critical
        case "archive_repository": level = popular ? .critical : .low
        default: level = popular || open > 0 ? .high : .low
        }
        return [RiskReason(source: .blastRadius, name: "repository", level: level, text: "GitHub: " + facts)]
    }

    /// Besides a level that rose: the repository's visibility, whatever the level (a private
    /// repository made public since it was approved, or the other way).
    public func materialChanges(
        _ operation: OperationID,
        approved: [RiskReason],
        current: [RiskReason]
    ) -> [String] {
        var changes = Self.raisedFacts(approved: approved, current: current)
        func visibility(_ facts: [RiskReason]) -> String? {
            let text = facts.first { $0.name == "repository" }?.text ?? ""
            return text.hasPrefix("GitHub: public") ? "public" : text.hasPrefix("GitHub: private") ? "private" : nil
        }
        if let before = visibility(approved), let now = visibility(current), before != now, changes.isEmpty {
            changes.append("the repository is \(now) now; the approver saw it \(before)")
        }
        // A pull request's head that moved (commits pushed since), or its base changed.
        func merge(_ facts: [RiskReason]) -> (head: String, base: String)? {
            let text = facts.first { $0.name == "pull_request" }?.text ?? ""
            guard let match = text.firstMatch(of: /\(head ([0-9a-f?]+)\) into (\S+?)(?:,|;|$)/) else { return nil }
            return (String(match.output.1), String(match.output.2))
        }
        if let before = merge(approved), let now = merge(current) {
            if before.head != now.head {
                changes.append(
                    "the pull request's head moved from \(before.head.prefix(12)) to \(now.head.prefix(12)) (commits were pushed since)"
                )
            }
            if before.base != now.base { changes.append("it merges into \(now.base) now, not \(before.base)") }
        }
        return changes
    }

    private func get(_ path: String, token: Secret) async throws(ConnectorError) -> JSONValue {
        var request = HTTPClientRequest(url: baseURL + path)
        request.headers.add(name: "Authorization", value: "Bearer \(token.reveal())")
        request.headers.add(name: "Accept", value: "application/vnd.github+json")
        request.headers.add(name: "X-GitHub-Api-Version", value: Self.apiVersion)
        request.headers.add(name: "User-Agent", value: "Countersign")
        let (status, headers, body) = try await ProviderHTTPClient.send(request, to: "GitHub")
        guard (200..<300).contains(status) else { throw Self.error(status: status, headers: headers, body: body) }
        return body
    }

    /// An issue as the agent reads it: who wrote what, the issue first, then its comments in order.
    static func issue(_ issue: JSONValue, comments: JSONValue) -> JSONValue {
        [
            "number": issue["number"] ?? .null, "title": issue["title"] ?? .null, "state": issue["state"] ?? .null,
            "author": issue["user"]?["login"] ?? .null, "body": issue["body"] ?? "",
            "url": issue["html_url"] ?? .null, "pull_request": .bool(issue["pull_request"] != nil),
            "comments": .array(
                (comments.arrayValue ?? []).map { comment in
                    [
                        "author": comment["user"]?["login"] ?? .null, "body": comment["body"] ?? "",
                        "created_at": comment["created_at"] ?? .null,
                    ]
                }
            ),
        ]
    }

    /// A short result for the agent: what was made or changed, with its URL.
    static func result(_ operation: String, _ arguments: JSONValue, _ body: JSONValue) -> JSONValue {
        switch operation {
        case "create_issue", "set_issue_state":
            return [
                "number": body["number"] ?? .null, "url": body["html_url"] ?? .null, "state": body["state"] ?? .null,
            ]
        case "comment_issue": return ["id": body["id"] ?? .null, "url": body["html_url"] ?? .null]
        case "create_branch": return ["ref": body["ref"] ?? .null, "sha": body["object"]?["sha"] ?? .null]
        case "put_file":
            return [
                "path": body["content"]?["path"] ?? arguments["path"] ?? .null, "sha": body["content"]?["sha"] ?? .null,
                "commit": body["commit"]?["sha"] ?? .null, "url": body["content"]?["html_url"] ?? .null,
            ]
        case "create_pull_request": return ["number": body["number"] ?? .null, "url": body["html_url"] ?? .null]
        case "merge_pull_request": return ["merged": body["merged"] ?? .null, "sha": body["sha"] ?? .null]
        case "create_release":
            return ["id": body["id"] ?? .null, "tag": body["tag_name"] ?? .null, "url": body["html_url"] ?? .null]
        case "add_collaborator":
            return ["invited": true, "invitation": body["id"] ?? .null, "username": arguments["username"] ?? .null]
        case "set_visibility", "archive_repository":
            return [
                "repository": body["full_name"] ?? .null, "visibility": body["visibility"] ?? .null,
                "archived": body["archived"] ?? .null,
            ]
        default: return ["deleted": true]
        }
    }

    struct Answer {
        let status: UInt
        let body: JSONValue
    }

    func send(_ call: Call, context: ExecutionContext) async throws(ConnectorError) -> Answer {
        let token = try await context.accessToken(provider: "github")
        var request = HTTPClientRequest(url: baseURL + call.path)
        request.method = call.method
        request.headers.add(name: "Authorization", value: "Bearer \(token.secret.reveal())")
        request.headers.add(name: "Accept", value: "application/vnd.github+json")
        request.headers.add(name: "X-GitHub-Api-Version", value: Self.apiVersion)
        request.headers.add(name: "User-Agent", value: "Countersign")
        if let body = call.body {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(bytes: CanonicalJSON.bytes(body)))
        }
        let (status, headers, body) = try await ProviderHTTPClient.send(request, to: "GitHub")
        guard (200..<300).contains(status) else { throw Self.error(status: status, headers: headers, body: body) }
        return Answer(status: status, body: body)
    }

    /// GitHub's answer as an outcome the agent and the approver can act on.
    static func error(status: UInt, headers: HTTPHeaders, body: JSONValue) -> ConnectorError {
        let message = body["message"]?.stringValue ?? "HTTP \(status)"
        if status == 429 || (status == 403 && headers.first(name: "x-ratelimit-remaining") == "0")
            || (status == 403 && headers.first(name: "retry-after") != nil)
        {
            var when = "later"
            if let retry = headers.first(name: "retry-after").flatMap(Int.init) {
                when = "in \(retry) s"
            } else if let reset = headers.first(name: "x-ratelimit-reset").flatMap(Double.init) {
                when = "after \(Timestamp.string(Date(timeIntervalSince1970: reset)))"
            }
            return .failed("GitHub rate-limited the call; nothing changed. Try again \(when).")
        }
        switch status {
        case 401:
            return .refused("GitHub refused the token (\(message)); the principal may need to connect GitHub again")
        case 403:
            let wanted = headers.first(name: "x-accepted-oauth-scopes").flatMap { $0.isEmpty ? nil : $0 }
            return .refused(
                "GitHub forbade it: \(message)" + (wanted.map { " (it wants the scopes: \($0))" } ?? "")
            )
        case 404:
            return .notFound(
                "GitHub found no such repository, issue, branch or user, or the token cannot see it (\(message))"
            )
        case 409:
            return .conflict("GitHub reports a conflict: \(message)")
        case 422:
            let details = (body["errors"]?.arrayValue ?? []).compactMap { error -> String? in
                error["message"]?.stringValue
                    ?? error["code"]?.stringValue.map { "\(error["field"]?.stringValue ?? "?"): \($0)" }
            }
            return .refused(
                "GitHub did not accept it: \(message)"
                    + (details.isEmpty ? "" : " (\(details.joined(separator: "; ")))")
            )
        case 405:
            return .conflict("GitHub cannot do it in the current state: \(message)")
        default:
            return .failed("GitHub failed (HTTP \(status)): \(message)")
        }
    }
}
