public import Countersign
import CountersignVault
import Crypto
import Foundation
public import Hummingbird
import Synchronization

/// The demo's chat service, served under `/sandbox/`: an OAuth 2.0 authorization server and a
/// small chat API, so that `countersign demo` connects an account and vends a token through the
/// vault exactly as it would with Slack.
///
/// It holds its users' consent as given (the demo principal's account, `dana`), but checks
/// everything else as a provider does: the registered client and its secret, the exact redirect
/// URI, PKCE S256, single-use codes, refresh-token rotation (a reused refresh token revokes its
/// family), scopes on every API call.
public final class SandboxChat: Sendable {
    /// A posted message.
    public struct Message: Sendable, Hashable {
        public let channel: String
        public let text: String
        public let user: String
    }

    private struct Client: Sendable {
        var id: String
        var secretHash: [UInt8]
        var redirectURI: String
        var issuer: String
    }

    private struct Grant: Sendable {
        var account: String
        var scopes: [String]
        var current: String
        var revoked = false
    }

    private struct State: Sendable {
        var client: Client?
        var codes: [String: (challenge: String, redirectURI: String, scopes: [String], used: Bool)] = [:]
        var grants: [Int: Grant] = [:]
        var grantOfRefresh: [String: Int] = [:]
        var accessTokens: [String: (grant: Int, scopes: [String], expires: Date)] = [:]
        var messages: [Message] = []
    }

    private let state = Mutex(State())
    /// The account every consent is given for.
    public let account: String

    /// Creates the service; it answers nothing until a client is registered.
    public init(account: String) {
        self.account = account
    }

    /// Registers the one client allowed (Countersign's), with its secret and redirect URI.
    public func register(clientID: String, clientSecret: Secret, redirectURI: String, issuer: String) {
        state.withLock {
            $0.client = Client(
                id: clientID,
                secretHash: Array(SHA256.hash(data: Array(clientSecret.reveal().utf8))),
                redirectURI: redirectURI,
                issuer: issuer
            )
        }
    }

    /// The messages posted so far.
    public var messages: [Message] { state.withLock { $0.messages } }

    /// Adds the routes under `/sandbox/`.
    public func add<Context: RequestContext>(to router: Router<Context>) {
        router.get("/sandbox/oauth/authorize") { request, _ in self.authorize(request) }
        router.post("/sandbox/oauth/token") { request, _ in try await self.token(request) }
        router.post("/sandbox/oauth/revoke") { request, _ in try await self.revoke(request) }
        router.post("/sandbox/api/chat.postMessage") { request, _ in try await self.post(request) }
        router.get("/sandbox/api/me") { request, _ in self.me(request) }
    }

    private func authorize(_ request: Request) -> Response {
        var query: [String: String] = [:]
        for (name, value) in request.uri.queryParameters where query[String(name)] == nil {
            query[String(name)] = String(value)
        }
        guard let client = state.withLock({ $0.client }), query["client_id"] == client.id else {
            return Self.json(400, ["error": "invalid_client"])
        }
        // Never redirect anywhere but the registered URI: answer the browser instead.
        guard query["redirect_uri"] == client.redirectURI else { return Self.json(400, ["error": "invalid_request"]) }
        guard query["response_type"] == "code", query["code_challenge_method"] == "S256",
            let challenge = query["code_challenge"], challenge.utf8.count == 43, let stateValue = query["state"]
        else {
            return Self.json(400, ["error": "invalid_request", "error_description": "PKCE S256 and state required"])
        }
        let scopes = (query["scope"] ?? "").split(separator: " ").map(String.init).sorted()
        let code = Self.random()
        state.withLock { $0.codes[code] = (challenge, client.redirectURI, scopes, false) }
        let location =
            "\(client.redirectURI)?code=\(code)&state=\(Self.escape(stateValue))&iss=\(Self.escape(client.issuer))"
        return Response(status: .found, headers: [.location: location, .cacheControl: "no-store"])
    }

    private func token(_ request: Request) async throws -> Response {
        guard let form = try await Self.form(request) else { return Self.json(400, ["error": "invalid_request"]) }
        return state.withLock { state in
            guard let client = state.client, form["client_id"] == client.id,
                ConstantTime.equals(
                    Array(SHA256.hash(data: Array((form["client_secret"] ?? "").utf8))),
                    client.secretHash
                )
            else { return Self.json(401, ["error": "invalid_client"]) }
            switch form["grant_type"] {
            case "authorization_code":
                guard let code = form["code"], var grant = state.codes[code], !grant.used,
                    form["redirect_uri"] == grant.redirectURI, let verifier = form["code_verifier"],
                    Self.challenge(verifier) == grant.challenge
                else { return Self.json(400, ["error": "invalid_grant"]) }
                grant.used = true
                state.codes[code] = grant
                let id = state.grants.count + 1
                let refresh = "sbr_" + Self.random()
                state.grants[id] = Grant(account: account, scopes: grant.scopes, current: refresh)
                state.grantOfRefresh[refresh] = id
                return Self.issue(grant: id, scopes: grant.scopes, refresh: refresh, account: account, in: &state)
            case "refresh_token":
                guard let token = form["refresh_token"], let id = state.grantOfRefresh[token],
                    var grant = state.grants[id], !grant.revoked
                else { return Self.json(400, ["error": "invalid_grant"]) }
                guard grant.current == token else {
                    grant.revoked = true
                    state.grants[id] = grant
                    state.accessTokens = state.accessTokens.filter { $0.value.grant != id }
                    return Self.json(400, ["error": "invalid_grant", "error_description": "refresh token reused"])
                }
                var scopes = grant.scopes
                if let asked = form["scope"] {
                    scopes = asked.split(separator: " ").map(String.init).sorted()
                    guard Set(scopes).isSubset(of: grant.scopes) else {
                        return Self.json(400, ["error": "invalid_scope"])
                    }
                }
                let refresh = "sbr_" + Self.random()
                grant.current = refresh
                state.grants[id] = grant
                state.grantOfRefresh[refresh] = id
                return Self.issue(grant: id, scopes: scopes, refresh: refresh, account: grant.account, in: &state)
            default:
                return Self.json(400, ["error": "unsupported_grant_type"])
            }
        }
    }

