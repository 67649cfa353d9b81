import Countersign
public import CountersignVault
import Foundation
import HTTPTypes
public import Hummingbird

/// The browser side of connecting an account: `/oauth/start` opens a connect link and sends the
/// browser to the provider with a cookie that binds the flow to it; `/oauth/callback` finishes the
/// flow when the provider sends the browser back.
public enum ConnectRoutes {
    /// The binding cookie's name over plain HTTP on loopback, and over TLS.
    static let cookie = "countersign-connect"
    static let secureCookie = "__Host-countersign-connect"
    static let referrerPolicy = HTTPField.Name("Referrer-Policy")!

    /// Adds the routes.
    public static func add<Context: RequestContext>(to router: Router<Context>, vault: Vault) {
        router.get("/oauth/start") { request, _ in await start(request, vault: vault) }
        router.get("/oauth/callback") { request, _ in await callback(request, vault: vault) }
    }

    static func start(_ request: Request, vault: Vault) async -> Response {
        let query = request.uri.queryParameters
        guard let flow = query["flow"].map(String.init), let key = query["key"].map(String.init) else {
            return page(
                .badRequest,
                "Not a connect link",
                "This address lacks its flow or key. Start again with `countersign connections connect`."
            )
        }
        do {
            let redirect = try await vault.openConnect(flowID: flow, key: key)
            let seconds = max(0, Int(redirect.expiresAt.timeIntervalSinceNow))
            // Lax, not Strict: the provider's redirect back is a cross-site top-level navigation.
            let cookie =
                redirect.secure
                ? "\(secureCookie)=\(redirect.binder.reveal()); Path=/; Max-Age=\(seconds); HttpOnly; Secure; SameSite=Lax"
                : "\(Self.cookie)=\(redirect.binder.reveal()); Path=/oauth/; Max-Age=\(seconds); HttpOnly; SameSite=Lax"
            return Response(
                status: .found,
                headers: [
                    .location: redirect.authorizationURL, .setCookie: cookie, .cacheControl: "no-store",
                    Self.referrerPolicy: "no-referrer",
                ]
            )
        } catch let error as VaultError {
            return page(.badRequest, "This connect link cannot be used", error.description)
        } catch {
            return page(
                .internalServerError,
                "Countersign could not start the connection",
                "Its store failed; try again."
            )
        }
    }

    static func callback(_ request: Request, vault: Vault) async -> Response {
        var query: [String: String] = [:]
        for (name, value) in request.uri.queryParameters where query[String(name)] == nil {
            query[String(name)] = String(value)
        }
        let binder = cookieValue(request, names: [secureCookie, cookie])
        let clear = [
            "\(secureCookie)=; Path=/; Max-Age=0; HttpOnly; Secure; SameSite=Lax",
            "\(cookie)=; Path=/oauth/; Max-Age=0; HttpOnly; SameSite=Lax",
        ]
        var response: Response
        do {
            let connection = try await vault.completeConnect(query: query, binder: binder.map(Secret.init))
            response = page(
                .ok,
                "Connected",
                "\(connection.provider) account \(connection.account) is connected for \(connection.principal), with the scopes \(connection.scopes.joined(separator: ", ")). Countersign holds its token; no agent ever sees it. You can close this window."
            )
        } catch let error as VaultError {
            response = page(.badRequest, "Nothing was connected", error.description)
        } catch {
            response = page(.internalServerError, "Nothing was connected", "Countersign's store failed; try again.")
        }
        for value in clear { response.headers.append(HTTPField(name: .setCookie, value: value)) }
        return response
    }

    static func cookieValue(_ request: Request, names: [String]) -> String? {
        for header in request.headers[values: .cookie] {
            for pair in header.split(separator: ";") {
                let parts = pair.trimmingCharacters(in: .whitespaces).split(separator: "=", maxSplits: 1)
                if parts.count == 2, names.contains(String(parts[0])) { return String(parts[1]) }
            }
        }
        return nil
    }

    /// A small page for the person in the browser, every value escaped.
    static func page(_ status: HTTPResponse.Status, _ title: String, _ message: String) -> Response {
        let html = """
            <!doctype html>
            <html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
            <title>\(HTML.escape(title)) · Countersign</title></head>
            <body style="font-family: system-ui, sans-serif; max-width: 40rem; margin: 3rem auto; padding: 0 1rem">
            <h1>\(HTML.escape(title))</h1><p>\(HTML.escape(message))</p></body></html>
            """
        return Response(
            status: status,
            headers: [
                .contentType: "text/html; charset=utf-8", .cacheControl: "no-store", Self.referrerPolicy: "no-referrer",
                .contentSecurityPolicy: "default-src 'none'; style-src 'unsafe-inline'",
                .xContentTypeOptions: "nosniff",
            ],
            body: ResponseBody(byteBuffer: ByteBuffer(string: html))
        )
    }
}
