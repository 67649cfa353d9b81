import Countersign
import Foundation
import HTTPTypes
import Hummingbird
import Synchronization

/// The sandbox GitHub: the REST API (2022-11-28) under `/sandbox/github/api`, for the operations
/// Countersign's connector makes and the look-ups it runs, validated as GitHub documents them.
extension Sandbox {
    typealias GitHubHandler = @Sendable (Call, inout SandboxWorld, [String]) throws(GitHubRefusal) -> Answer

    /// A GitHub error answer: status, message, and the headers that go with it.
    struct GitHubRefusal: Error {
        let status: Int
        let body: JSONValue
        var headers: HTTPFields = [:]

        init(_ status: Int, _ message: String, headers: HTTPFields = [:], errors: JSONValue? = nil) {
            self.status = status
            var body: [String: JSONValue] = [
                "message": .string(message), "documentation_url": "https://docs.github.com/rest",
                "status": .string(String(status)),
            ]
            if let errors { body["errors"] = errors }
            self.body = .object(body)
            self.headers = headers
        }

        static let notFound = GitHubRefusal(404, "Not Found")
    }

    func addGitHub<Context: RequestContext>(to router: Router<Context>) {
        let api = "/sandbox/github/api"
        github(router, .get, api + "/user", reads: true) { _, world, _ in
            Answer(status: 200, body: ["login": .string(Self.githubAccount), "type": "User", "site_admin": false])
        }
        router.delete(RouterPath(api + "/applications/{client_id}/grant")) { request, context in
            try await self.handle(request, .github, context: context) { call in try self.githubRevoke(call) }
        }
        let repo = api + "/repos/{owner}/{repo}"
        github(router, .get, repo, reads: true) { call, world, scopes throws(GitHubRefusal) in
            let repository = try Self.repository(call, world, scopes, write: false)
            return Answer(status: 200, body: Self.repositoryJSON(repository, origin: call.origin))
        }
        github(router, .patch, repo) { call, world, scopes throws(GitHubRefusal) in
            let body = try Self.members(
                call,
                required: [],
                allowed: ["name", "description", "private", "visibility", "archived", "default_branch"]
            )
            var repository = try Self.repository(call, world, scopes, write: true, admin: true)
            if let visibility = body["visibility"] {
                guard visibility == "public" || visibility == "private" else {
                    throw GitHubRefusal(422, "Validation Failed", errors: [["field": "visibility", "code": "invalid"]])
                }
                repository.isPrivate = visibility == "private"
            }
            if let archived = body["archived"] {
                guard case .bool(let value) = archived else {
                    throw GitHubRefusal(422, "Validation Failed", errors: [["field": "archived", "code": "invalid"]])
                }
                repository.archived = value
            }
            world.github.repositories[repository.fullName] = repository
            return Answer(status: 200, body: Self.repositoryJSON(repository, origin: call.origin), shown: .object(body))
        }
        github(router, .delete, repo) { call, world, scopes throws(GitHubRefusal) in
            let repository = try Self.repository(call, world, scopes, write: true, admin: true)
            guard scopes.contains("delete_repo") else {
                throw GitHubRefusal(
                    403,
                    "Must have admin rights to Repository.",
                    headers: [HTTPField.Name("X-Accepted-OAuth-Scopes")!: "delete_repo"]
                )
            }
            world.github.repositories[repository.fullName] = nil
            return Answer(status: 204)
        }
        github(router, .get, repo + "/pulls", reads: true) { call, world, scopes throws(GitHubRefusal) in
            let repository = try Self.repository(call, world, scopes, write: false)
            let state = call.query["state"] ?? "open"
            let limit = min(Int(call.query["per_page"] ?? "30") ?? 30, 100)
            let pulls = repository.pulls.filter { state == "all" || $0.state == state }.prefix(limit)
            return Answer(status: 200, body: .array(pulls.map { Self.pullJSON($0, repository, origin: call.origin) }))
        }
        github(router, .post, repo + "/pulls") { call, world, scopes throws(GitHubRefusal) in
            let body = try Self.members(
                call,
                required: ["title", "head", "base"],
                allowed: ["title", "head", "base", "body", "draft", "maintainer_can_modify", "issue"]
            )
            var repository = try Self.repository(call, world, scopes, write: true)
            let head = body["head"]?.stringValue ?? ""
            let base = body["base"]?.stringValue ?? ""
            guard repository.branches[head] != nil, repository.branches[base] != nil else {
                throw GitHubRefusal(
                    422,
                    "Validation Failed",
                    errors: [["resource": "PullRequest", "field": "head", "code": "invalid"]]
                )
            }
            guard !repository.pulls.contains(where: { $0.head == head && $0.base == base && $0.state == "open" })
            else {
                throw GitHubRefusal(
                    422,
                    "Validation Failed",
                    errors: [["resource": "PullRequest", "code": "custom", "message": "A pull request already exists"]]
                )
            }
            let pull = GitHubWorld.Pull(
                number: repository.nextNumber,
                title: body["title"]?.stringValue ?? "",
                body: body["body"]?.stringValue,
                head: head,
                base: base,
                state: "open",
                merged: false,
                draft: body["draft"] == true
            )
            repository.nextNumber += 1
            repository.pulls.append(pull)
            world.github.repositories[repository.fullName] = repository
            return Answer(status: 201, body: Self.pullJSON(pull, repository, origin: call.origin), shown: .object(body))
        }
        github(router, .get, repo + "/pulls/{number}", reads: true) { call, world, scopes throws(GitHubRefusal) in
            let repository = try Self.repository(call, world, scopes, write: false)
            guard let pull = repository.pulls.first(where: { String($0.number) == call.parameters["number"] }) else {
                throw GitHubRefusal.notFound
            }
            return Answer(status: 200, body: Self.pullJSON(pull, repository, origin: call.origin))
        }
        github(router, .put, repo + "/pulls/{number}/merge") { call, world, scopes throws(GitHubRefusal) in
            let body = try Self.members(
                call,
                required: [],
                allowed: ["merge_method", "commit_title", "commit_message", "sha"]
            )
            var repository = try Self.repository(call, world, scopes, write: true)
            guard let index = repository.pulls.firstIndex(where: { String($0.number) == call.parameters["number"] })
            else { throw GitHubRefusal.notFound }
            var pull = repository.pulls[index]
            guard pull.state == "open", !pull.merged else {
                throw GitHubRefusal(405, "Pull Request is not mergeable")
            }
            let head = repository.branches[pull.head] ?? ""
            if let sha = body["sha"]?.stringValue, sha != head {
                throw GitHubRefusal(409, "Head branch was modified. Review and try the merge again.")
            }
            if let method = body["merge_method"]?.stringValue, !["merge", "squash", "rebase"].contains(method) {
                throw GitHubRefusal(
                    422,
                    "Validation Failed",
                    errors: [["field": "merge_method", "code": "invalid"]]
                )
            }
            let merged = Self.sha1("merge \(pull.number) \(head) \(world.next())")
            repository.branches[pull.base] = merged
            repository.files[pull.base] = repository.files[pull.head] ?? repository.files[pull.base]
            pull.state = "closed"
            pull.merged = true
            repository.pulls[index] = pull
            world.github.repositories[repository.fullName] = repository
            return Answer(
                status: 200,
                body: ["sha": .string(merged), "merged": true, "message": "Pull Request successfully merged"],
                shown: .object(body)
            )
        }
        github(router, .post, repo + "/issues") { call, world, scopes throws(GitHubRefusal) in
            let body = try Self.members(
                call,
                required: ["title"],
                allowed: ["title", "body", "assignee", "milestone", "labels", "assignees", "type"]
            )
            var repository = try Self.repository(call, world, scopes, write: true)
            guard let title = body["title"]?.stringValue, !title.isEmpty else {
                throw GitHubRefusal(
                    422,
                    "Validation Failed",
                    errors: [["resource": "Issue", "field": "title", "code": "missing_field"]]
                )
            }
            let assignees = (body["assignees"]?.arrayValue ?? []).compactMap(\.stringValue)
            for login in assignees where !world.github.users.contains(login) {
                throw GitHubRefusal(
                    422,
                    "Validation Failed",
                    errors: [["resource": "Issue", "field": "assignees", "code": "invalid", "value": .string(login)]]
                )
            }
            let issue = GitHubWorld.Issue(
                number: repository.nextNumber,
                title: title,
                body: body["body"]?.stringValue,
                state: "open",
                stateReason: nil,
                labels: (body["labels"]?.arrayValue ?? []).compactMap(\.stringValue),
                assignees: assignees,
                user: Self.githubAccount,
                comments: []
            )
            repository.nextNumber += 1
            repository.issues.append(issue)
            world.github.repositories[repository.fullName] = repository
            return Answer(
                status: 201,
                body: Self.issueJSON(issue, repository, origin: call.origin),
                shown: .object(body)
            )
        }
        github(router, .patch, repo + "/issues/{number}") { call, world, scopes throws(GitHubRefusal) in
            let body = try Self.members(
                call,
                required: [],
                allowed: ["title", "body", "state", "state_reason", "labels", "assignees", "milestone"]
            )
            var repository = try Self.repository(call, world, scopes, write: true)
            guard let index = repository.issues.firstIndex(where: { String($0.number) == call.parameters["number"] })
            else { throw GitHubRefusal.notFound }
            var issue = repository.issues[index]
            if let state = body["state"] {
                guard state == "open" || state == "closed" else {
                    throw GitHubRefusal(422, "Validation Failed", errors: [["field": "state", "code": "invalid"]])
                }
                issue.state = state.stringValue ?? issue.state
                issue.stateReason = body["state_reason"]?.stringValue ?? (issue.state == "closed" ? "completed" : nil)
            }
            if let title = body["title"]?.stringValue { issue.title = title }
            repository.issues[index] = issue
            world.github.repositories[repository.fullName] = repository
            return Answer(
                status: 200,
                body: Self.issueJSON(issue, repository, origin: call.origin),
                shown: .object(body)
            )
        }
        github(router, .get, repo + "/issues/{number}", reads: true) { call, world, scopes throws(GitHubRefusal) in
            let repository = try Self.repository(call, world, scopes, write: false)
            guard let issue = repository.issues.first(where: { String($0.number) == call.parameters["number"] })
            else { throw GitHubRefusal.notFound }
            var json = Self.issueJSON(issue, repository, origin: call.origin).objectValue ?? [:]
            json["comments"] = .number(Double(issue.comments.count))
            return Answer(status: 200, body: .object(json))
        }
        github(router, .get, repo + "/issues/{number}/comments", reads: true) {
            call,
            world,
            scopes throws(GitHubRefusal) in
            let repository = try Self.repository(call, world, scopes, write: false)
            guard let issue = repository.issues.first(where: { String($0.number) == call.parameters["number"] })
            else { throw GitHubRefusal.notFound }
            let limit = min(Int(call.query["per_page"] ?? "30") ?? 30, 100)
            let url = "\(Self.htmlURL(repository, origin: call.origin))/issues/\(issue.number)"
            return Answer(
                status: 200,
                body: .array(
                    issue.comments.prefix(limit).map { comment in
                        [
                            "id": .number(Double(comment.id)), "body": .string(comment.body),
                            "user": ["login": .string(comment.user)],
                            "html_url": .string("\(url)#issuecomment-\(comment.id)"),
                        ]
                    }
                )
            )
        }
        github(router, .post, repo + "/issues/{number}/comments") { call, world, scopes throws(GitHubRefusal) in
            let body = try Self.members(call, required: ["body"], allowed: ["body"])
            var repository = try Self.repository(call, world, scopes, write: true)
            guard let index = repository.issues.firstIndex(where: { String($0.number) == call.parameters["number"] })
            else { throw GitHubRefusal.notFound }
            let comment = GitHubWorld.Comment(
                id: 9000 + world.next(),
                body: body["body"]?.stringValue ?? "",
                user: Self.githubAccount
            )
            repository.issues[index].comments.append(comment)
            world.github.repositories[repository.fullName] = repository
            let url = "\(Self.htmlURL(repository, origin: call.origin))/issues/\(repository.issues[index].number)"
            return Answer(
                status: 201,
                body: [
                    "id": .number(Double(comment.id)), "body": .string(comment.body),
                    "html_url": .string("\(url)#issuecomment-\(comment.id)"),
                ],
                shown: .object(body)
            )
        }
        github(router, .post, repo + "/git/refs") { call, world, scopes throws(GitHubRefusal) in
            let body = try Self.members(call, required: ["ref", "sha"], allowed: ["ref", "sha"])
            var repository = try Self.repository(call, world, scopes, write: true)
            guard let ref = body["ref"]?.stringValue, ref.hasPrefix("refs/heads/"), ref.count > 11 else {
                throw GitHubRefusal(422, "Reference name must start with 'refs/' and have at least two slashes.")
            }
            let branch = String(ref.dropFirst(11))
            guard repository.branches[branch] == nil else { throw GitHubRefusal(422, "Reference already exists") }
            let sha = body["sha"]?.stringValue ?? ""
            guard let source = repository.branches.first(where: { $0.value == sha })?.key else {
                throw GitHubRefusal(422, "Object does not exist")
            }
            repository.branches[branch] = sha
            repository.files[branch] = repository.files[source]
            world.github.repositories[repository.fullName] = repository
            return Answer(
                status: 201,
                body: ["ref": .string(ref), "object": ["sha": .string(sha), "type": "commit"]],
                shown: .object(body)
            )
        }
        github(router, .delete, repo + "/git/refs/heads/**") { call, world, scopes throws(GitHubRefusal) in
            var repository = try Self.repository(call, world, scopes, write: true)
            let branch = call.tail.removingPercentEncoding ?? call.tail
            guard repository.branches[branch] != nil else { throw GitHubRefusal(422, "Reference does not exist") }
            guard !repository.protectedBranches.contains(branch), branch != repository.defaultBranch else {
                throw GitHubRefusal(422, "Cannot delete this protected branch")
            }
            repository.branches[branch] = nil
            repository.files[branch] = nil
            world.github.repositories[repository.fullName] = repository
            return Answer(status: 204)
        }
        github(router, .put, repo + "/contents/**") { call, world, scopes throws(GitHubRefusal) in
            let body = try Self.members(
                call,
                required: ["message", "content"],
                allowed: ["message", "content", "sha", "branch", "committer", "author"]
            )
            var repository = try Self.repository(call, world, scopes, write: true)
            let path = call.tail.removingPercentEncoding ?? call.tail
            let branch = body["branch"]?.stringValue ?? repository.defaultBranch
            guard repository.branches[branch] != nil else {
                throw GitHubRefusal(404, "Branch \(branch) not found")
            }
            guard let encoded = body["content"]?.stringValue, let data = Data(base64Encoded: encoded),
                let content = String(data: data, encoding: .utf8)
            else {
                throw GitHubRefusal(422, "content is not valid Base64")
            }
            let existing = repository.files[branch]?[path]
            if let existing {
                guard let sha = body["sha"]?.stringValue else {
                    throw GitHubRefusal(422, "Invalid request.\n\n\"sha\" wasn't supplied.")
                }
                guard sha == existing.sha else { throw GitHubRefusal(409, "\(path) does not match \(sha)") }
            }
            let file = GitHubWorld.File(content: content, sha: Self.blobSHA(content))
            repository.files[branch, default: [:]][path] = file
            let commit = Self.sha1("commit \(path) \(file.sha) \(world.next())")
            repository.branches[branch] = commit
            world.github.repositories[repository.fullName] = repository
            var shown = body
            shown["content"] = .string("(\(content.utf8.count) bytes, Base64)")
            return Answer(
                status: existing == nil ? 201 : 200,
                body: [
                    "content": [
                        "name": .string(String(path.split(separator: "/").last ?? "")), "path": .string(path),
                        "sha": .string(file.sha),
                        "html_url": .string("\(Self.htmlURL(repository, origin: call.origin))/blob/\(branch)/\(path)"),
                    ],
                    "commit": ["sha": .string(commit), "message": body["message"] ?? .null],
                ],
                shown: .object(shown)
            )
        }
        github(router, .post, repo + "/releases") { call, world, scopes throws(GitHubRefusal) in
            let body = try Self.members(
                call,
                required: ["tag_name"],
                allowed: [
                    "tag_name", "target_commitish", "name", "body", "draft", "prerelease", "discussion_category_name",
                    "generate_release_notes", "make_latest",
                ]
            )
            var repository = try Self.repository(call, world, scopes, write: true)
            let tag = body["tag_name"]?.stringValue ?? ""
            guard !repository.releases.contains(where: { $0.tag == tag }) else {
                throw GitHubRefusal(
                    422,
                    "Validation Failed",
                    errors: [["resource": "Release", "code": "already_exists", "field": "tag_name"]]
                )
            }
            let release = GitHubWorld.Release(
                id: world.next(),
                tag: tag,
                name: body["name"]?.stringValue,
                target: body["target_commitish"]?.stringValue ?? repository.defaultBranch,
                draft: body["draft"] == true,
                prerelease: body["prerelease"] == true
            )
            repository.releases.append(release)
            world.github.repositories[repository.fullName] = repository
            return Answer(
                status: 201,
                body: [
                    "id": .number(Double(release.id)), "tag_name": .string(tag),
                    "html_url": .string("\(Self.htmlURL(repository, origin: call.origin))/releases/tag/\(tag)"),
                    "draft": .bool(release.draft), "prerelease": .bool(release.prerelease),
                ],
                shown: .object(body)
            )
        }
        github(router, .put, repo + "/collaborators/{username}") { call, world, scopes throws(GitHubRefusal) in
            let body = try Self.members(call, required: [], allowed: ["permission"])
            var repository = try Self.repository(call, world, scopes, write: true, admin: true)
            let login = call.parameters["username"] ?? ""
            guard world.github.users.contains(login) else { throw GitHubRefusal.notFound }
            let permission = body["permission"]?.stringValue ?? "push"
            guard ["pull", "triage", "push", "maintain", "admin"].contains(permission) else {
                throw GitHubRefusal(422, "Validation Failed", errors: [["field": "permission", "code": "invalid"]])
            }
            let invited = repository.collaborators[login] == nil
            repository.collaborators[login] = permission
            world.github.repositories[repository.fullName] = repository
            guard invited else { return Answer(status: 204, shown: .object(body)) }
            return Answer(
                status: 201,
                body: [
                    "id": .number(Double(world.next())), "permissions": .string(permission),
                    "invitee": ["login": .string(login)],
                ],
                shown: .object(body)
            )
        }
    }