    private static func issue(
        grant: Int,
        scopes: [String],
        refresh: String,
        account: String,
        in state: inout State
    )
        -> Response
    {
        let access = "sba_" + random()
        state.accessTokens[access] = (grant, scopes, Date().addingTimeInterval(300))
        return json(
            200,
            [
                "access_token": .string(access), "token_type": "Bearer", "expires_in": 300,
                "refresh_token": .string(refresh), "scope": .string(scopes.joined(separator: " ")),
            ]
        )
    }

    private func revoke(_ request: Request) async throws -> Response {
        guard let token = try await Self.form(request)?["token"] else {
            return Self.json(400, ["error": "invalid_request"])
        }
        state.withLock { state in
            guard let id = state.grantOfRefresh[token] ?? state.accessTokens[token]?.grant else { return }
            state.grants[id]?.revoked = true
            state.accessTokens = state.accessTokens.filter { $0.value.grant != id }
        }
        return Response(status: .ok)
    }

    /// Who a token belongs to (as GitHub's `/user` says it with `login`).
    private func me(_ request: Request) -> Response {
        let bearer = request.headers[.authorization].flatMap { $0.hasPrefix("Bearer ") ? String($0.dropFirst(7)) : nil }
        return state.withLock { state in
            guard let bearer, let token = state.accessTokens[bearer], token.expires > Date(),
                let grant = state.grants[token.grant], !grant.revoked
            else { return Self.json(401, ["ok": false, "error": "invalid_auth"]) }
            return Self.json(200, ["login": .string(grant.account)])
        }
    }

    private func post(_ request: Request) async throws -> Response {
        var request = request
        let bearer = request.headers[.authorization].flatMap { $0.hasPrefix("Bearer ") ? String($0.dropFirst(7)) : nil }
        let body = try await request.collectBody(upTo: 1 << 16)
        return state.withLock { state in
            guard let bearer, let token = state.accessTokens[bearer], token.expires > Date(),
                state.grants[token.grant]?.revoked == false
            else { return Self.json(401, ["ok": false, "error": "invalid_auth"]) }
            guard token.scopes.contains("chat:write") else {
                return Self.json(403, ["ok": false, "error": "missing_scope", "needed": "chat:write"])
            }
            guard let message = try? JSONParser().parse(Array(buffer: body)),
                let channel = message["channel"]?.stringValue, let text = message["text"]?.stringValue
            else { return Self.json(400, ["ok": false, "error": "invalid_arguments"]) }
            state.messages.append(Message(channel: channel, text: text, user: state.grants[token.grant]?.account ?? ""))
            return Self.json(200, ["ok": true, "channel": .string(channel), "ts": .string("\(state.messages.count)")])
        }
    }

    // MARK: Helpers

    private static func form(_ request: Request) async throws -> [String: String]? {
        var request = request
        guard request.headers[.contentType] == "application/x-www-form-urlencoded" else { return nil }
        return FormEncoding.fields(String(buffer: try await request.collectBody(upTo: 1 << 16)))
    }

    private static func challenge(_ verifier: String) -> String {
        base64URL(Array(SHA256.hash(data: Array(verifier.utf8))))
    }

    private static func random() -> String {
        var generator = SystemRandomNumberGenerator()
        return base64URL((0..<32).map { _ in UInt8.random(in: .min ... .max, using: &generator) })
    }

    private static func base64URL(_ bytes: [UInt8]) -> String {
        Data(bytes).base64EncodedString().replacingOccurrences(of: "+", with: "-")
            .replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
    }

    private static func escape(_ text: String) -> String {
        text.addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(CharacterSet(charactersIn: "-._~")))
            ?? ""
    }

    private static func json(_ status: Int, _ value: JSONValue) -> Response {
        Response(
            status: .init(code: status),
            headers: [.contentType: "application/json", .cacheControl: "no-store"],
            body: ResponseBody(byteBuffer: ByteBuffer(bytes: CanonicalJSON.bytes(value)))
        )
    }
}
