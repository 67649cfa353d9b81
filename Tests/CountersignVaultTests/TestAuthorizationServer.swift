import Countersign
import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Synchronization
import Testing

@testable import CountersignVault

/// An OAuth 2.0 authorization server on 127.0.0.1 for tests.
///
/// It checks requests the way providers document them: PKCE S256 (RFC 7636), exact redirect URIs, single-use codes, client authentication in the
/// provider's way, and refresh-token rotation where reusing a used refresh token revokes its whole
/// family (as Auth0 and Okta do). It answers in the dialect of the provider it stands in for.
final class TestAuthorizationServer: Sendable {
    enum Dialect: Sendable { case standard, github, slack }

    struct Configuration: Sendable {
        var dialect: Dialect
        var clientID = "client-123"
        var clientSecret = "client-secret-CANARY-9f8e7d"
        var redirectURI = "http://127.0.0.1:9/oauth/callback"
        var rotates = true
        var accessLifetime = 3600
        var issuer: String?
        /// How long a token call takes (to widen race windows).
        var delay: Duration = .zero
        /// A GitHub OAuth app: tokens that never expire, and no refresh token.
        var oauthApp = false
    }

    struct Family: Sendable {
        var current: String
        var used: Set<String> = []
        var revoked = false
        var scopes: [String]
        var account: String
    }

    struct Code: Sendable {
        var challenge: String
        var redirectURI: String
        var scopes: [String]
        var account: String
        var used = false
    }

    struct State: Sendable {
        var codes: [String: Code] = [:]
        var families: [Int: Family] = [:]
        var familyOfRefreshToken: [String: Int] = [:]
        var familyOfAccessToken: [String: Int] = [:]
        var refreshes = 0
        var exchanges = 0
        var revocations: [String] = []
        var refreshScopes: [String?] = []
        var scripted: [ScriptedAnswer] = []
        var counter = 0
        var refusals: [String] = []
    }

    let configuration: Configuration
    let state = Mutex(State())

    init(_ configuration: Configuration) {
        self.configuration = configuration
    }

    /// Issues a family for a grant made elsewhere (a connection imported with its refresh token).
    func grant(scopes: [String], account: String) -> String {
        state.withLock { state in
            state.counter += 1
            let token = "rt_CANARY_\(state.counter)_\(UUID().uuidString.prefix(8))"
            state.families[state.counter] = Family(current: token, scopes: scopes, account: account)
            state.familyOfRefreshToken[token] = state.counter
            return token
        }
    }

    /// The next token call answers this instead.
    func script(status: Int, body: String, retryAfter: String? = nil) {
        state.withLock { $0.scripted.append(ScriptedAnswer(status: status, body: body, retryAfter: retryAfter)) }
    }

    var refreshes: Int { state.withLock { $0.refreshes } }

    /// Runs the server for the duration of `body`, which receives its base URL.
    func run<T: Sendable>(_ body: @Sendable (String) async throws -> T) async throws -> T {
        let router = Router()
        router.get("/authorize") { request, _ in try self.authorize(request) }
        router.post("/token") { request, _ in try await self.token(request) }
        router.post("/revoke") { request, _ in try await self.revokeStandard(request) }
        router.delete("/applications/:client/grant") { request, context in
            try await self.revokeGitHub(request, client: context.parameters.get("client") ?? "")
        }
        router.post("/api/auth.revoke") { request, _ in self.revokeSlack(request) }
        router.get("/user") { request, _ in self.user(request) }
        return try await serve(router, body)
    }