    /// Registers a GitHub route with the checks every call gets: the headers GitHub requires, a
    /// live token the sandbox issued, and nothing of Countersign's besides the token.
    private func github<Context: RequestContext>(
        _ router: Router<Context>,
        _ method: HTTPRequest.Method,
        _ path: String,
        reads: Bool = false,
        _ handler: @escaping GitHubHandler
    ) {
        router.on(RouterPath(path), method: method) { request, context in
            try await self.handle(request, .github, context: context) { call in
                var scopes: [String] = []
                let checked: Answer? = self.world.withLock { world in
                    switch Self.githubHeaders(call, world) {
                    case .success(let granted):
                        scopes = granted
                        return nil
                    case .failure(let refusal):
                        return Answer(status: refusal.status, headers: refusal.headers, body: refusal.body)
                    }
                }
                if let checked { return checked }
                func run(_ world: inout SandboxWorld) -> Answer {
                    var headers: HTTPFields = [HTTPField.Name("X-OAuth-Scopes")!: scopes.joined(separator: ", ")]
                    do {
                        var answer = try handler(call, &world, scopes)
                        for field in answer.headers { headers[field.name] = field.value }
                        answer.headers = headers
                        return answer
                    } catch {
                        for field in error.headers { headers[field.name] = field.value }
                        return Answer(
                            status: error.status,
                            headers: headers,
                            body: error.body,
                            shown: call.json ?? .null
                        )
                    }
                }
                return try self.transact(reads: reads, run)
            }
        }
    }

