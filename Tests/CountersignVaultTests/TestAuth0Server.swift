import Countersign
import Crypto
import CryptoExtras
import Foundation
import HTTPTypes
import Hummingbird
import Synchronization

/// An Auth0 tenant on 127.0.0.1 for tests: `/oauth/token` for the Token Vault exchange (checking
/// every parameter Auth0 documents, and the client's secret or `private_key_jwt` assertion) and
/// for client credentials, and `/api/v2/users/{id}` for the Management API fallback.
final class TestAuth0Server: Sendable {
    struct Identity: Sendable {
        var connection: String
        var userID: String
        var account: String
        var accessToken: String
        var scopes: [String]
    }

    struct State: Sendable {
        /// Auth0 refresh tokens → the user's identities.
        var users: [String: [Identity]] = [:]
        /// Auth0 user ids → identities.
        var userIDs: [String: [Identity]] = [:]
        var exchanges: [[String: String]] = []
        var refusals: [String] = []
        var scripted: [TestAuthorizationServer.ScriptedAnswer] = []
        var seenJTIs: Set<String> = []
        var managementTokens: Set<String> = []
    }

    let clientID = "auth0-client-1"
    let clientSecret = "auth0-secret-CANARY-77"
    let connection: String
    let publicKey: _RSA.Signing.PublicKey?
    let algorithm: String
    let state = Mutex(State())
    let base = Mutex("")

    init(connection: String, publicKey: _RSA.Signing.PublicKey? = nil, algorithm: String = "RS256") {
        self.connection = connection
        self.publicKey = publicKey
        self.algorithm = algorithm
    }

    /// A user who connected their provider account through Auth0; returns their Auth0 refresh token.
    func user(account: String, scopes: [String]) -> (refreshToken: String, userID: String, accessToken: String) {
        let identity = Identity(
            connection: connection,
            userID: "\(connection)|\(Int.random(in: 1000...9999))",
            account: account,
            accessToken: "gho_CANARY_\(UUID().uuidString.prefix(8))",
            scopes: scopes
        )
        let refresh = "v1.MCANARY\(UUID().uuidString.prefix(12))"
        state.withLock {
            $0.users[refresh] = [identity]
            $0.userIDs[identity.userID] = [identity]
        }
        return (refresh, identity.userID, identity.accessToken)
    }

    func script(status: Int, body: String = "{}", retryAfter: String? = nil) {
        state.withLock {
            $0.scripted.append(
                TestAuthorizationServer.ScriptedAnswer(status: status, body: body, retryAfter: retryAfter)
            )
        }
    }

    func run<T: Sendable>(_ body: @Sendable (String) async throws -> T) async throws -> T {
        let router = Router()
        router.post("/oauth/token") { request, _ in try await self.token(request) }
        router.get("/api/v2/users/:id") { request, context in
            self.user(request, id: context.parameters.get("id") ?? "")
        }
        let server = TestAuthorizationServer(.init(dialect: .standard))
        return try await server.serve(router) { url in
            self.base.withLock { $0 = url }
            return try await body(url)
        }
    }

    private func refuse(_ status: Int, _ error: String, _ why: String) -> Response {
        state.withLock { $0.refusals.append(why) }
        return json(status, ["error": .string(error), "error_description": .string(why)])
    }

    private func token(_ request: Request) async throws -> Response {
        guard let form = try await TestAuthorizationServer.form(of: request) else {
            return refuse(400, "invalid_request", "form body required")
        }
        if let scripted = state.withLock({ $0.scripted.isEmpty ? nil : $0.scripted.removeFirst() }) {
            return scripted.response
        }
        if let refusal = authenticate(form) { return refusal }
        switch form["grant_type"] {
        case "urn:auth0:params:oauth:grant-type:token-exchange:federated-connection-access-token":
            return exchange(form)
        case "client_credentials":
            guard form["audience"] == base.withLock({ $0 }) + "/api/v2/" else {
                return refuse(403, "access_denied", "audience must be the Management API")
            }
            let token = "mgmt_\(UUID().uuidString)"
            state.withLock { _ = $0.managementTokens.insert(token) }
            return json(
                200,
                [
                    "access_token": .string(token), "token_type": "Bearer", "expires_in": 86400,
                    "scope": "read:users read:user_idp_tokens",
                ]
            )
        default:
            return refuse(400, "unsupported_grant_type", "unsupported grant_type")
        }
    }

