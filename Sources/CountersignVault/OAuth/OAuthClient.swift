package import AsyncHTTPClient
package import Countersign
import Foundation
import NIOCore
package import NIOHTTP1

/// What a provider's token endpoint handed back.
///
/// Holds secrets: it is never logged or stored as is.
struct TokenResponse: Sendable {
    /// The access token.
    var accessToken: Secret
    /// A new refresh token, when the provider issued one (first exchange, or rotation).
    var refreshToken: Secret?
    /// Seconds until the access token expires, when the provider says.
    var expiresIn: Double?
    /// The scopes granted, when the provider says.
    var scopes: [String]?
    /// The account, when the response names it (Slack's team and user).
    var account: String?
    /// The OpenID Connect ID token, when one came with it (Google with `openid`).
    var idToken: Secret?
}

/// A provider's OAuth client as Countersign is registered with it, with its secret opened.
///
/// Calls the provider's token and revocation endpoints; every failure is a ``VaultError`` whose
/// code says what to do and whose text never holds a token or the response body.
struct OAuthClient: Sendable {
    let provider: Provider
    let clientID: String
    let clientSecret: Secret
    let redirectURI: String

    /// Exchanges an authorization code (with its PKCE verifier) for tokens.
    func exchange(code: String, verifier: String) async throws(VaultError) -> TokenResponse {
        try await tokenRequest([
            ("grant_type", "authorization_code"), ("code", code), ("redirect_uri", redirectURI),
            ("code_verifier", verifier),
        ])
    }

    /// Exchanges a refresh token for a new access token, narrowed to `scopes` where the provider can narrow.
    func refresh(_ refreshToken: Secret, scopes: [String]?) async throws(VaultError) -> TokenResponse {
        var form = [("grant_type", "refresh_token"), ("refresh_token", refreshToken.reveal())]
        if let scopes, provider.narrowsScopes { form.append(("scope", scopes.joined(separator: " "))) }
        return try await tokenRequest(form)
    }

    /// Revokes the grant at the provider.
    ///
    /// Google revokes with the refresh token; GitHub and Slack need a live access token.
    func revoke(refreshToken: Secret, accessToken: Secret?) async throws(VaultError) {
        guard let endpoint = provider.revocationEndpoint else {
            throw VaultError(.badResponse, "\(provider.displayName) has no revocation endpoint")
        }
        var request: HTTPClientRequest
        switch provider.dialect {
        case .standard:
            request = HTTPClientRequest(url: endpoint)
            request.method = .POST
            request.headers.add(name: "Content-Type", value: "application/x-www-form-urlencoded")
            request.body = .bytes(ByteBuffer(string: FormEncoding.encode([("token", refreshToken.reveal())])))
        case .github:
            guard let accessToken else { throw VaultError(.badResponse, "GitHub revocation needs an access token") }
            request = HTTPClientRequest(url: endpoint.replacingOccurrences(of: "{client_id}", with: clientID))
            request.method = .DELETE
            request.headers.add(name: "Authorization", value: basicCredentials)
            request.headers.add(name: "Accept", value: "application/vnd.github+json")
            request.headers.add(name: "X-GitHub-Api-Version", value: "2022-11-28")
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(
                ByteBuffer(string: CanonicalJSON.string(.object(["access_token": .string(accessToken.reveal())])))
            )
        case .slack:
            guard let accessToken else { throw VaultError(.badResponse, "Slack revocation needs an access token") }
            request = HTTPClientRequest(url: endpoint)
            request.method = .POST
            request.headers.add(name: "Authorization", value: "Bearer \(accessToken.reveal())")
            request.headers.add(name: "Content-Type", value: "application/x-www-form-urlencoded")
        }
        let (status, headers, body) = try await ProviderHTTP.send(request, to: provider.displayName)
        try ProviderHTTP.check(status: status, headers: headers, from: provider.displayName)
        switch provider.dialect {
        case .standard, .github:
            guard (200..<300).contains(status) else {
                throw VaultError(.badResponse, "\(provider.displayName) refused the revocation (HTTP \(status))")
            }
        case .slack:
            let json = try? JSONParser().parse(body)
            guard json?["ok"]?.boolValue == true else {
                let code = json?["error"]?.stringValue.map(Self.safeCode) ?? "HTTP \(status)"
                throw VaultError(.badResponse, "Slack refused the revocation (\(code))")
            }
        }
    }