    /// Serves `router` on a free port of 127.0.0.1 for the duration of `body`.
    func serve<T: Sendable>(
        _ router: Router<BasicRequestContext>,
        _ body: @Sendable (String) async throws -> T
    ) async throws -> T {
        let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)))
        let result = Mutex<T?>(nil)
        try await app.test(.live) { client in
            let port = try #require(client.port)
            let value = try await body("http://127.0.0.1:\(port)")
            result.withLock { $0 = value }
        }
        return try #require(result.withLock { $0 })
    }

    // MARK: Endpoints

    private func authorize(_ request: Request) throws -> Response {
        let query = Dictionary(request.uri.queryParameters.map { (String($0.key), String($0.value)) }) { a, _ in a }
        guard query["client_id"] == configuration.clientID else { return refuse(400, "unknown client_id") }
        guard query["redirect_uri"] == configuration.redirectURI else { return refuse(400, "redirect_uri mismatch") }
        guard query["response_type"] == "code" else { return refuse(400, "response_type must be code") }
        guard query["code_challenge_method"] == "S256", let challenge = query["code_challenge"],
            challenge.count == 43
        else { return refuse(400, "PKCE S256 required") }
        guard let state = query["state"], !state.isEmpty else { return refuse(400, "state required") }
        let scopeParameter = configuration.dialect == .slack ? "user_scope" : "scope"
        let scopes = (query[scopeParameter] ?? "").split(whereSeparator: { $0 == " " || $0 == "," }).map(String.init)
        let code = "code_\(UUID().uuidString)"
        self.state.withLock {
            $0.codes[code] = Code(
                challenge: challenge,
                redirectURI: configuration.redirectURI,
                scopes: scopes,
                account: query["login_hint"] ?? (configuration.dialect == .standard ? "ana@gmail.test" : "octocat")
            )
        }
        var location = "\(configuration.redirectURI)?code=\(code)&state=\(Self.escape(state))"
        if let issuer = configuration.issuer { location += "&iss=\(Self.escape(issuer))" }
        return Response(status: .found, headers: [.location: location])
    }

    private func token(_ request: Request) async throws -> Response {
        if configuration.delay > .zero { try await Task.sleep(for: configuration.delay) }
        guard let form = try await TestAuthorizationServer.form(of: request) else {
            return refuse(415, "form body required")
        }
        if let scripted = state.withLock({ $0.scripted.isEmpty ? nil : $0.scripted.removeFirst() }) {
            return scripted.response
        }
        // Client authentication, the provider's way.
        switch configuration.dialect {
        case .slack:
            let expected =
                "Basic " + Data("\(configuration.clientID):\(configuration.clientSecret)".utf8).base64EncodedString()
            guard request.headers[.authorization] == expected, form["client_secret"] == nil else {
                return error("invalid_client")
            }
        case .standard, .github:
            guard form["client_id"] == configuration.clientID, form["client_secret"] == configuration.clientSecret
            else { return error("invalid_client", github: "incorrect_client_credentials", status: 401) }
        }
        if configuration.dialect == .github, request.headers[.accept] != "application/json" {
            // GitHub answers form-encoded unless asked for JSON.
            return Response(status: .ok, body: .init(byteBuffer: ByteBuffer(string: "error=accept_json_please")))
        }
        switch form["grant_type"] {
        case "authorization_code": return exchange(form)
        case "refresh_token": return refresh(form)
        default: return error("unsupported_grant_type")
        }
    }

    private func exchange(_ form: [String: String]) -> Response {
        state.withLock { state in
            state.exchanges += 1
            guard let code = form["code"], var grant = state.codes[code], !grant.used else {
                return error("invalid_grant", github: "bad_verification_code", slack: "invalid_code")
            }
            grant.used = true
            state.codes[code] = grant
            guard form["redirect_uri"] == grant.redirectURI else {
                return error("invalid_grant", github: "redirect_uri_mismatch", slack: "bad_redirect_uri")
            }
            guard let verifier = form["code_verifier"], (43...128).contains(verifier.count),
                Self.challenge(of: verifier) == grant.challenge
            else {
                state.refusals.append("PKCE verifier does not match the challenge")
                return error("invalid_grant", github: "bad_verification_code", slack: "invalid_code_verifier")
            }
            state.counter += 1
            let refresh = "rt_CANARY_\(state.counter)_\(UUID().uuidString.prefix(8))"
            state.families[state.counter] = Family(current: refresh, scopes: grant.scopes, account: grant.account)
            state.familyOfRefreshToken[refresh] = state.counter
            return issue(
                family: state.counter,
                refresh: configuration.oauthApp ? nil : refresh,
                scopes: grant.scopes,
                state: &state,
                first: true
            )
        }
    }

    private func refresh(_ form: [String: String]) -> Response {
        state.withLock { state in
            state.refreshes += 1
            state.refreshScopes.append(form["scope"])
            guard let token = form["refresh_token"], let id = state.familyOfRefreshToken[token],
                var family = state.families[id], !family.revoked
            else { return error("invalid_grant", github: "bad_refresh_token", slack: "invalid_refresh_token") }
            if family.current != token {
                // Reuse of a rotated refresh token: revoke the whole family.
                family.revoked = true
                state.families[id] = family
                state.familyOfAccessToken = state.familyOfAccessToken.filter { $0.value != id }
                state.refusals.append("reused refresh token; family \(id) revoked")
                return error("invalid_grant", github: "bad_refresh_token", slack: "invalid_refresh_token")
            }
            var scopes = family.scopes
            if let asked = form["scope"] {
                let wanted = asked.split(separator: " ").map(String.init)
                guard Set(wanted).isSubset(of: family.scopes) else { return error("invalid_scope") }
                scopes = wanted.sorted()
            }
            var refresh: String?
            if configuration.rotates {
                state.counter += 1
                let next = "rt_CANARY_\(state.counter)_\(UUID().uuidString.prefix(8))"
                family.used.insert(token)
                family.current = next
                state.familyOfRefreshToken[next] = id
                refresh = next
            }
            state.families[id] = family
            return issue(family: id, refresh: refresh, scopes: scopes, state: &state, first: false)
        }
    }

    private func issue(family: Int, refresh: String?, scopes: [String], state: inout State, first: Bool) -> Response {
        state.counter += 1
        let access = "at_CANARY_\(state.counter)_\(UUID().uuidString.prefix(8))"
        state.familyOfAccessToken[access] = family
        let account = state.families[family]?.account ?? ""
        var token: [String: JSONValue] = [
            "access_token": .string(access),
            "expires_in": .number(Double(configuration.accessLifetime)),
        ]
        if let refresh { token["refresh_token"] = .string(refresh) }
        if configuration.oauthApp { token["expires_in"] = nil }
        switch configuration.dialect {
        case .standard:
            token["token_type"] = "Bearer"
            token["scope"] = .string(scopes.joined(separator: " "))
            if first, scopes.contains("openid") {
                let claims: JSONValue = [
                    "iss": .string(configuration.issuer ?? "https://issuer.test"),
                    "aud": .string(configuration.clientID), "sub": "1234567890", "email": .string(account),
                    "email_verified": true,
                ]
                let encode = { (value: JSONValue) in
                    Data(CanonicalJSON.bytes(value)).base64EncodedString().replacingOccurrences(of: "=", with: "")
                        .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
                }
                token["id_token"] = .string(encode(["alg": "RS256", "kid": "k1"]) + "." + encode(claims) + ".c2ln")
            }
            return json(200, .object(token))
        case .github:
            token["token_type"] = "bearer"
            token["scope"] = .string(scopes.joined(separator: ","))
            if refresh != nil { token["refresh_token_expires_in"] = 15_897_600 }
            return json(200, .object(token))
        case .slack:
            token["token_type"] = "user"
            token["scope"] = .string(scopes.joined(separator: ","))
            let team: JSONValue = ["id": "T0TEAM", "name": "Acme"]
            if first {
                token["id"] = .string(account)
                return json(200, ["ok": true, "app_id": "A0APP", "authed_user": .object(token), "team": team])
            }
            token["ok"] = true
            token["team"] = team
            token["user_id"] = .string(account)
            return json(200, .object(token))
        }
    }

    private func revokeStandard(_ request: Request) async throws -> Response {
        var request = request
        let body = String(buffer: try await request.collectBody(upTo: 1 << 16))
        guard body.hasPrefix("token="), let token = String(body.dropFirst(6)).removingPercentEncoding else {
            return refuse(400, "token required")
        }
        return state.withLock { state in
            guard let id = state.familyOfRefreshToken[token] ?? state.familyOfAccessToken[token] else {
                return refuse(400, "invalid_token")
            }
            state.families[id]?.revoked = true
            state.revocations.append(token)
            return Response(status: .ok)
        }
    }

    private func revokeGitHub(_ request: Request, client: String) async throws -> Response {
        var request = request
        let expected =
            "Basic " + Data("\(configuration.clientID):\(configuration.clientSecret)".utf8).base64EncodedString()
        guard client == configuration.clientID, request.headers[.authorization] == expected,
            request.headers[HTTPField.Name("X-GitHub-Api-Version")!] == "2022-11-28"
        else { return refuse(401, "Requires authentication") }
        let body = try JSONParser().parse(Array(String(buffer: try await request.collectBody(upTo: 1 << 16)).utf8))
        guard let token = body["access_token"]?.stringValue else { return refuse(422, "access_token required") }
        return state.withLock { state in
            guard let id = state.familyOfAccessToken[token] else { return refuse(404, "Not Found") }
            state.families[id]?.revoked = true
            state.familyOfAccessToken = state.familyOfAccessToken.filter { $0.value != id }
            state.revocations.append(token)
            return Response(status: .noContent)
        }
    }

    private func revokeSlack(_ request: Request) -> Response {
        let bearer = request.headers[.authorization].flatMap { $0.hasPrefix("Bearer ") ? String($0.dropFirst(7)) : nil }
        return state.withLock { state in
            guard let token = bearer, let id = state.familyOfAccessToken[token] else {
                return json(200, ["ok": false, "error": "invalid_auth"])
            }
            state.families[id]?.revoked = true
            state.revocations.append(token)
            return json(200, ["ok": true, "revoked": true])
        }
    }

    /// A resource endpoint: who the bearer token belongs to.
    private func user(_ request: Request) -> Response {
        let bearer = request.headers[.authorization].flatMap { $0.hasPrefix("Bearer ") ? String($0.dropFirst(7)) : nil }
        return state.withLock { state in
            guard let token = bearer, let id = state.familyOfAccessToken[token], let family = state.families[id],
                !family.revoked
            else { return json(401, ["message": "Bad credentials"]) }
            return json(200, ["login": .string(family.account)])
        }
    }

    // MARK: Helpers

    /// An answer a test puts in place of the next real one.
    struct ScriptedAnswer: Sendable {
        var status: Int
        var body: String
        var retryAfter: String?

        var response: Response {
            var headers: HTTPFields = [.contentType: "application/json"]
            if let retryAfter { headers[.retryAfter] = retryAfter }
            return Response(
                status: .init(code: status),
                headers: headers,
                body: .init(byteBuffer: ByteBuffer(string: body))
            )
        }
    }

    /// The request's form body, or `nil` when it is not `application/x-www-form-urlencoded`.
    static func form(of request: Request) async throws -> [String: String]? {
        var request = request
        let body = String(buffer: try await request.collectBody(upTo: 1 << 16))
        guard request.headers[.contentType] == "application/x-www-form-urlencoded" else { return nil }
        return FormEncoding.fields(body)
    }

    static func challenge(of verifier: String) -> String {
        Data(SHA256.hash(data: Data(verifier.utf8))).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    static func escape(_ text: String) -> String {
        text.addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(CharacterSet(charactersIn: "-._~")))
            ?? ""
    }

    private func error(_ code: String, github: String? = nil, slack: String? = nil, status: Int = 400) -> Response {
        switch configuration.dialect {
        case .standard: json(status, ["error": .string(code)])
        case .github: json(200, ["error": .string(github ?? code), "error_description": "refused"])
        case .slack: json(200, ["ok": false, "error": .string(slack ?? code)])
        }
    }

    private func refuse(_ status: Int, _ message: String) -> Response {
        state.withLock { $0.refusals.append(message) }
        return json(status, ["error": .string(message)])
    }

    private func json(_ status: Int, _ value: JSONValue) -> Response {
        Response(
            status: .init(code: status),
            headers: [.contentType: "application/json"],
            body: .init(byteBuffer: ByteBuffer(bytes: CanonicalJSON.bytes(value)))
        )
    }
}
