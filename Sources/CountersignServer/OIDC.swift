import AsyncHTTPClient
public import Countersign
import CountersignVault
import Crypto
import Foundation
import JWTKit
import NIOCore
import NIOHTTP1
import Synchronization

/// An OpenID Connect provider approvers sign in with (Auth0, Okta, Keycloak, Google…).
public struct OIDCConfiguration: Sendable {
    /// The issuer; its discovery document is at `/.well-known/openid-configuration` under it.
    public var issuer: String
    /// Countersign's client id at the provider.
    public var clientID: String
    /// The client secret, for confidential clients (`client_secret_basic`); without one, PKCE alone.
    public var clientSecret: Secret?
    /// The `acr` a step-up must come back with (sent as `acr_values`); when set, a step-up without
    /// it, or with another, is refused.
    public var stepUpACR: String?
    /// The name the sign-in page shows ("Sign in with …").
    public var displayName: String

    /// Creates a configuration.
    public init(
        issuer: String,
        clientID: String,
        clientSecret: Secret? = nil,
        stepUpACR: String? = nil,
        displayName: String = "single sign-on"
    ) {
        self.issuer = issuer.hasSuffix("/") ? String(issuer.dropLast()) : issuer
        self.clientID = clientID
        self.clientSecret = clientSecret
        self.stepUpACR = stepUpACR
        self.displayName = displayName
    }
}

/// Why an OpenID Connect sign-in or step-up was refused, in words for the approver (never a token).
struct OIDCError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// What a verified ID token says about the person.
struct VerifiedIdentity: Sendable {
    let email: String
    let authTime: Date?
    let acr: String?
    let amr: [String]
}

/// The claims of an ID token that Countersign reads.
struct IDTokenClaims: JWTPayload {
    let iss: IssuerClaim
    let sub: SubjectClaim
    let aud: AudienceClaim
    let exp: ExpirationClaim
    let iat: IssuedAtClaim
    let azp: String?
    let nonce: String?
    let authTime: Double?
    let acr: String?
    let amr: [String]?
    let email: String?
    let emailVerified: BoolClaim?

    enum CodingKeys: String, CodingKey {
        case iss, sub, aud, exp, iat, azp, nonce, acr, amr, email
        case authTime = "auth_time"
        case emailVerified = "email_verified"
    }

    func verify(using algorithm: some JWTAlgorithm) async throws {
        try exp.verifyNotExpired(currentDate: Date().addingTimeInterval(-60))
    }
}