    /// The headers GitHub requires, and the token's scopes.
    static func githubHeaders(_ call: Call, _ world: SandboxWorld) -> Result<[String], GitHubRefusal> {
        let headers = call.request.headers
        for field in headers
        where field.name.canonicalName.hasPrefix("x-countersign") || field.name == .cookie
            || field.name == .proxyAuthorization
        {
            return .failure(
                GitHubRefusal(
                    400,
                    "The sandbox refuses a request that carries \(field.name): only the token may reach GitHub."
                )
            )
        }
        guard headers[.accept] == "application/vnd.github+json" else {
            return .failure(
                GitHubRefusal(415, "The sandbox checks what GitHub documents: Accept: application/vnd.github+json")
            )
        }
        guard headers[HTTPField.Name("X-GitHub-Api-Version")!] == "2022-11-28" else {
            return .failure(
                GitHubRefusal(
                    400,
                    "API version '\(headers[HTTPField.Name("X-GitHub-Api-Version")!] ?? "")' is not supported."
                )
            )
        }
        guard !(headers[.userAgent] ?? "").isEmpty else {
            return .failure(
                GitHubRefusal(
                    403,
                    "Request forbidden by administrative rules. Please make sure your request has a User-Agent header."
                )
            )
        }
        guard let digest = call.tokenSHA256 else { return .failure(GitHubRefusal(401, "Requires authentication")) }
        guard let (_, token) = world.liveGrant(tokenSHA256: digest, service: "github", now: Date()) else {
            return .failure(GitHubRefusal(401, "Bad credentials"))
        }
        if !call.body.isEmpty, headers[.contentType]?.hasPrefix("application/json") != true {
            return .failure(GitHubRefusal(415, "Unsupported Media Type: send the body as application/json"))
        }
        return .success(token.scopes)
    }

