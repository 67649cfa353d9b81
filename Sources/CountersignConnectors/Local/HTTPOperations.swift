public import Countersign

/// The `http` connector: one HTTP request to a host on the allowlist.
public enum HTTPOperations {
    /// Every `http` operation.
    public static func descriptors() throws(SchemaError) -> [OperationDescriptor] {
        [try request()]
    }

    static func request() throws(SchemaError) -> OperationDescriptor {
        try OperationDescriptor(
            id: OperationID("http.request")!,
            summary: "Send an HTTP request to an allowlisted host",
            schema: [
                "type": "object", "required": ["method", "url"], "additionalProperties": false,
                "properties": [
                    "method": ["enum": ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"]],
                    "url": ["type": "string", "minLength": 8, "maxLength": 4096, "pattern": "^https?://"],
                    "headers": [
                        "type": "object", "maxProperties": 32,
                        "additionalProperties": ["type": "string", "maxLength": 4096],
                    ],
                    "body": ["type": "string", "maxLength": 1_048_576],
                ],
            ],
            scopes: ["http:request"],
            defaultLevel: .medium,
            hints: [
                RiskHint("changes_remote_state") { arguments in
                    let method = arguments["method"]?.stringValue ?? "GET"
                    return writeMethods.contains(method)
                        ? (.high, "\(method) changes state on the remote service") : nil
                },
                RiskHint("credentials_in_request") { arguments in
                    let names = arguments["headers"]?.objectValue?.keys.map { $0.lowercased() } ?? []
                    return names.contains(where: { ["authorization", "cookie", "x-api-key"].contains($0) })
                        ? (.critical, "the agent supplies its own credentials in the request headers") : nil
                },
                RiskHint("plain_http") { arguments in
                    (arguments["url"]?.stringValue ?? "").hasPrefix("http://")
                        ? (.medium, "the request is not encrypted (http://)") : nil
                },
            ],
            isReversible: false,
            target: { arguments in host(of: arguments["url"]?.stringValue ?? "") },
            impact: { arguments in
                let method = arguments["method"]?.stringValue ?? "GET"
                let url = arguments["url"]?.stringValue ?? "?"
                let size = arguments["body"]?.stringValue?.utf8.count ?? 0
                let body = size > 0 ? " with a \(size)-byte body" : ""
                let effect =
                    ["GET", "HEAD"].contains(method)
                    ? "Reads \(url)" : "Sends \(method) \(url)\(body), which may change data on \(host(of: url))"
                return effect + "."
            }
        )
    }

    static let writeMethods: Set<String> = ["POST", "PUT", "PATCH", "DELETE"]

    static func host(of url: String) -> String {
        guard let colon = url.firstIndex(of: ":"), url[colon...].hasPrefix("://") else { return url }
        let rest = url[url.index(colon, offsetBy: 3)...]
        let authority = rest.prefix { $0 != "/" && $0 != "?" && $0 != "#" }
        return String(authority.split(separator: "@").last ?? authority)
    }
}
