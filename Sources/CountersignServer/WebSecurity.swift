import Countersign
import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import Synchronization

/// The web app's cookie: its name and attributes.
///
/// `__Host-` prefixed and `Secure` wherever the browser allows it (over TLS, and on loopback, which
/// browsers treat as secure); always `HttpOnly`, `SameSite=Strict` and `Path=/`. Served over plain
/// HTTP at another address, a `Secure` cookie would never come back, so the cookie is then plain
/// and the server says at start that it should be behind TLS.
struct WebCookies: Sendable {
    let secure: Bool

    init(publicURL: String?) {
        guard let url = publicURL.flatMap(URL.init(string:)) else {
            secure = true
            return
        }
        let host = url.host ?? ""
        secure = url.scheme == "https" || ["127.0.0.1", "localhost", "::1", "[::1]"].contains(host)
    }

    var session: String { secure ? "__Host-countersign" : "countersign-session" }
    var signIn: String { secure ? "__Host-countersign-signin" : "countersign-signin" }

    func set(_ name: String, _ value: String, maxAge: Int? = nil) -> String {
        var cookie = "\(name)=\(value); Path=/; HttpOnly; SameSite=Strict"
        if secure { cookie += "; Secure" }
        if let maxAge { cookie += "; Max-Age=\(maxAge)" }
        return cookie
    }

    func clear(_ name: String) -> String { set(name, "", maxAge: 0) }

    /// A cookie's value from the request.
    static func value(_ name: String, in request: Request) -> String? {
        for header in request.headers[values: .cookie] {
            for pair in header.split(separator: ";") {
                let trimmed = pair.trimmingCharacters(in: .whitespaces)
                if trimmed.hasPrefix(name + "=") { return String(trimmed.dropFirst(name.count + 1)) }
            }
        }
        return nil
    }
}

/// Random identifiers and secrets, hex-encoded.
enum WebRandom {
    static func hex(bytes count: Int) -> String {
        var generator = SystemRandomNumberGenerator()
        return Hex.encode((0..<count).map { _ in UInt8.random(in: .min ... .max, using: &generator) })
    }
}

/// Limits failed sign-ins: per account and per address, in a sliding window.
///
/// While an account or an address is over its limit, sign-in is refused without the password being
/// checked, so that guessing is slowed whoever guesses. A success clears the account's failures.
/// The failures are kept in the store, so that several instances behind a load balancer count
/// them together.
struct SignInLimiter: Sendable {
    static let window: TimeInterval = 15 * 60
    let store: any WebSessionStore
    let perAccount: Int
    let perAddress: Int

    init(store: any WebSessionStore, perAccount: Int = 5, perAddress: Int = 20) {
        self.store = store
        self.perAccount = perAccount
        self.perAddress = perAddress
    }

    /// When the caller may try again, if they are over a limit now.
    func blockedUntil(account: String, address: String, now: Date) async throws -> Date? {
        let limits = [("account:" + account, perAccount), ("address:" + address, perAddress)]
        let failures = try await store.signInFailures(
            keys: limits.map(\.0),
            since: now.addingTimeInterval(-Self.window)
        )
        var until: Date?
        for (key, limit) in limits {
            let recent = failures[key] ?? []
            if recent.count >= limit, let oldest = recent.first {
                let free = oldest.addingTimeInterval(Self.window)
                until = max(until ?? free, free)
            }
        }
        return until
    }

    func recordFailure(account: String, address: String, now: Date) async throws {
        try await store.recordSignInFailure(
            keys: ["account:" + account, "address:" + address],
            at: now,
            forgetBefore: now.addingTimeInterval(-Self.window)
        )
    }

    func recordSuccess(account: String) async throws {
        try await store.clearSignInFailures(key: "account:" + account)
    }
}

/// Sign-ins that passed the password and wait for the TOTP code, for a few minutes, in the store
/// (any instance may take the second step); the store keeps only hashes of the token and of the
/// browser's sign-in cookie.
struct PendingSignIns: Sendable {
    static let lifetime: TimeInterval = 300
    let store: any WebSessionStore

    /// Records one and returns its token.
    func start(email: String, browser: String, now: Date) async throws -> String {
        let token = WebRandom.hex(bytes: 24)
        try await store.startPendingSignIn(
            PendingSignIn(
                tokenHash: Self.hash(token),
                email: email,
                browserHash: Self.hash(browser),
                expiresAt: now.addingTimeInterval(Self.lifetime)
            ),
            now: now
        )
        return token
    }

    /// The email the token was issued for, if it is live and was issued to this browser.
    func email(token: String, browser: String, now: Date) async throws -> String? {
        guard let pending = try await store.pendingSignIn(tokenHash: Self.hash(token), now: now),
            ConstantTime.equals(pending.browserHash, Self.hash(browser))
        else { return nil }
        return pending.email
    }

    func finish(token: String) async throws { try await store.finishPendingSignIn(tokenHash: Self.hash(token)) }

    static func hash(_ text: String) -> [UInt8] { Array(SHA256.hash(data: Data(text.utf8))) }
}

/// What every web page is served with, and how the web routes answer errors: as HTML, never as
/// problem+json.
struct WebMiddleware: RouterMiddleware {
    typealias Context = AppRequestContext

    /// Same-origin resources only, no inline script or style, never framed.
    static let securityHeaders: HTTPFields = [
        .contentSecurityPolicy:
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
            + "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        HTTPField.Name("X-Frame-Options")!: "DENY",
        HTTPField.Name("X-Content-Type-Options")!: "nosniff",
        HTTPField.Name("Referrer-Policy")!: "same-origin",
        HTTPField.Name("Cross-Origin-Opener-Policy")!: "same-origin",
        .cacheControl: "no-store",
    ]

    func handle(
        _ request: Request,
        context: Context,
        next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        var response: Response
        do {
            response = try await next(request, context)
        } catch let redirect as WebRedirect {
            response = WebPages.redirect(redirect.location)
        } catch let problem as Problem {
            response = WebPages.error(status: problem.status, title: problem.title, detail: problem.detail)
        }
        for field in Self.securityHeaders { response.headers[field.name] = field.value }
        return response
    }
}

/// Ends a web request with a redirect (to sign-in, say).
struct WebRedirect: Error {
    let location: String
}
