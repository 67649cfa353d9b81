import AsyncHTTPClient
import Countersign
import Crypto
import CryptoExtras
import Foundation
import NIOCore
import NIOHTTP1

/// How Countersign authenticates to Auth0 as a confidential client.
enum Auth0ClientCredential: Sendable {
    /// `client_secret` in the request body.
    case secret(Secret)
    /// `private_key_jwt`: a short-lived assertion signed with the client's RSA key.
    case privateKey(_RSA.Signing.PrivateKey, algorithm: String, keyID: String?)

    /// Reads the credential kept for an Auth0 source: a PEM private key, or a client secret.
    static func parse(_ text: String, algorithm: String?, keyID: String?) throws(VaultError) -> Self {
        guard text.contains("-----BEGIN") else { return .secret(Secret(text)) }
        let algorithm = algorithm ?? "RS256"
        guard ["RS256", "PS256"].contains(algorithm) else {
            throw VaultError(.invalidInput, "the private key JWT algorithm must be RS256 or PS256, not \(algorithm)")
        }
        do {
            let key = try _RSA.Signing.PrivateKey(pemRepresentation: text)
            guard key.keySizeInBits >= 2048 else {
                throw VaultError(.invalidInput, "the private key must be RSA of at least 2,048 bits")
            }
            return .privateKey(key, algorithm: algorithm, keyID: keyID)
        } catch let error as VaultError {
            throw error
        } catch {
            throw VaultError(.invalidInput, "the private key is not an RSA key in PEM form")
        }
    }

    /// The form fields that authenticate `clientID` to the tenant at `audience` (`https://{domain}/`).
    func fields(clientID: String, audience: String) throws(VaultError) -> [(String, String)] {
        switch self {
        case .secret(let secret):
            return [("client_id", clientID), ("client_secret", secret.reveal())]
        case .privateKey(let key, let algorithm, let keyID):
            let now = Int(Date().timeIntervalSince1970)
            var header: [String: JSONValue] = ["alg": .string(algorithm), "typ": "JWT"]
            if let keyID { header["kid"] = .string(keyID) }
            let claims: JSONValue = [
                "iss": .string(clientID), "sub": .string(clientID), "aud": .string(audience),
                "iat": .number(Double(now)), "exp": .number(Double(now + 60)),
                "jti": .string(Vault.randomToken()),
            ]
            let input =
                Vault.base64URL(CanonicalJSON.bytes(.object(header))) + "."
                + Vault.base64URL(CanonicalJSON.bytes(claims))
            let signature: _RSA.Signing.RSASignature
            do {
                signature = try key.signature(
                    for: SHA256.hash(data: Array(input.utf8)),
                    padding: algorithm == "PS256" ? .PSS : .insecurePKCS1v1_5
                )
            } catch {
                throw VaultError(.badKey, "the client assertion could not be signed")
            }
            return [
                ("client_id", clientID),
                ("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"),
                ("client_assertion", input + "." + Vault.base64URL(Array(signature.rawRepresentation))),
            ]
        }
    }
}

/// Auth0 Token Vault: exchanges the principal's Auth0 refresh token for the provider's access token
/// (`POST https://{domain}/oauth/token`, the federated-connection access token grant).
struct Auth0TokenVault: TokenIssuer {
    /// The tenant's base URL (`https://{domain}`).
    let base: String
    /// The Auth0 connection the provider is configured as (`github`, `google-oauth2`, `sign-in-with-slack`…).
    let connection: String
    let clientID: String
    let credential: Auth0ClientCredential

    var narrowsScopes: Bool { false }

    static let grantType = "urn:auth0:params:oauth:grant-type:token-exchange:federated-connection-access-token"
    static let subjectTokenType = "urn:ietf:params:oauth:token-type:refresh_token"
    static let requestedTokenType = "http://auth0.com/oauth/token-type/federated-connection-access-token"