    /// The URL that asks the principal to grant `scopes` (authorization code with PKCE S256).
    func authorizationURL(state: String, challenge: String, scopes: [String]) -> String {
        var query = [
            ("response_type", "code"), ("client_id", clientID), ("redirect_uri", redirectURI),
            (provider.scopeParameter, scopes.joined(separator: provider.requestScopeSeparator)), ("state", state),
            ("code_challenge", challenge), ("code_challenge_method", "S256"),
        ]
        query += provider.authorizationParameters.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
        let separator = provider.authorizationEndpoint.contains("?") ? "&" : "?"
        return provider.authorizationEndpoint + separator + FormEncoding.encode(query)
    }

    /// The account an access token belongs to, from the provider's user endpoint (GitHub's `login`).
    func account(with accessToken: Secret) async throws(VaultError) -> String {
        guard let endpoint = provider.accountEndpoint else {
            throw VaultError(.badResponse, "\(provider.displayName) has no endpoint that names the account")
        }
        var request = HTTPClientRequest(url: endpoint)
        request.headers.add(name: "Authorization", value: "Bearer \(accessToken.reveal())")
        request.headers.add(name: "Accept", value: "application/vnd.github+json")
        request.headers.add(name: "X-GitHub-Api-Version", value: "2022-11-28")
        let (status, headers, body) = try await ProviderHTTP.send(request, to: provider.displayName)
        try ProviderHTTP.check(status: status, headers: headers, from: provider.displayName)
        guard status == 200, let login = (try? JSONParser().parse(body))?["login"]?.stringValue, !login.isEmpty,
            login.utf8.count <= 256, !login.contains(where: { $0.isWhitespace || $0.isNewline })
        else {
            throw VaultError(
                .badResponse,
                "\(provider.displayName) did not say which account the token is for (HTTP \(status))"
            )
        }
        return login
    }

    // MARK: Token endpoint

    private var basicCredentials: String {
        let pair = "\(FormEncoding.component(clientID)):\(FormEncoding.component(clientSecret.reveal()))"
        return "Basic " + Data(pair.utf8).base64EncodedString()
    }

    private func tokenRequest(_ form: [(String, String)]) async throws(VaultError) -> TokenResponse {
        var form = form
        var authorization: String?
        switch provider.dialect {
        case .slack:
            // Slack asks for HTTP Basic rather than the secret in the body.
            authorization = basicCredentials
        case .standard, .github:
            form += [("client_id", clientID), ("client_secret", clientSecret.reveal())]
        }
        var request = HTTPClientRequest.form(provider.tokenEndpoint, form)
        if let authorization { request.headers.add(name: "Authorization", value: authorization) }
        let (status, headers, body) = try await ProviderHTTP.send(request, to: provider.displayName)
        try ProviderHTTP.check(status: status, headers: headers, from: provider.displayName)
        let json: JSONValue
        do {
            json = try JSONParser().parse(body)
        } catch {
            throw VaultError(
                .badResponse,
                "\(provider.displayName)'s token endpoint answered HTTP \(status) without JSON"
            )
        }
        if let failure = oauthError(in: json, status: status) { throw failure }
        guard (200..<300).contains(status) else {
            throw VaultError(.badResponse, "\(provider.displayName)'s token endpoint answered HTTP \(status)")
        }
        return try parseTokens(json)
    }