    /// The repository a call names, if the token may see it (and change it, for `write`).
    static func repository(
        _ call: Call,
        _ world: SandboxWorld,
        _ scopes: [String],
        write: Bool,
        admin: Bool = false
    ) throws(GitHubRefusal) -> GitHubWorld.Repository {
        let name = "\(call.parameters["owner"] ?? "")/\(call.parameters["repo"] ?? "")"
        guard let repository = world.github.repositories[name] else { throw .notFound }
        // A private repository is invisible without `repo`: GitHub answers 404, not 403.
        if repository.isPrivate && !scopes.contains("repo") { throw .notFound }
        if write {
            guard scopes.contains("repo") || (!repository.isPrivate && scopes.contains("public_repo")) else {
                throw GitHubRefusal(
                    403,
                    "Resource not accessible by this token: it needs the repo scope.",
                    headers: [HTTPField.Name("X-Accepted-OAuth-Scopes")!: "repo, public_repo"]
                )
            }
            // Settings (unarchiving, visibility) and deletion remain an admin's; content is read-only.
            if repository.archived && !admin {
                throw GitHubRefusal(403, "Repository was archived so is read-only.")
            }
        }
        return repository
    }

    /// The body's members, checked as GitHub checks them: a JSON object, the required members,
    /// nothing it does not take.
    static func members(
        _ call: Call,
        required: [String],
        allowed: Set<String>
    ) throws(GitHubRefusal) -> [String: JSONValue] {
        do {
            return try bodyMembers(call, required: required, allowed: allowed)
        } catch {
            switch error {
            case .notAnObject: throw GitHubRefusal(400, "Problems parsing JSON")
            case .unknown(let key): throw GitHubRefusal(422, "Invalid request.\n\n\"\(key)\" is not a permitted key.")
            case .missing(let key): throw GitHubRefusal(422, "Invalid request.\n\n\"\(key)\" wasn't supplied.")
            }
        }
    }

