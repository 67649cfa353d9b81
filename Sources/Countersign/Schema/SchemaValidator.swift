/// Walks an instance against compiled ``SchemaNode``s and collects violations.
struct SchemaValidator {
    let nodes: [SchemaNode]
    let limit: Int
    private(set) var violations: [SchemaViolation] = []
    private static let maximumDepth = 128

    init(nodes: [SchemaNode], limit: Int) {
        self.nodes = nodes
        self.limit = limit
    }

    private mutating func fail(_ path: JSONPointer, _ keyword: String, _ message: String) {
        if violations.count < limit {
            violations.append(SchemaViolation(instancePath: path.description, keyword: keyword, message: message))
        }
    }

    private var isFull: Bool { violations.count >= limit }

    /// Whether `instance` satisfies node `index`, without reporting.
    private func passes(_ index: Int, _ instance: JSONValue, depth: Int) -> Bool {
        var probe = SchemaValidator(nodes: nodes, limit: 1)
        probe.validate(node: index, instance: instance, path: .root, depth: depth)
        return probe.violations.isEmpty
    }

    mutating func validate(node index: Int, instance: JSONValue, path: JSONPointer, depth: Int) {
        guard depth < Self.maximumDepth else {
            fail(path, "$ref", "schema recursion deeper than \(Self.maximumDepth) levels")
            return
        }
        let node = nodes[index]
        if node.alwaysFails {
            fail(path, "false", "no value is allowed here")
            return
        }
        if let ref = node.ref {
            validate(node: ref, instance: instance, path: path, depth: depth + 1)
        }
        if let types = node.types, !types.contains(where: { Self.matches(type: $0, instance) }) {
            let expected = types.count == 1 ? types[0] : "one of \(types.joined(separator: ", "))"
            fail(path, "type", "expected \(expected), got \(instance.typeName)")
            return
        }
        if let values = node.enumValues, !values.contains(where: { Self.equal($0, instance) }) {
            let shown = values.prefix(10).map { CanonicalJSON.string($0) }.joined(separator: ", ")
            fail(path, "enum", "must be one of \(shown)\(values.count > 10 ? ", …" : "")")
        }
        if let constant = node.constValue, !Self.equal(constant, instance) {
            fail(path, "const", "must be \(CanonicalJSON.string(constant))")
        }
        switch instance {
        case .number(let number): checkNumber(node, number, path)
        case .string(let string): checkString(node, string, path)
        case .array(let elements): checkArray(node, elements, path, depth)
        case .object(let members): checkObject(node, members, path, depth)
        default: break
        }
        checkCombinators(node, instance, path, depth)
    }

    private mutating func checkNumber(_ node: SchemaNode, _ number: Double, _ path: JSONPointer) {
        if let bound = node.maximum, number > bound { fail(path, "maximum", "must be at most \(format(bound))") }
        if let bound = node.exclusiveMaximum, number >= bound {
            fail(path, "exclusiveMaximum", "must be less than \(format(bound))")
        }
        if let bound = node.minimum, number < bound { fail(path, "minimum", "must be at least \(format(bound))") }
        if let bound = node.exclusiveMinimum, number <= bound {
            fail(path, "exclusiveMinimum", "must be greater than \(format(bound))")
        }
        if let divisor = node.multipleOf {
            let quotient = number / divisor
            let isMultiple =
                quotient.isFinite
                && (quotient - quotient.rounded()).magnitude <= 1e-9 * max(1, quotient.magnitude)
            if !isMultiple { fail(path, "multipleOf", "must be a multiple of \(format(divisor))") }
        }
    }

    private func format(_ number: Double) -> String { CanonicalJSON.format(number) }

    private mutating func checkString(_ node: SchemaNode, _ string: String, _ path: JSONPointer) {
        if node.maxLength != nil || node.minLength != nil {
            let length = string.unicodeScalars.count
            if let bound = node.maxLength, length > bound {
                fail(path, "maxLength", "must be at most \(bound) characters (is \(length))")
            }
            if let bound = node.minLength, length < bound {
                fail(path, "minLength", "must be at least \(bound) characters (is \(length))")
            }
        }
        if let pattern = node.pattern, !pattern.matches(string) {
            fail(path, "pattern", "must match the pattern \(pattern.source)")
        }
    }