/// The relying party: discovery, the authorization request, the code exchange, and ID token
/// verification against the provider's published keys.
actor OIDCClient {
    let configuration: OIDCConfiguration
    private var discovery: (authorization: String, token: String, jwks: String, issuer: String)?
    private var keys: JWTKeyCollection?
    private var keysFetched: Date = .distantPast

    init(configuration: OIDCConfiguration) {
        self.configuration = configuration
    }

    /// The provider's endpoints, from its discovery document (fetched once).
    func endpoints() async throws -> (authorization: String, token: String, jwks: String, issuer: String) {
        if let discovery { return discovery }
        let document = try await getJSON(configuration.issuer + "/.well-known/openid-configuration")
        guard let issuer = document["issuer"]?.stringValue, issuer == configuration.issuer,
            let authorization = document["authorization_endpoint"]?.stringValue,
            let token = document["token_endpoint"]?.stringValue,
            let jwks = document["jwks_uri"]?.stringValue
        else {
            throw OIDCError("the provider's discovery document is incomplete or names another issuer")
        }
        discovery = (authorization, token, jwks, issuer)
        return (authorization, token, jwks, issuer)
    }

    /// The URL to send the browser to.
    ///
    /// - Parameters:
    ///   - redirectURI: Countersign's callback.
    ///   - state: The flow's one-time state.
    ///   - nonce: The nonce the ID token must carry.
    ///   - verifier: The PKCE verifier (its S256 challenge is sent).
    ///   - stepUp: For a step-up: `prompt=login`, `max_age=0` and the configured `acr_values`, so
    ///     that the provider authenticates the person afresh.
    ///   - loginHint: Who is expected to sign in, for a step-up.
    /// - Returns: The authorization URL.
    /// - Throws: ``OIDCError`` or ``VaultError`` when the discovery document cannot be read.
    func authorizationURL(
        redirectURI: String,
        state: String,
        nonce: String,
        verifier: String,
        stepUp: Bool,
        loginHint: String? = nil
    ) async throws -> String {
        let endpoints = try await endpoints()
        var fields: [(String, String)] = [
            ("response_type", "code"), ("client_id", configuration.clientID), ("redirect_uri", redirectURI),
            ("scope", "openid email"), ("state", state), ("nonce", nonce),
            ("code_challenge", Vault.base64URL(Array(SHA256.hash(data: Array(verifier.utf8))))),
            ("code_challenge_method", "S256"),
        ]
        if stepUp {
            fields += [("prompt", "login"), ("max_age", "0")]
            if let acr = configuration.stepUpACR { fields.append(("acr_values", acr)) }
        }
        if let loginHint { fields.append(("login_hint", loginHint)) }
        let separator = endpoints.authorization.contains("?") ? "&" : "?"
        return endpoints.authorization + separator + FormEncoding.encode(fields)
    }

    /// Exchanges the code for the ID token (the access token, if any, is not kept).
    func exchange(code: String, verifier: String, redirectURI: String) async throws -> String {
        let endpoints = try await endpoints()
        var fields = [
            ("grant_type", "authorization_code"), ("code", code), ("redirect_uri", redirectURI),
            ("code_verifier", verifier),
        ]
        var request = HTTPClientRequest.form(endpoints.token, [])
        if let secret = configuration.clientSecret {
            let credentials =
                "\(FormEncoding.component(configuration.clientID)):\(FormEncoding.component(secret.reveal()))"
            request.headers.add(name: "Authorization", value: "Basic \(Data(credentials.utf8).base64EncodedString())")
        } else {
            fields.append(("client_id", configuration.clientID))
        }
        request.body = .bytes(ByteBuffer(string: FormEncoding.encode(fields)))
        let (status, headers, body) = try await ProviderHTTP.send(request, to: "the sign-in provider")
        try ProviderHTTP.check(status: status, headers: headers, from: "the sign-in provider")
        guard status == 200, let answer = try? JSONParser().parse(body), let idToken = answer["id_token"]?.stringValue
        else {
            throw OIDCError("the sign-in provider did not exchange the code for an ID token (HTTP \(status))")
        }
        return idToken
    }

    /// Verifies an ID token and returns who it says signed in.
    ///
    /// Checks the signature with one of the provider's keys, the issuer, the audience (and `azp`
    /// when there are several), expiry, the nonce and a verified email; for a step-up, a fresh
    /// `auth_time` and the required `acr`. Anything missing fails closed.
    ///
    /// - Parameters:
    ///   - idToken: The token.
    ///   - nonce: The nonce sent with the authorization request.
    ///   - authenticatedSince: For a step-up: the person must have authenticated at or after this.
    ///   - requireACR: For a step-up: the `acr` the token must carry.
    /// - Returns: The verified identity.
    /// - Throws: ``OIDCError`` saying what did not verify.
    func verify(
        _ idToken: String,
        nonce: String,
        authenticatedSince: Date? = nil,
        requireACR: String? = nil
    ) async throws -> VerifiedIdentity {
        let claims = try await verifiedClaims(idToken)
        guard claims.iss.value == configuration.issuer else { throw OIDCError("the ID token names another issuer") }
        guard claims.aud.value.contains(configuration.clientID) else {
            throw OIDCError("the ID token was issued for another client (audience)")
        }
        if claims.aud.value.count > 1, claims.azp != configuration.clientID {
            throw OIDCError("the ID token's authorized party is another client")
        }
        guard claims.iat.value < Date().addingTimeInterval(300) else {
            throw OIDCError("the ID token is dated in the future")
        }
        guard let sent = claims.nonce, ConstantTime.equals(Array(sent.utf8), Array(nonce.utf8)) else {
            throw OIDCError("the ID token does not answer this sign-in (nonce)")
        }
        let authTime = claims.authTime.map { Date(timeIntervalSince1970: $0) }
        if let since = authenticatedSince {
            guard let authTime else {
                throw OIDCError("the provider did not say when you authenticated (auth_time), so this is not a step-up")
            }
            guard authTime >= since.addingTimeInterval(-5) else {
                throw OIDCError("the provider did not authenticate you afresh (auth_time is older than the step-up)")
            }
        }
        if let required = requireACR {
            guard let acr = claims.acr else {
                throw OIDCError("the provider did not say how you authenticated (acr); \(required) is required")
            }
            guard acr == required else {
                throw OIDCError("the provider authenticated you with \(acr), not \(required)")
            }
        }
        guard let email = claims.email.flatMap(User.normalizedEmail), claims.emailVerified?.value == true else {
            throw OIDCError("the provider did not give a verified email address")
        }
        return VerifiedIdentity(email: email, authTime: authTime, acr: claims.acr, amr: claims.amr ?? [])
    }

    /// The claims, after the signature is checked with the provider's keys (fetched again, at most
    /// once a minute, when a token names a key not yet known).
    private func verifiedClaims(_ idToken: String) async throws -> IDTokenClaims {
        let keys = try await keyCollection(refresh: false)
        do {
            return try await keys.verify(idToken, as: IDTokenClaims.self)
        } catch let error as JWTError where Date().timeIntervalSince(keysFetched) > 60 {
            _ = error
            do {
                return try await keyCollection(refresh: true).verify(idToken, as: IDTokenClaims.self)
            } catch {
                throw OIDCError("the ID token's signature or claims did not verify")
            }
        } catch {
            throw OIDCError("the ID token's signature or claims did not verify")
        }
    }

    private func keyCollection(refresh: Bool) async throws -> JWTKeyCollection {
        if let keys, !refresh { return keys }
        let endpoints = try await endpoints()
        let document = try await getJSON(endpoints.jwks)
        let collection = JWTKeyCollection()
        do {
            try await collection.add(jwksJSON: CanonicalJSON.string(document))
        } catch {
            throw OIDCError("the provider's signing keys could not be read")
        }
        keys = collection
        keysFetched = Date()
        return collection
    }

    private func getJSON(_ url: String) async throws -> JSONValue {
        var request = HTTPClientRequest(url: url)
        request.headers.add(name: "Accept", value: "application/json")
        let (status, headers, body) = try await ProviderHTTP.send(request, to: "the sign-in provider")
        try ProviderHTTP.check(status: status, headers: headers, from: "the sign-in provider")
        guard status == 200, let value = try? JSONParser().parse(body) else {
            throw OIDCError("the sign-in provider answered \(url) with HTTP \(status)")
        }
        return value
    }
}