    /// GitHub's grant revocation: the app's client credentials (HTTP Basic) and the access token.
    private func githubRevoke(_ call: Call) throws -> Answer {
        guard let (clientID, secret) = call.basicCredentials else {
            return Answer(status: 401, body: ["message": "Requires authentication"])
        }
        return try mutate { world in
            guard let client = world.clients["github"], client.id == clientID,
                client.id == call.parameters["client_id"],
                ConstantTime.equals(Array(Self.digest(secret).utf8), Array(client.secretSHA256.utf8))
            else { return Answer(status: 404, body: ["message": "Not Found"]) }
            guard let access = call.json?["access_token"]?.stringValue,
                let token = world.tokens[Self.digest(access)]
            else {
                return Answer(
                    status: 422,
                    body: ["message": "Validation Failed"],
                    shown: ["access_token": "[redacted]"]
                )
            }
            world.revoke(grant: token.grant)
            return Answer(status: 204, shown: ["access_token": "[redacted]"])
        }
    }

    // MARK: GitHub's shapes

    static func htmlURL(_ repository: GitHubWorld.Repository, origin: String) -> String {
        "\(origin)/sandbox/view/github/\(repository.fullName)"
    }

    static func repositoryJSON(_ repository: GitHubWorld.Repository, origin: String) -> JSONValue {
        [
            "name": .string(repository.name), "full_name": .string(repository.fullName),
            "owner": ["login": .string(repository.owner)], "private": .bool(repository.isPrivate),
            "visibility": .string(repository.isPrivate ? "private" : "public"), "fork": .bool(repository.fork),
            "html_url": .string(htmlURL(repository, origin: origin)),
            "stargazers_count": .number(Double(repository.stars)), "forks_count": .number(Double(repository.forks)),
            "open_issues_count": .number(
                Double(
                    repository.issues.filter { $0.state == "open" }.count
                        + repository.pulls.filter { $0.state == "open" }.count
                )
            ),
            "pushed_at": .string(repository.pushedAt), "archived": .bool(repository.archived),
            "default_branch": .string(repository.defaultBranch),
        ]
    }