    func mint(
        from secret: Secret,
        for connection: Connection,
        scopes: [String]?
    ) async throws(VaultError)
        -> TokenResponse
    {
        var form = [
            ("grant_type", Self.grantType), ("subject_token_type", Self.subjectTokenType),
            ("subject_token", secret.reveal()), ("requested_token_type", Self.requestedTokenType),
            ("connection", self.connection),
        ]
        if !connection.account.isEmpty { form.append(("login_hint", connection.account)) }
        form += try credential.fields(clientID: clientID, audience: base + "/")
        let (status, headers, body) = try await ProviderHTTP.send(.form(base + "/oauth/token", form), to: "Auth0")
        let who = "\(connection.provider) account of \(connection.principal)"
        switch status {
        case 200:
            break
        case 401 where (try? JSONParser().parse(body))?["error"]?.stringValue == "invalid_client":
            throw VaultError(
                .clientRejected,
                "Auth0 refused client \(clientID)'s authentication (HTTP 401, invalid_client): check its secret or private key"
            )
        case 401:
            throw VaultError(
                .needsReconsent,
                "Auth0 has no usable \(self.connection) account for this principal (HTTP 401): connect or reconnect the \(who) through Auth0, then import its Auth0 refresh token again"
            )
        case 403:
            throw VaultError(
                .clientRejected,
                "Auth0 refused the Token Vault grant to client \(clientID) (HTTP 403): enable Token Exchange (Federated Connection) for it"
            )
        case 429:
            try ProviderHTTP.check(status: status, headers: headers, from: "Auth0")
        case 500..<600:
            try ProviderHTTP.check(status: status, headers: headers, from: "Auth0")
        default:
            let code =
                (try? JSONParser().parse(body))?["error"]?.stringValue.map(OAuthClient.safeCode) ?? "no error code"
            if code == "invalid_grant" {
                throw VaultError(
                    .needsReconsent,
                    "Auth0 refused the principal's refresh token (invalid_grant) for the \(who)"
                )
            }
            throw VaultError(.badResponse, "Auth0 refused the token exchange (HTTP \(status), \(code))")
        }
        guard let json = try? JSONParser().parse(body), let access = json["access_token"]?.stringValue, !access.isEmpty
        else { throw VaultError(.badResponse, "Auth0's token exchange answer has no access token") }
        if let issued = json["issued_token_type"]?.stringValue, issued != Self.requestedTokenType {
            throw VaultError(.badResponse, "Auth0 issued a token of another type (\(OAuthClient.safeCode(issued)))")
        }
        var response = TokenResponse(accessToken: Secret(access))
        response.expiresIn = json["expires_in"]?.numberValue
        if response.expiresIn == nil, let at = json["expires_at"]?.numberValue {
            response.expiresIn = at - Date().timeIntervalSince1970
        }
        response.scopes = json["scope"]?.stringValue.map {
            $0.split(whereSeparator: { $0 == " " || $0 == "," }).map(String.init).sorted()
        }
        return response
    }
}

/// The reference copilot's method, kept as a fallback: reads the provider's token for the user's
/// identity from the Auth0 Management API (`GET /api/v2/users/{id}` with `read:user_idp_tokens`).
///
/// It cannot narrow scopes: the token is whatever the identity holds, so the source is broad.
struct Auth0ManagementAPI: TokenIssuer {
    let base: String
    let connection: String
    let clientID: String
    let clientSecret: Secret

    var narrowsScopes: Bool { false }

    /// `secret` is the Auth0 user id (`github|1234`) the connection stands for.
    func mint(
        from secret: Secret,
        for connection: Connection,
        scopes: [String]?
    ) async throws(VaultError)
        -> TokenResponse
    {
        let form = [
            ("grant_type", "client_credentials"), ("client_id", clientID), ("client_secret", clientSecret.reveal()),
            ("audience", base + "/api/v2/"),
        ]
        let (status, headers, body) = try await ProviderHTTP.send(.form(base + "/oauth/token", form), to: "Auth0")
        try ProviderHTTP.check(status: status, headers: headers, from: "Auth0")
        guard status == 200, let json = try? JSONParser().parse(body),
            let management = json["access_token"]?.stringValue
        else {
            throw VaultError(
                status == 401 || status == 403 ? .clientRejected : .badResponse,
                "Auth0 refused Management API access to client \(clientID) (HTTP \(status))"
            )
        }
        guard (json["scope"]?.stringValue ?? "").split(separator: " ").contains("read:user_idp_tokens") else {
            throw VaultError(.clientRejected, "client \(clientID) lacks read:user_idp_tokens on the Management API")
        }
        var userRequest = HTTPClientRequest(url: base + "/api/v2/users/" + FormEncoding.component(secret.reveal()))
        userRequest.headers.add(name: "Authorization", value: "Bearer \(management)")
        userRequest.headers.add(name: "Accept", value: "application/json")
        let (userStatus, userHeaders, userBody) = try await ProviderHTTP.send(userRequest, to: "Auth0")
        try ProviderHTTP.check(status: userStatus, headers: userHeaders, from: "Auth0")
        if userStatus == 404 {
            throw VaultError(.needsReconsent, "Auth0 has no user \(secret.reveal()) any more")
        }
        guard userStatus == 200, let user = try? JSONParser().parse(userBody) else {
            throw VaultError(.badResponse, "Auth0 did not return the user (HTTP \(userStatus))")
        }
        guard
            let identity = user["identities"]?.arrayValue?.first(where: {
                $0["connection"]?.stringValue == self.connection
            }), let access = identity["access_token"]?.stringValue, !access.isEmpty
        else {
            throw VaultError(
                .needsReconsent,
                "the Auth0 user has no \(self.connection) identity with a token: connect the account through Auth0 again"
            )
        }
        var response = TokenResponse(accessToken: Secret(access))
        response.expiresIn = identity["expires_in"]?.numberValue
        return response
    }
}