    /// The error a token response carries, mapped to what the vault should do about it.
    private func oauthError(in json: JSONValue, status: Int) -> VaultError? {
        let code: String
        switch provider.dialect {
        case .slack:
            guard json["ok"]?.boolValue != true else { return nil }
            code = json["error"]?.stringValue ?? "unknown_error"
        case .standard, .github:
            guard let error = json["error"]?.stringValue else { return nil }
            code = error
        }
        let name = provider.displayName
        let safe = Self.safeCode(code)
        switch code {
        case "invalid_grant", "bad_refresh_token", "invalid_refresh_token", "token_revoked", "token_expired",
            "bad_verification_code", "invalid_code", "access_denied", "account_inactive":
            return VaultError(.needsReconsent, "\(name) refused the grant (\(safe))")
        case "invalid_client", "unauthorized_client", "incorrect_client_credentials", "invalid_client_id",
            "bad_client_secret", "bad_redirect_uri", "redirect_uri_mismatch", "unsupported_grant_type":
            return VaultError(
                .clientRejected,
                "\(name) refused Countersign's client registration (\(safe)); check `countersign providers set \(provider.name)`"
            )
        case "ratelimited", "slow_down", "temporarily_unavailable":
            return VaultError(.rateLimited, "\(name) asked to slow down (\(safe)); try again later")
        case "internal_error", "service_unavailable", "fatal_error", "server_error":
            return VaultError(.providerUnavailable, "\(name) failed (\(safe)); try again later")
        default:
            return VaultError(.badResponse, "\(name)'s token endpoint answered \(safe) (HTTP \(status))")
        }
    }

    private func parseTokens(_ json: JSONValue) throws(VaultError) -> TokenResponse {
        // Slack puts a user token under `authed_user` on the first exchange, at the top on refresh.
        let source: JSONValue =
            if provider.dialect == .slack, let user = json["authed_user"], user["access_token"] != nil { user } else {
                json
            }
        guard let access = source["access_token"]?.stringValue, !access.isEmpty, access.utf8.count <= 8192,
            !access.contains(where: { $0.isWhitespace || $0.isNewline })
        else {
            throw VaultError(.badResponse, "\(provider.displayName)'s token response has no usable access token")
        }
        if let type = source["token_type"]?.stringValue, !["bearer", "user"].contains(type.lowercased()) {
            throw VaultError(
                .badResponse,
                "\(provider.displayName) issued a \(Self.safeCode(type)) token, not a bearer token"
            )
        }
        var response = TokenResponse(accessToken: Secret(access))
        if let refresh = source["refresh_token"]?.stringValue, !refresh.isEmpty {
            response.refreshToken = Secret(refresh)
        }
        if let seconds = source["expires_in"]?.numberValue ?? source["expires_in"]?.stringValue.flatMap(Double.init),
            seconds > 0
        {
            response.expiresIn = seconds
        }
        if let scope = source["scope"]?.stringValue {
            response.scopes = scope.split(whereSeparator: { $0 == provider.scopeSeparator || $0 == " " }).map(
                String.init
            )
            .sorted()
        }
        if provider.dialect == .slack, let team = json["team"]?["id"]?.stringValue,
            let user = source["id"]?.stringValue ?? json["user_id"]?.stringValue
        {
            response.account = "\(team)/\(user)"
        }
        if let idToken = json["id_token"]?.stringValue { response.idToken = Secret(idToken) }
        return response
    }

    /// An error code from a provider, cut to a short word of safe characters.
    static func safeCode(_ code: String) -> String {
        String(
            code.unicodeScalars.filter {
                $0.isASCII && ($0.properties.isAlphabetic || "_-.0123456789".unicodeScalars.contains($0))
            }.prefix(64)
        )
    }
}

