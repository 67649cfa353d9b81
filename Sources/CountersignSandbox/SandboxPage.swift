import Countersign
import Foundation
import Hummingbird

/// The page at `/sandbox`: what the sandbox providers hold and what they received.
extension Sandbox {
    func page(_ request: Request) -> Response {
        let state = snapshot()
        var html = """
            <!doctype html>
            <html lang="en"><head><meta charset="utf-8"><title>Countersign sandbox</title>
            <meta name="viewport" content="width=device-width, initial-scale=1"></head>
            <body><main>
            <h1>Countersign sandbox</h1>
            <p><strong>Sandbox:</strong> simulated GitHub, Slack and Google that ship with Countersign. Nothing here \
            reaches github.com, slack.com or google.com. State: <code>\(Self.escape(directory.appending(path: "state.json").path))</code>; \
            every call received: <code>\(Self.escape(directory.appending(path: "received.jsonl").path))</code>.</p>
            <h2>GitHub sandbox</h2>

            """
        for (name, repository) in (state["github"]?["repositories"]?.objectValue ?? [:]).sorted(by: { $0.key < $1.key })
        {
            let visibility = repository["private"] == true ? "private" : "public"
            let archived = repository["archived"] == true ? ", archived" : ""
            html += "<h3 id=\"\(Self.escape(name))\">\(Self.escape(name)) (\(visibility)\(archived))</h3>\n<ul>\n"
            for issue in repository["issues"]?.arrayValue ?? [] {
                html +=
                    "<li>issue #\(Int(issue["number"]?.numberValue ?? 0)) \(Self.escape(issue["title"]?.stringValue ?? "")): \(Self.escape(issue["state"]?.stringValue ?? ""))</li>\n"
            }
            let branches = (repository["branches"]?.arrayValue ?? []).compactMap(\.stringValue)
            html += "<li>branches: \(Self.escape(branches.joined(separator: ", ")))</li>\n</ul>\n"
        }
        html += "<h2>Slack sandbox</h2>\n"
        for (id, channel) in (state["slack"]?["channels"]?.objectValue ?? [:]).sorted(by: { $0.key < $1.key }) {
            html +=
                "<h3>#\(Self.escape(channel["name"]?.stringValue ?? "")) (\(Self.escape(id)), \(Int(channel["members"]?.numberValue ?? 0)) members)</h3>\n<ul>\n"
            for message in channel["messages"]?.arrayValue ?? [] {
                html +=
                    "<li>\(Self.escape(message["ts"]?.stringValue ?? "")) \(Self.escape(message["user"]?.stringValue ?? "")): \(Self.escape(message["text"]?.stringValue ?? ""))</li>\n"
            }
            html += "</ul>\n"
        }
        html += "<h2>Google sandbox</h2>\n<ul>\n"
        for message in state["google"]?["messages"]?.arrayValue ?? [] {
            let labels = (message["labels"]?.arrayValue ?? []).compactMap(\.stringValue).joined(separator: ", ")
            let to = (message["to"]?.arrayValue ?? []).compactMap(\.stringValue).joined(separator: ", ")
            html +=
                "<li>message \(Self.escape(message["subject"]?.stringValue ?? "")) to \(Self.escape(to)) [\(Self.escape(labels))]</li>\n"
        }
        for event in state["google"]?["events"]?.arrayValue ?? [] {
            html +=
                "<li>event \(Self.escape(event["summary"]?.stringValue ?? "")): \(Self.escape(event["status"]?.stringValue ?? ""))</li>\n"
        }
        html += "</ul>\n<h2>Received (latest first)</h2>\n<ol reversed>\n"
        for entry in received.suffix(200).reversed() {
            html +=
                "<li><code>\(Self.escape(entry.call))</code> → \(entry.status), \(Self.escape(entry.credential))<br><code>\(Self.escape(CanonicalJSON.string(entry.arguments)))</code></li>\n"
        }
        html += "</ol>\n</main></body></html>\n"
        return Response(
            status: .ok,
            headers: [.contentType: "text/html; charset=utf-8", .cacheControl: "no-store"],
            body: .init(byteBuffer: ByteBuffer(string: html))
        )
    }

    static func escape(_ text: String) -> String { HTML.escape(text) }
}
