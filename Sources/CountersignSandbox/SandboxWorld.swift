import Foundation

/// Everything the sandbox providers hold, persisted as JSON in the data directory.
///
/// Secrets the sandbox issues (authorization codes, access and refresh tokens, client secrets) are
/// kept only as SHA-256 digests, as a provider keeps them; the file never holds one.
struct SandboxWorld: Codable, Sendable {
    /// A client registered with one of the sandbox's authorization servers.
    struct Client: Codable, Sendable {
        var id: String
        var secretSHA256: String
        var redirectURI: String
    }

    /// An authorization code, single use, bound to PKCE and the redirect URI.
    struct Code: Codable, Sendable {
        var service: String
        var clientID: String
        var challenge: String?
        var redirectURI: String
        var scopes: [String]
        var expires: Date
        var used: Bool
    }

    /// A grant: one account's consent to a client, with its current refresh token.
    struct Grant: Codable, Sendable {
        var id: Int
        var service: String
        var account: String
        var scopes: [String]
        var refreshSHA256: String
        /// Refresh tokens rotated away: presenting one again revokes the grant.
        var retiredRefreshSHA256s: [String]
        var revoked: Bool
    }

    /// An access token the sandbox issued.
    struct IssuedToken: Codable, Sendable {
        var grant: Int
        var scopes: [String]
        var expires: Date
    }

    var clients: [String: Client] = [:]
    var codes: [String: Code] = [:]
    var grants: [Int: Grant] = [:]
    var tokens: [String: IssuedToken] = [:]
    var github = GitHubWorld.seed()
    var slack = SlackWorld.seed()
    var google = GoogleWorld.seed()
    var counter = 0

    /// A number that grows with every use (ids, timestamps, SHAs).
    mutating func next() -> Int {
        counter += 1
        return counter
    }

    /// The grant behind a live access token (by its digest), if it is live.
    func liveGrant(tokenSHA256: String, service: String, now: Date) -> (Grant, IssuedToken)? {
        guard let token = tokens[tokenSHA256], token.expires > now, let grant = grants[token.grant], !grant.revoked,
            grant.service == service
        else { return nil }
        return (grant, token)
    }

    /// Revokes a grant and every access token it issued.
    mutating func revoke(grant id: Int) {
        grants[id]?.revoked = true
        tokens = tokens.filter { $0.value.grant != id }
    }
}

/// The sandbox's GitHub: users, repositories and what they hold.
struct GitHubWorld: Codable, Sendable {
    struct File: Codable, Sendable {
        var content: String
        var sha: String
    }

    struct Comment: Codable, Sendable {
        var id: Int
        var body: String
        var user: String
    }

    struct Issue: Codable, Sendable {
        var number: Int
        var title: String
        var body: String?
        var state: String
        var stateReason: String?
        var labels: [String]
        var assignees: [String]
        var user: String
        var comments: [Comment]
    }

    struct Pull: Codable, Sendable {
        var number: Int
        var title: String
        var body: String?
        var head: String
        var base: String
        var state: String
        var merged: Bool
        var draft: Bool
    }

    struct Release: Codable, Sendable {
        var id: Int
        var tag: String
        var name: String?
        var target: String
        var draft: Bool
        var prerelease: Bool
    }

    struct Repository: Codable, Sendable {
        var owner: String
        var name: String
        var isPrivate: Bool
        var fork: Bool
        var stars: Int
        var forks: Int
        var pushedAt: String
        var archived: Bool
        var defaultBranch: String
        var protectedBranches: [String]
        /// Branch name → head commit.
        var branches: [String: String]
        /// Branch name → path → file.
        var files: [String: [String: File]]
        var issues: [Issue]
        var pulls: [Pull]
        var releases: [Release]
        /// Login → permission.
        var collaborators: [String: String]
        var nextNumber: Int

        var fullName: String { "\(owner)/\(name)" }
    }

    var users: [String]
    var repositories: [String: Repository]