/// OpenID Connect flows under way (sign-in or step-up), for ten minutes, in memory, each bound to
/// the browser that started it.
final class OIDCFlows: Sendable {
    static let lifetime: TimeInterval = 600

    enum Purpose: Sendable {
        case signIn(next: String)
        case stepUp(requestID: String, sessionID: String, startedAt: Date)
    }

    struct Flow: Sendable {
        let browser: String
        let nonce: String
        let verifier: String
        let purpose: Purpose
        let expires: Date
    }

    private let flows = Mutex<[String: Flow]>([:])

    func start(browser: String, purpose: Purpose, now: Date) -> (state: String, flow: Flow) {
        let state = Vault.randomToken()
        let flow = Flow(
            browser: browser,
            nonce: Vault.randomToken(),
            verifier: Vault.randomToken(),
            purpose: purpose,
            expires: now.addingTimeInterval(Self.lifetime)
        )
        flows.withLock { flows in
            flows = flows.filter { $0.value.expires > now }
            flows[state] = flow
        }
        return (state, flow)
    }

    /// Takes the flow for `state` (once), if it is live and belongs to this browser.
    func finish(state: String, browser: String, now: Date) -> Flow? {
        flows.withLock { flows in
            guard let flow = flows.removeValue(forKey: state), flow.expires > now,
                ConstantTime.equals(Array(flow.browser.utf8), Array(browser.utf8))
            else { return nil }
            return flow
        }
    }
}

/// Step-ups done with the provider, waiting to be used by the approval they were for (5 minutes).
final class OIDCStepUps: Sendable {
    private let records = Mutex<[String: AuthenticationRecord]>([:])

    private static func key(_ sessionID: String, _ requestID: String) -> String { sessionID + " " + requestID }

    func record(_ authentication: AuthenticationRecord, session: String, request: String) {
        records.withLock { $0[Self.key(session, request)] = authentication }
    }

    /// The step-up for this session and request, if it is still fresh enough to approve with.
    func fresh(session: String, request: String, now: Date) -> AuthenticationRecord? {
        records.withLock { records in
            records = records.filter { $0.value.isStepUp(at: now, maxAge: ActionRequest.stepUpMaxAge) }
            return records[Self.key(session, request)]
        }
    }

    func use(session: String, request: String) {
        _ = records.withLock { $0.removeValue(forKey: Self.key(session, request)) }
    }
}
