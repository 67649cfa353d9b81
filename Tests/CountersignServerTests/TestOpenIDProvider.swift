import Countersign
import Crypto
import Foundation
import Hummingbird
import HummingbirdTesting
import JWTKit
import Synchronization

/// An OpenID Connect provider on 127.0.0.1 that issues real ES256-signed ID tokens, checks the
/// requests the way OpenID Connect Core and RFC 7636 say a provider does, and can be told to issue
/// a bad token (old or missing `auth_time`, another `acr`, another audience, a foreign signature).
final class TestOpenIDProvider: Sendable {
    static let clientID = "countersign-web"
    static let clientSecret = "test-client-secret"

    /// What the next ID token says, or how it is wrong.
    struct Issue: Sendable {
        var email = "bob@acme.test"
        var emailVerified = true
        /// Seconds from now; `nil` leaves `auth_time` out.
        var authTimeOffset: TimeInterval? = 0
        var acr: String? = "phr"
        var audience: String = TestOpenIDProvider.clientID
        var signWithForeignKey = false
    }

    struct Authorization: Sendable {
        let query: [String: String]
    }

    private struct Grant: Sendable {
        let nonce: String?
        let challenge: String
        let redirectURI: String
        let issue: Issue
    }

    let key = ES256PrivateKey()
    let foreignKey = ES256PrivateKey()
    private let state = Mutex<(next: Issue, grants: [String: Grant], authorizations: [Authorization])>(
        (Issue(), [:], [])
    )
    private let base = Mutex<String>("")

    var issuer: String { base.withLock { $0 } }
    var authorizations: [Authorization] { state.withLock { $0.authorizations } }

    /// Sets what the next token says.
    func nextToken(_ issue: Issue) { state.withLock { $0.next = issue } }

    /// Runs the provider while `body` runs.
    func run<T: Sendable>(_ body: @Sendable () async throws -> T) async throws -> T {
        let router = Router()
        router.get("/.well-known/openid-configuration") { _, _ in
            self.json([
                "issuer": .string(self.issuer), "authorization_endpoint": .string(self.issuer + "/authorize"),
                "token_endpoint": .string(self.issuer + "/token"), "jwks_uri": .string(self.issuer + "/jwks"),
                "response_types_supported": ["code"], "code_challenge_methods_supported": ["S256"],
                "id_token_signing_alg_values_supported": ["ES256"],
            ])
        }
        router.get("/jwks") { _, _ in
            let parameters = self.key.publicKey.parameters!
            return self.json([
                "keys": [
                    [
                        "kty": "EC", "crv": "P-256", "x": .string(parameters.x), "y": .string(parameters.y),
                        "kid": "k1", "alg": "ES256", "use": "sig",
                    ]
                ]
            ])
        }
        router.get("/authorize") { request, _ in try self.authorize(request) }
        router.post("/token") { request, _ in try await self.token(request) }
        return try await serveOnLoopback(router, listening: { url in self.base.withLock { $0 = url } }, body)
    }

    private func json(_ value: JSONValue, status: HTTPResponse.Status = .ok) -> Response {
        Response(
            status: status,
            headers: [.contentType: "application/json", .cacheControl: "no-store"],
            body: ResponseBody(byteBuffer: ByteBuffer(bytes: CanonicalJSON.bytes(value)))
        )
    }

    /// `GET /authorize`: the person is signed in already; a code goes back to the redirect URI.
    private func authorize(_ request: Request) throws -> Response {
        var query: [String: String] = [:]
        for (name, value) in request.uri.queryParameters { query[String(name)] = String(value) }
        guard query["response_type"] == "code", query["client_id"] == Self.clientID,
            let redirectURI = query["redirect_uri"], let state = query["state"],
            query["scope"]?.split(separator: " ").contains("openid") == true,
            query["code_challenge_method"] == "S256", let challenge = query["code_challenge"], challenge.count == 43
        else { return json(["error": "invalid_request"], status: .badRequest) }
        let code = Hex.encode((0..<16).map { _ in UInt8.random(in: 0...255) })
        self.state.withLock {
            $0.grants[code] = Grant(
                nonce: query["nonce"],
                challenge: challenge,
                redirectURI: redirectURI,
                issue: $0.next
            )
            $0.authorizations.append(Authorization(query: query))
        }
        let location =
            redirectURI
            + "?code=\(code)&state=\(state)&iss=\(issuer.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!)"
        return Response(status: .found, headers: [.location: location])
    }

    /// `POST /token`: client authentication (basic), the code once, the exact redirect URI, PKCE.
    private func token(_ request: Request) async throws -> Response {
        var request = request
        let body = String(buffer: try await request.collectBody(upTo: 1 << 16))
        var fields: [String: String] = [:]
        for pair in body.split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1).map { String($0).removingPercentEncoding ?? "" }
            if parts.count == 2 { fields[parts[0]] = parts[1] }
        }
        let expected = "Basic " + Data("\(Self.clientID):\(Self.clientSecret)".utf8).base64EncodedString()
        guard request.headers[.authorization] == expected else {
            return json(["error": "invalid_client"], status: .unauthorized)
        }
        guard fields["grant_type"] == "authorization_code", let code = fields["code"],
            let grant = state.withLock({ $0.grants.removeValue(forKey: code) }),
            fields["redirect_uri"] == grant.redirectURI, let verifier = fields["code_verifier"],
            Data(SHA256.hash(data: Array(verifier.utf8))).base64EncodedString().replacingOccurrences(of: "+", with: "-")
                .replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "") == grant.challenge
        else { return json(["error": "invalid_grant"], status: .badRequest) }
        let issue = grant.issue
        let now = Date()
        let claims = Claims(
            iss: .init(value: issuer),
            sub: .init(value: "user-\(issue.email)"),
            aud: .init(value: [issue.audience]),
            exp: .init(value: now.addingTimeInterval(600)),
            iat: .init(value: now),
            nonce: grant.nonce,
            authTime: issue.authTimeOffset.map { Int(now.timeIntervalSince1970 + $0) },
            acr: issue.acr,
            amr: ["pwd", "mfa"],
            email: issue.email,
            emailVerified: issue.emailVerified
        )
        let keys = JWTKeyCollection()
        await keys.add(ecdsa: issue.signWithForeignKey ? foreignKey : key, kid: "k1")
        let idToken = try await keys.sign(claims, kid: "k1")
        return json([
            "id_token": .string(idToken), "access_token": "at-not-kept", "token_type": "Bearer", "expires_in": 600,
        ])
    }

    struct Claims: JWTPayload {
        let iss: IssuerClaim
        let sub: SubjectClaim
        let aud: AudienceClaim
        let exp: ExpirationClaim
        let iat: IssuedAtClaim
        let nonce: String?
        let authTime: Int?
        let acr: String?
        let amr: [String]
        let email: String
        let emailVerified: Bool

        enum CodingKeys: String, CodingKey {
            case iss, sub, aud, exp, iat, nonce, acr, amr, email
            case authTime = "auth_time"
            case emailVerified = "email_verified"
        }

        func verify(using algorithm: some JWTAlgorithm) async throws {}
    }
}