    static func seed() -> GitHubWorld {
        func repository(
            _ owner: String,
            _ name: String,
            isPrivate: Bool,
            fork: Bool = false,
            stars: Int,
            forks: Int,
            pushedAt: String,
            protected: [String] = [],
            files: [String: String],
            pulls: [Pull] = []
        ) -> Repository {
            let head = Sandbox.sha1("commit \(owner)/\(name) main")
            var tree: [String: File] = [:]
            for (path, content) in files { tree[path] = File(content: content, sha: Sandbox.blobSHA(content)) }
            return Repository(
                owner: owner,
                name: name,
                isPrivate: isPrivate,
                fork: fork,
                stars: stars,
                forks: forks,
                pushedAt: pushedAt,
                archived: false,
                defaultBranch: "main",
                protectedBranches: protected,
                branches: ["main": head],
                files: ["main": tree],
                issues: [],
                pulls: pulls,
                releases: [],
                collaborators: [:],
                nextNumber: pulls.count + 1
            )
        }
        let feature = Pull(
            number: 1,
            title: "Faster sync",
            body: "Batches the sync requests.",
            head: "faster-sync",
            base: "main",
            state: "open",
            merged: false,
            draft: false
        )
        var app = repository(
            "acme",
            "app",
            isPrivate: true,
            stars: 12,
            forks: 1,
            pushedAt: "2026-11-27T16:40:00Z",
            protected: ["main"],
            files: ["README.md": "# app\n\nAcme's app.\n", "CHANGELOG.md": "## 1.3\n- first public beta\n"],
            pulls: [feature]
        )
        app.branches["faster-sync"] = Sandbox.sha1("commit acme/app faster-sync")
        app.files["faster-sync"] = app.files["main"]
        let repositories = [
            app,
            repository(
                "acme",
                "website",
                isPrivate: false,
                stars: 4210,
                forks: 312,
                pushedAt: "2026-11-28T09:12:00Z",
                protected: ["main"],
                files: ["index.html": "<h1>Acme</h1>\n"]
            ),
            repository(
                "dana",
                "old-prototype",
                isPrivate: true,
                fork: true,
                stars: 0,
                forks: 0,
                pushedAt: "2025-02-03T11:00:00Z",
                files: ["README.md": "# prototype\n"]
            ),
        ]
        return GitHubWorld(
            users: ["dana", "bob", "carl", "mallory-external"],
            repositories: Dictionary(uniqueKeysWithValues: repositories.map { ($0.fullName, $0) })
        )
    }
}

/// The sandbox's Slack workspace: its team, people, channels, messages and files.
struct SlackWorld: Codable, Sendable {
    struct Message: Codable, Sendable {
        var ts: String
        var user: String
        var text: String
        var threadTS: String?
        var edited: Bool
    }

    struct Channel: Codable, Sendable {
        var id: String
        var name: String
        var isPrivate: Bool
        var isExtShared: Bool
        var members: [String]
        /// How many people an externally shared channel has beyond the listed members.
        var otherMembers: Int
        var archived: Bool
        var messages: [Message]
    }

    struct File: Codable, Sendable {
        var id: String
        var name: String
        var length: Int
        var received: Int?
        var title: String?
        var channel: String?
    }

    var teamID: String
    var teamName: String
    /// User id → display name.
    var users: [String: String]
    var channels: [String: Channel]
    var files: [String: File]

    static func seed() -> SlackWorld {
        let people = ["U0DANA0001": "dana", "U0BOB00001": "bob", "U0CARL0001": "carl"]
        let channels = [
            Channel(
                id: "C0RELEASES1",
                name: "releases",
                isPrivate: false,
                isExtShared: false,
                members: ["U0DANA0001", "U0BOB00001", "U0CARL0001"],
                otherMembers: 0,
                archived: false,
                messages: []
            ),
            Channel(
                id: "C0PARTNERS1",
                name: "all-partners",
                isPrivate: false,
                isExtShared: true,
                members: ["U0DANA0001", "U0BOB00001"],
                otherMembers: 3998,
                archived: false,
                messages: []
            ),
        ]
        return SlackWorld(
            teamID: "T0SANDBOX1",
            teamName: "Acme (sandbox)",
            users: people,
            channels: Dictionary(uniqueKeysWithValues: channels.map { ($0.id, $0) }),
            files: [:]
        )
    }

    /// A channel by id, or by name (`#releases` or `releases`).
    func channelID(_ reference: String) -> String? {
        if channels[reference] != nil { return reference }
        let name = reference.hasPrefix("#") ? String(reference.dropFirst()) : reference
        return channels.values.first { $0.name == name }?.id
    }
}