    /// `client_secret`, or a `private_key_jwt` assertion checked like Auth0 does.
    private func authenticate(_ form: [String: String]) -> Response? {
        guard form["client_id"] == clientID else { return refuse(401, "invalid_client", "unknown client_id") }
        guard let publicKey else {
            return form["client_secret"] == clientSecret
                ? nil : refuse(401, "invalid_client", "wrong client_secret")
        }
        guard form["client_secret"] == nil,
            form["client_assertion_type"] == "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            let assertion = form["client_assertion"]
        else { return refuse(401, "invalid_client", "private_key_jwt required") }
        let parts = assertion.split(separator: ".").map(String.init)
        guard parts.count == 3, let header = decode(parts[0]), let claims = decode(parts[1]),
            let signature = Self.base64URL(parts[2])
        else { return refuse(401, "invalid_client", "malformed assertion") }
        guard header["alg"]?.stringValue == algorithm else { return refuse(401, "invalid_client", "wrong alg") }
        let digest = SHA256.hash(data: Array("\(parts[0]).\(parts[1])".utf8))
        guard
            publicKey.isValidSignature(
                _RSA.Signing.RSASignature(rawRepresentation: signature),
                for: digest,
                padding: algorithm == "PS256" ? .PSS : .insecurePKCS1v1_5
            )
        else { return refuse(401, "invalid_client", "bad assertion signature") }
        let now = Date().timeIntervalSince1970
        guard claims["iss"]?.stringValue == clientID, claims["sub"]?.stringValue == clientID,
            claims["aud"]?.stringValue == base.withLock({ $0 }) + "/",
            let exp = claims["exp"]?.numberValue, exp > now, exp < now + 300,
            let jti = claims["jti"]?.stringValue
        else { return refuse(401, "invalid_client", "assertion claims") }
        let replay = state.withLock { !$0.seenJTIs.insert(jti).inserted }
        return replay ? refuse(401, "invalid_client", "assertion replayed") : nil
    }

    private func exchange(_ form: [String: String]) -> Response {
        state.withLock {
            $0.exchanges.append(
                form.filter { !["subject_token", "client_secret", "client_assertion"].contains($0.key) }
            )
        }
        guard form["subject_token_type"] == "urn:ietf:params:oauth:token-type:refresh_token" else {
            return refuse(400, "invalid_request", "subject_token_type")
        }
        guard form["requested_token_type"] == "http://auth0.com/oauth/token-type/federated-connection-access-token"
        else { return refuse(400, "invalid_request", "requested_token_type") }
        guard form["connection"] == connection else { return refuse(400, "invalid_request", "connection") }
        guard let subject = form["subject_token"], let identities = state.withLock({ $0.users[subject] }) else {
            return refuse(403, "invalid_grant", "unknown refresh token")
        }
        guard
            let identity = identities.first(where: {
                $0.connection == connection && (form["login_hint"] == nil || form["login_hint"] == $0.account)
            })
        else { return refuse(401, "unauthorized", "no identity for the connection and login_hint") }
        return json(
            200,
            [
                "access_token": .string(identity.accessToken), "expires_in": 3600, "token_type": "Bearer",
                "issued_token_type": "http://auth0.com/oauth/token-type/federated-connection-access-token",
                "scope": .string(identity.scopes.joined(separator: " ")),
            ]
        )
    }

    private func user(_ request: Request, id: String) -> Response {
        let bearer = request.headers[.authorization].flatMap { $0.hasPrefix("Bearer ") ? String($0.dropFirst(7)) : nil }
        guard let bearer, state.withLock({ $0.managementTokens.contains(bearer) }) else {
            return refuse(401, "Unauthorized", "management token required")
        }
        guard let identities = state.withLock({ $0.userIDs[id.removingPercentEncoding ?? id] }) else {
            return json(404, ["statusCode": 404, "error": "Not Found", "message": "The user does not exist."])
        }
        return json(
            200,
            [
                "user_id": .string(id),
                "identities": .array(
                    identities.map {
                        [
                            "connection": .string($0.connection), "provider": .string($0.connection),
                            "user_id": .string($0.userID), "isSocial": true, "access_token": .string($0.accessToken),
                        ]
                    }
                ),
            ]
        )
    }

    private func decode(_ part: String) -> JSONValue? {
        Self.base64URL(part).flatMap { try? JSONParser().parse($0) }
    }

    static func base64URL(_ text: String) -> [UInt8]? {
        var base64 = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        base64 += String(repeating: "=", count: (4 - base64.count % 4) % 4)
        return Data(base64Encoded: base64).map(Array.init)
    }

    private func json(_ status: Int, _ value: JSONValue) -> Response {
        Response(
            status: .init(code: status),
            headers: [.contentType: "application/json"],
            body: .init(byteBuffer: ByteBuffer(bytes: CanonicalJSON.bytes(value)))
        )
    }
}
