public import Countersign

/// The `files` connector's operations: read, list, write, append and delete under a workspace root.
///
/// Paths are relative to the configured root. Absolute paths, `..` and symbolic links that leave the
/// root are refused when the action runs; the hints below make such attempts visible to the approver
/// before that.
public enum FilesOperations {
    /// Every `files` operation.
    public static func descriptors() throws(SchemaError) -> [OperationDescriptor] {
        [try read(), try list(), try write(), try append(), try delete()]
    }

    static let pathSchema: JSONValue = [
        "type": "string", "minLength": 1, "maxLength": 1024,
        "description": "A path relative to the workspace root",
    ]

    static func read() throws(SchemaError) -> OperationDescriptor {
        try OperationDescriptor(
            id: OperationID("files.read")!,
            summary: "Read a text file in the workspace",
            schema: [
                "type": "object", "required": ["path"], "additionalProperties": false,
                "properties": ["path": pathSchema],
            ],
            scopes: ["files:read"],
            defaultLevel: .low,
            hints: [pathHints()],
            isReversible: true,
            isReadOnly: true,
            target: { $0["path"]?.stringValue },
            impact: { "Reads the file \(quoted($0["path"])) from the workspace; nothing is changed." }
        )
    }

    static func list() throws(SchemaError) -> OperationDescriptor {
        try OperationDescriptor(
            id: OperationID("files.list")!,
            summary: "List a directory in the workspace",
            schema: [
                "type": "object", "additionalProperties": false,
                "properties": ["path": pathSchema, "recursive": ["type": "boolean"]],
            ],
            scopes: ["files:read"],
            defaultLevel: .low,
            hints: [pathHints()],
            isReversible: true,
            isReadOnly: true,
            target: { $0["path"]?.stringValue ?? "." },
            impact: { arguments in
                let depth = arguments["recursive"]?.boolValue == true ? " and everything below it" : ""
                return
                    "Lists the directory \(quoted(arguments["path"] ?? ".")) in the workspace\(depth); nothing is changed."
            }
        )
    }

    static func write() throws(SchemaError) -> OperationDescriptor {
        try OperationDescriptor(
            id: OperationID("files.write")!,
            summary: "Create or replace a file in the workspace",
            schema: [
                "type": "object", "required": ["path", "content"], "additionalProperties": false,
                "properties": [
                    "path": pathSchema,
                    "content": ["type": "string", "maxLength": 10_485_760],
                    "overwrite": ["type": "boolean", "description": "Replace the file when it exists (default false)"],
                ],
            ],
            scopes: ["files:write"],
            defaultLevel: .medium,
            hints: [pathHints(), largeContent(), overwrites()],
            isReversible: false,
            target: { $0["path"]?.stringValue },
            impact: { arguments in
                let size = byteCount(arguments["content"])
                let mode =
                    arguments["overwrite"]?.boolValue == true
                    ? "Creates or replaces" : "Creates (and refuses to replace)"
                return "\(mode) the file \(quoted(arguments["path"])) with \(size) of content."
            }
        )
    }

    static func append() throws(SchemaError) -> OperationDescriptor {
        try OperationDescriptor(
            id: OperationID("files.append")!,
            summary: "Append text to a file in the workspace",
            schema: [
                "type": "object", "required": ["path", "content"], "additionalProperties": false,
                "properties": ["path": pathSchema, "content": ["type": "string", "maxLength": 10_485_760]],
            ],
            scopes: ["files:write"],
            defaultLevel: .medium,
            hints: [pathHints(), largeContent()],
            isReversible: false,
            target: { $0["path"]?.stringValue },
            impact: {
                "Appends \(byteCount($0["content"])) to the end of \(quoted($0["path"])), creating it if missing."
            }
        )
    }

    static func delete() throws(SchemaError) -> OperationDescriptor {
        try OperationDescriptor(
            id: OperationID("files.delete")!,
            summary: "Delete files or directories in the workspace",
            schema: [
                "type": "object", "required": ["paths"], "additionalProperties": false,
                "properties": [
                    "paths": [
                        "type": "array", "items": pathSchema, "minItems": 1, "maxItems": 1000, "uniqueItems": true,
                    ],
                    "recursive": ["type": "boolean", "description": "Delete directories with their contents"],
                ],
            ],
            scopes: ["files:delete"],
            defaultLevel: .medium,
            hints: [
                pathHints("paths"),
                RiskHint("directory") { arguments in
                    arguments["recursive"]?.boolValue == true
                        ? (.high, "deletes directories together with everything inside them") : nil
                },
                RiskHint("many_files") { arguments in
                    let count = arguments["paths"]?.arrayValue?.count ?? 0
                    return count >= 20 ? (.critical, "deletes \(count) paths at once") : nil
                },
            ],
            isReversible: false,
            target: { arguments in
                let paths = arguments["paths"]?.arrayValue ?? []
                return paths.count == 1 ? paths[0].stringValue : "\(paths.count) paths"
            },
            impact: { arguments in
                let paths = arguments["paths"]?.arrayValue?.compactMap(\.stringValue) ?? []
                let shown = paths.prefix(5).map { "\"\($0)\"" }.joined(separator: ", ")
                let more = paths.count > 5 ? " and \(paths.count - 5) more" : ""
                let contents =
                    arguments["recursive"]?.boolValue == true ? ", including everything inside directories" : ""
                return "Permanently deletes \(shown)\(more) from the workspace\(contents). There is no undo."
            }
        )
    }

    // MARK: - Hints

    /// One pass over the path (or paths) under `key`: a path outside the workspace root is
    /// Critical, a credential, key, CI or version-control file is High.
    static func pathHints(_ key: String = "path") -> RiskHint {
        RiskHint(group: "paths") { arguments in
            var outside: String?
            var sensitive: String?
            func look(_ path: String) -> Bool {
                let facts = PathFacts(path)
                if facts.escapesRoot && outside == nil { outside = path }
                if facts.isSensitive && sensitive == nil { sensitive = path }
                return outside != nil && sensitive != nil
            }
            switch arguments[key] {
            case .string(let path)?:
                _ = look(path)
            case .array(let items)?:
                items.withUnsafeBufferPointer { buffer in
                    for index in buffer.indices {
                        guard case .string(let path) = buffer[index] else { continue }
                        if look(path) { break }
                    }
                }
            default:
                break
            }
            var reasons: [(name: String, level: RiskLevel, text: String)] = []
            if let outside {
                reasons.append(
                    (
                        "outside_root", .critical,
                        "path \"\(outside)\" points outside the workspace root (it will be refused)"
                    )
                )
            }
            if let sensitive {
                reasons.append(
                    ("sensitive_path", .high, "path \"\(sensitive)\" is a credential, key, CI or version-control file")
                )
            }
            return reasons
        }
    }

    static func largeContent() -> RiskHint {
        RiskHint("large_content") { arguments in
            let size = arguments["content"]?.stringValue?.utf8.count ?? 0
            return size > 1_048_576 ? (.high, "writes more than 1 MiB (\(size) bytes)") : nil
        }
    }

    static func overwrites() -> RiskHint {
        RiskHint("overwrite") { arguments in
            arguments["overwrite"]?.boolValue == true ? (.medium, "may replace an existing file's contents") : nil
        }
    }

    static func quoted(_ value: JSONValue?) -> String { "\"\(value?.stringValue ?? "?")\"" }

    static func byteCount(_ value: JSONValue?) -> String {
        let count = value?.stringValue?.utf8.count ?? 0
        return count == 1 ? "1 byte" : "\(count) bytes"
    }
}