/// How Countersign calls providers and token services.
package enum ProviderHTTP {
    /// The most of an answer read.
    static let maximumResponseBytes = 64 * 1024

    /// One client for every provider call: no redirects (a token endpoint that redirects is refused
    /// rather than followed with a secret), bounded time.
    package static let client: HTTPClient = {
        var configuration = HTTPClient.Configuration()
        configuration.redirectConfiguration = .disallow
        configuration.timeout = .init(connect: .seconds(10), read: .seconds(20))
        return HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }()

    /// Sends a request and reads the answer (at most 64 KiB).
    ///
    /// - Throws: ``VaultError`` `.providerUnavailable` when `name` cannot be reached; the error
    ///   never holds the request.
    package static func send(
        _ request: HTTPClientRequest,
        to name: String
    ) async throws(VaultError) -> (
        Int, HTTPHeaders, [UInt8]
    ) {
        var request = request
        request.headers.replaceOrAdd(name: "User-Agent", value: "Countersign")
        do {
            let response = try await client.execute(request, timeout: .seconds(30))
            var body: [UInt8] = []
            for try await chunk in response.body {
                guard body.count + chunk.readableBytes <= maximumResponseBytes else {
                    throw VaultError(.badResponse, "\(name) answered with more than 64 KiB")
                }
                body += chunk.readableBytesView
            }
            return (Int(response.status.code), response.headers, body)
        } catch let error as VaultError {
            throw error
        } catch {
            throw VaultError(.providerUnavailable, "\(name) could not be reached; try again later")
        }
    }

    /// Rate limits, outages and redirects, whatever the body says.
    package static func check(status: Int, headers: HTTPHeaders, from name: String) throws(VaultError) {
        if status == 429 {
            let wait = headers.first(name: "Retry-After").flatMap { Int($0.trimmingCharacters(in: .whitespaces)) }
            throw VaultError(
                .rateLimited,
                "\(name) rate-limited the call; retry after \(wait.map { "\($0) s" } ?? "a while")"
            )
        }
        if (500..<600).contains(status) {
            throw VaultError(.providerUnavailable, "\(name) failed (HTTP \(status)); try again later")
        }
        if (300..<400).contains(status) {
            throw VaultError(.badResponse, "\(name) redirected the call (HTTP \(status)); not followed")
        }
    }
}

extension HTTPClientRequest {
    /// A POST of a form that asks for JSON back.
    package static func form(_ url: String, _ fields: [(String, String)]) -> HTTPClientRequest {
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/x-www-form-urlencoded")
        request.headers.add(name: "Accept", value: "application/json")
        request.body = .bytes(ByteBuffer(string: FormEncoding.encode(fields)))
        return request
    }
}

/// `application/x-www-form-urlencoded`, as the WHATWG URL standard writes it.
package enum FormEncoding {
    /// Encodes name–value pairs in order.
    package static func encode(_ pairs: [(String, String)]) -> String {
        pairs.map { "\(component($0.0))=\(component($0.1))" }.joined(separator: "&")
    }

    /// Percent-encodes everything but unreserved characters.
    package static func component(_ text: String) -> String {
        var out = ""
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"),
                UInt8(ascii: "~"):
                out.unicodeScalars.append(Unicode.Scalar(byte))
            default:
                out += "%" + String(byte, radix: 16, uppercase: true).leftPadded(to: 2)
            }
        }
        return out
    }

    /// Decodes a form body into its fields, the first of each name winning.
    package static func fields(_ text: String) -> [String: String] {
        Dictionary(decode(text), uniquingKeysWith: { first, _ in first })
    }

    /// Decodes a form body into name–value pairs (`+` is a space).
    package static func decode(_ text: String) -> [(String, String)] {
        text.split(separator: "&").map { pair in
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            func plain(_ part: Substring) -> String {
                String(part).replacingOccurrences(of: "+", with: " ").removingPercentEncoding ?? String(part)
            }
            return (plain(parts[0]), parts.count > 1 ? plain(parts[1]) : "")
        }
    }
}

extension String {
    fileprivate func leftPadded(to width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}
