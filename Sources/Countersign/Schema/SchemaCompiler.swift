/// Turns a schema document into ``SchemaNode``s, resolving local references.
struct SchemaCompiler {
    let document: JSONValue
    private var nodes: [SchemaNode] = []
    private var nodeAtPath: [JSONPointer: Int] = [:]
    private var anchors: [String: JSONPointer] = [:]
    private var pendingRefs: [(node: Int, reference: String, path: JSONPointer)] = []
    private var baseURI: String?

    private static let annotationKeywords: Set<String> = [
        "$schema", "$comment", "title", "description", "default", "examples", "deprecated", "readOnly",
        "writeOnly", "format", "contentEncoding", "contentMediaType", "contentSchema", "$defs", "$anchor", "$id",
    ]
    private static let refusedKeywords: Set<String> = [
        "$dynamicRef", "$dynamicAnchor", "$recursiveRef", "$recursiveAnchor", "unevaluatedItems",
        "unevaluatedProperties", "$vocabulary",
    ]

    init(document: JSONValue) {
        self.document = document
    }

    mutating func compile() throws(SchemaError) -> [SchemaNode] {
        if case .object(let members) = document, let id = members["$id"] {
            guard case .string(let uri) = id else { throw .invalid("$id must be a string", at: .root) }
            baseURI = uri.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init)
        }
        try collectAnchors(document, path: .root, isSchema: true)
        _ = try compileNode(document, path: .root)
        var resolved = 0
        while resolved < pendingRefs.count {
            let (node, reference, path) = pendingRefs[resolved]
            resolved += 1
            let target = try resolve(reference, from: path)
            if let index = nodeAtPath[target] {
                nodes[node].ref = index
            } else {
                guard let value = document.value(at: target) else {
                    throw .invalid("$ref \"\(reference)\" points at nothing", at: path)
                }
                nodes[node].ref = try compileNode(value, path: target)
            }
        }
        return nodes
    }

    private mutating func collectAnchors(_ value: JSONValue, path: JSONPointer, isSchema: Bool) throws(SchemaError) {
        switch value {
        case .object(let members):
            if isSchema, case .string(let anchor)? = members["$anchor"] {
                anchors[anchor] = path
            }
            for (key, member) in members {
                try collectAnchors(member, path: path.appending(key), isSchema: key != "enum" && key != "const")
            }
        case .array(let elements):
            for (index, element) in elements.enumerated() {
                try collectAnchors(element, path: path.appending(index), isSchema: isSchema)
            }
        default:
            break
        }
    }

    private func resolve(_ reference: String, from path: JSONPointer) throws(SchemaError) -> JSONPointer {
        var fragment = reference
        if let hash = reference.firstIndex(of: "#") {
            let resource = String(reference[..<hash])
            if !resource.isEmpty && resource != baseURI {
                throw .unsupported("remote $ref \"\(reference)\" is not supported", at: path)
            }
            fragment = String(reference[reference.index(after: hash)...])
        } else if !reference.isEmpty && reference != baseURI {
            throw .unsupported("remote $ref \"\(reference)\" is not supported", at: path)
        } else {
            fragment = ""
        }
        let decoded = fragment.removingPercentEncoding() ?? fragment
        if decoded.isEmpty || decoded.hasPrefix("/") {
            guard let pointer = JSONPointer(decoded) else { throw .invalid("invalid $ref \"\(reference)\"", at: path) }
            return pointer
        }
        guard let anchor = anchors[decoded] else {
            throw .invalid("$ref \"\(reference)\" names an unknown anchor", at: path)
        }
        return anchor
    }

    private mutating func compileNode(_ value: JSONValue, path: JSONPointer) throws(SchemaError) -> Int {
        if let existing = nodeAtPath[path] { return existing }
        let index = nodes.count
        nodes.append(SchemaNode())
        nodeAtPath[path] = index
        switch value {
        case .bool(let flag):
            nodes[index].alwaysFails = !flag
            return index
        case .object(let members):
            let node = try compileKeywords(members, path: path)
            nodes[index] = node
            return index
        default:
            throw .invalid("a schema must be an object or a Boolean", at: path)
        }
    }

    private mutating func compileKeywords(
        _ members: [String: JSONValue],
        path: JSONPointer
    ) throws(SchemaError)
        -> SchemaNode
    {
        var node = SchemaNode()
        for key in members.keys where Self.refusedKeywords.contains(key) {
            throw .unsupported("keyword \(key) is not supported", at: path.appending(key))
        }
        if members["$id"] != nil && !path.tokens.isEmpty {
            throw .unsupported("$id below the schema root is not supported", at: path.appending("$id"))
        }
        if case .string(let schema)? = members["$schema"],
            schema != "https://json-schema.org/draft/2020-12/schema"
                && schema != "https://json-schema.org/draft/2020-12/schema#"
        {
            throw .unsupported("only the JSON Schema draft 2020-12 metaschema is supported, not \(schema)", at: path)
        }
        if case .object(let defs)? = members["$defs"] {
            for (name, def) in defs { _ = try compileNode(def, path: path.appending("$defs").appending(name)) }
        }
        for (key, value) in members {
            let at = path.appending(key)
            switch key {
            case "type":
                switch value {
                case .string(let name): node.types = [try Self.typeName(name, at: at)]
                case .array(let names):
                    var types: [String] = []
                    for name in names {
                        guard case .string(let text) = name else {
                            throw .invalid("type names must be strings", at: at)
                        }
                        types.append(try Self.typeName(text, at: at))
                    }
                    node.types = types
                default: throw .invalid("type must be a string or an array of strings", at: at)
                }
            case "enum":
                guard case .array(let values) = value else { throw .invalid("enum must be an array", at: at) }
                node.enumValues = values
            case "const": node.constValue = value
            case "multipleOf":
                let number = try Self.number(value, at: at)
                guard number > 0 else { throw .invalid("multipleOf must be greater than 0", at: at) }
                node.multipleOf = number
            case "maximum": node.maximum = try Self.number(value, at: at)
            case "exclusiveMaximum": node.exclusiveMaximum = try Self.number(value, at: at)
            case "minimum": node.minimum = try Self.number(value, at: at)
            case "exclusiveMinimum": node.exclusiveMinimum = try Self.number(value, at: at)
            case "maxLength": node.maxLength = try Self.count(value, at: at)
            case "minLength": node.minLength = try Self.count(value, at: at)
            case "pattern":
                guard case .string(let source) = value else { throw .invalid("pattern must be a string", at: at) }
                node.pattern = try Self.pattern(source, at: at)
            case "maxItems": node.maxItems = try Self.count(value, at: at)
            case "minItems": node.minItems = try Self.count(value, at: at)
            case "uniqueItems":
                guard case .bool(let flag) = value else { throw .invalid("uniqueItems must be a Boolean", at: at) }
                node.uniqueItems = flag
            case "maxContains": node.maxContains = try Self.count(value, at: at)
            case "minContains": node.minContains = try Self.count(value, at: at)
            case "maxProperties": node.maxProperties = try Self.count(value, at: at)
            case "minProperties": node.minProperties = try Self.count(value, at: at)
            case "required": node.required = try Self.strings(value, at: at)
            case "dependentRequired":
                guard case .object(let dependencies) = value else {
                    throw .invalid("dependentRequired must be an object", at: at)
                }
                for (name, names) in dependencies {
                    node.dependentRequired[name] = try Self.strings(names, at: at.appending(name))
                }
            case "properties":
                guard case .object(let properties) = value else {
                    throw .invalid("properties must be an object", at: at)
                }
                for (name, schema) in properties {
                    node.properties[name] = try compileNode(schema, path: at.appending(name))
                }
            case "patternProperties":
                guard case .object(let patterns) = value else {
                    throw .invalid("patternProperties must be an object", at: at)
                }
                for (source, schema) in patterns.sorted(by: { $0.key < $1.key }) {
                    let compiled = try Self.pattern(source, at: at.appending(source))
                    node.patternProperties.append((compiled, try compileNode(schema, path: at.appending(source))))
                }
            case "additionalProperties": node.additionalProperties = try compileNode(value, path: at)
            case "propertyNames": node.propertyNames = try compileNode(value, path: at)
            case "prefixItems": node.prefixItems = try compileList(value, at: at)
            case "items": node.items = try compileNode(value, path: at)
            case "contains": node.contains = try compileNode(value, path: at)
            case "allOf": node.allOf = try compileList(value, at: at)
            case "anyOf": node.anyOf = try compileList(value, at: at)
            case "oneOf": node.oneOf = try compileList(value, at: at)
            case "not": node.not = try compileNode(value, path: at)
            case "if": node.ifSchema = try compileNode(value, path: at)
            case "then": node.thenSchema = try compileNode(value, path: at)
            case "else": node.elseSchema = try compileNode(value, path: at)
            case "dependentSchemas":
                guard case .object(let schemas) = value else {
                    throw .invalid("dependentSchemas must be an object", at: at)
                }
                for (name, schema) in schemas {
                    node.dependentSchemas[name] = try compileNode(schema, path: at.appending(name))
                }
            case "$ref":
                guard case .string(let reference) = value else { throw .invalid("$ref must be a string", at: at) }
                pendingRefs.append((nodes.count, reference, at))
                // The node's own index is assigned by the caller; remember the reference against a placeholder.
                nodes.append(SchemaNode())
                node.ref = nodes.count - 1
            default:
                continue  // Annotations and unknown keywords carry no assertion (draft 2020-12, section 6.5).
            }
        }
        return node
    }

    private mutating func compileList(_ value: JSONValue, at path: JSONPointer) throws(SchemaError) -> [Int] {
        guard case .array(let schemas) = value, !schemas.isEmpty else {
            throw .invalid("expected a non-empty array of schemas", at: path)
        }
        var indices: [Int] = []
        for (position, schema) in schemas.enumerated() {
            indices.append(try compileNode(schema, path: path.appending(position)))
        }
        return indices
    }

    private static func typeName(_ name: String, at path: JSONPointer) throws(SchemaError) -> String {
        let known = ["null", "boolean", "object", "array", "number", "string", "integer"]
        guard known.contains(name) else { throw .invalid("unknown type \"\(name)\"", at: path) }
        return name
    }

    private static func number(_ value: JSONValue, at path: JSONPointer) throws(SchemaError) -> Double {
        guard case .number(let number) = value else { throw .invalid("expected a number", at: path) }
        return number
    }

    private static func count(_ value: JSONValue, at path: JSONPointer) throws(SchemaError) -> Int {
        guard case .number(let number) = value, number >= 0, number.rounded() == number, number < 1e15 else {
            throw .invalid("expected a non-negative integer", at: path)
        }
        return Int(number)
    }

    private static func strings(_ value: JSONValue, at path: JSONPointer) throws(SchemaError) -> [String] {
        guard case .array(let elements) = value else { throw .invalid("expected an array of strings", at: path) }
        var strings: [String] = []
        for element in elements {
            guard case .string(let text) = element else { throw .invalid("expected an array of strings", at: path) }
            strings.append(text)
        }
        return strings
    }

    private static func pattern(_ source: String, at path: JSONPointer) throws(SchemaError) -> Pattern {
        do {
            return try Pattern(source)
        } catch {
            throw .invalid(error.description, at: path)
        }
    }
}

extension String {
    /// Decodes `%XX` escapes as URI fragments use them; `nil` when an escape is malformed.
    func removingPercentEncoding() -> String? {
        guard contains("%") else { return self }
        var bytes: [UInt8] = []
        var iterator = utf8.makeIterator()
        while let byte = iterator.next() {
            if byte == UInt8(ascii: "%") {
                guard let high = iterator.next(), let low = iterator.next(),
                    let value = UInt8(String(decoding: [high, low], as: UTF8.self), radix: 16)
                else { return nil }
                bytes.append(value)
            } else {
                bytes.append(byte)
            }
        }
        return String(validating: bytes, as: UTF8.self)
    }
}