    private mutating func checkArray(_ node: SchemaNode, _ elements: [JSONValue], _ path: JSONPointer, _ depth: Int) {
        if let bound = node.maxItems, elements.count > bound {
            fail(path, "maxItems", "must have at most \(bound) items (has \(elements.count))")
        }
        if let bound = node.minItems, elements.count < bound {
            fail(path, "minItems", "must have at least \(bound) items (has \(elements.count))")
        }
        if node.uniqueItems {
            outer: for first in elements.indices {
                for second in elements.indices where second > first && Self.equal(elements[first], elements[second]) {
                    fail(path, "uniqueItems", "items \(first) and \(second) are equal; items must be unique")
                    break outer
                }
            }
        }
        for (position, schema) in node.prefixItems.enumerated() where position < elements.count {
            validate(node: schema, instance: elements[position], path: path.appending(position), depth: depth + 1)
        }
        if let items = node.items {
            for position in node.prefixItems.count..<max(node.prefixItems.count, elements.count) {
                if isFull { return }
                validate(node: items, instance: elements[position], path: path.appending(position), depth: depth + 1)
            }
        }
        if let contains = node.contains {
            let matching = elements.filter { passes(contains, $0, depth: depth + 1) }.count
            let minimum = node.minContains ?? 1
            if matching < minimum {
                fail(path, "contains", "must contain at least \(minimum) matching item\(minimum == 1 ? "" : "s")")
            }
            if let maximum = node.maxContains, matching > maximum {
                fail(path, "maxContains", "must contain at most \(maximum) matching items (has \(matching))")
            }
        }
    }

    private mutating func checkObject(
        _ node: SchemaNode,
        _ members: [String: JSONValue],
        _ path: JSONPointer,
        _ depth: Int
    ) {
        if let bound = node.maxProperties, members.count > bound {
            fail(path, "maxProperties", "must have at most \(bound) properties (has \(members.count))")
        }
        if let bound = node.minProperties, members.count < bound {
            fail(path, "minProperties", "must have at least \(bound) properties (has \(members.count))")
        }
        for name in node.required where members[name] == nil {
            fail(path, "required", "missing required property \"\(name)\"")
        }
        for (trigger, names) in node.dependentRequired.sorted(by: { $0.key < $1.key }) where members[trigger] != nil {
            for name in names where members[name] == nil {
                fail(path, "dependentRequired", "property \"\(name)\" is required when \"\(trigger)\" is present")
            }
        }
        for (trigger, schema) in node.dependentSchemas.sorted(by: { $0.key < $1.key }) where members[trigger] != nil {
            validate(node: schema, instance: .object(members), path: path, depth: depth + 1)
        }
        for name in members.keys.sorted() {
            if isFull { return }
            let value = members[name]!
            var isEvaluated = false
            if let schema = node.properties[name] {
                isEvaluated = true
                validate(node: schema, instance: value, path: path.appending(name), depth: depth + 1)
            }
            for (pattern, schema) in node.patternProperties where pattern.matches(name) {
                isEvaluated = true
                validate(node: schema, instance: value, path: path.appending(name), depth: depth + 1)
            }
            if !isEvaluated, let additional = node.additionalProperties {
                if nodes[additional].alwaysFails {
                    fail(path.appending(name), "additionalProperties", "unexpected property \"\(name)\"")
                } else {
                    validate(node: additional, instance: value, path: path.appending(name), depth: depth + 1)
                }
            }
            if let names = node.propertyNames, !passes(names, .string(name), depth: depth + 1) {
                fail(path.appending(name), "propertyNames", "property name \"\(name)\" is not allowed")
            }
        }
    }

    private mutating func checkCombinators(_ node: SchemaNode, _ instance: JSONValue, _ path: JSONPointer, _ depth: Int)
    {
        for schema in node.allOf {
            validate(node: schema, instance: instance, path: path, depth: depth + 1)
        }
        if !node.anyOf.isEmpty && !node.anyOf.contains(where: { passes($0, instance, depth: depth + 1) }) {
            fail(path, "anyOf", "does not match any of the \(node.anyOf.count) allowed forms")
        }
        if !node.oneOf.isEmpty {
            let matching = node.oneOf.filter { passes($0, instance, depth: depth + 1) }.count
            if matching != 1 {
                fail(path, "oneOf", "must match exactly one of \(node.oneOf.count) forms (matches \(matching))")
            }
        }
        if let not = node.not, passes(not, instance, depth: depth + 1) {
            fail(path, "not", "matches a form that is not allowed")
        }
        if let condition = node.ifSchema {
            if passes(condition, instance, depth: depth + 1) {
                if let then = node.thenSchema { validate(node: then, instance: instance, path: path, depth: depth + 1) }
            } else if let otherwise = node.elseSchema {
                validate(node: otherwise, instance: instance, path: path, depth: depth + 1)
            }
        }
    }

    static func matches(type: String, _ instance: JSONValue) -> Bool {
        switch (type, instance) {
        case ("null", .null), ("boolean", .bool), ("number", .number), ("string", .string), ("array", .array),
            ("object", .object):
            return true
        case ("integer", .number(let number)):
            return number.rounded(.towardZero) == number
        default:
            return false
        }
    }

    /// JSON equality: numbers by value, objects regardless of member order.
    static func equal(_ lhs: JSONValue, _ rhs: JSONValue) -> Bool { lhs.isIdentical(to: rhs) }
}