    static func issueJSON(
        _ issue: GitHubWorld.Issue,
        _ repository: GitHubWorld.Repository,
        origin: String
    )
        -> JSONValue
    {
        [
            "number": .number(Double(issue.number)), "title": .string(issue.title),
            "body": issue.body.map(JSONValue.string) ?? .null, "state": .string(issue.state),
            "state_reason": issue.stateReason.map(JSONValue.string) ?? .null,
            "labels": .array(issue.labels.map { ["name": .string($0)] }),
            "assignees": .array(issue.assignees.map { ["login": .string($0)] }), "user": ["login": .string(issue.user)],
            "html_url": .string("\(htmlURL(repository, origin: origin))/issues/\(issue.number)"),
        ]
    }

    static func pullJSON(_ pull: GitHubWorld.Pull, _ repository: GitHubWorld.Repository, origin: String) -> JSONValue {
        let head = repository.files[pull.head] ?? [:]
        let base = repository.files[pull.base] ?? [:]
        let changed = Set(head.keys).union(base.keys).filter { head[$0]?.sha != base[$0]?.sha }.count
        return [
            "number": .number(Double(pull.number)), "title": .string(pull.title), "state": .string(pull.state),
            "merged": .bool(pull.merged), "draft": .bool(pull.draft),
            "head": ["ref": .string(pull.head), "sha": .string(repository.branches[pull.head] ?? "")],
            "base": ["ref": .string(pull.base), "sha": .string(repository.branches[pull.base] ?? "")],
            "html_url": .string("\(htmlURL(repository, origin: origin))/pull/\(pull.number)"),
            "commits": .number(pull.merged ? 0 : 1), "changed_files": .number(Double(changed)),
        ]
    }
}
