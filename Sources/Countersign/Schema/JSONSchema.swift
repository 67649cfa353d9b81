/// A compiled JSON Schema (draft 2020-12) that validates instances and says precisely why one fails.
///
/// The validator implements the applicator and validation vocabularies with local `$ref`,
/// `$defs` and `$anchor`. Features it does not implement (`$dynamicRef`, `unevaluated*`,
/// embedded `$id`, remote references) make compilation fail rather than being ignored, so a
/// schema is never silently weaker than it reads. `format` is an annotation, as the draft says.
public struct JSONSchema: Sendable {
    /// The schema document as written.
    public let document: JSONValue
    let nodes: [SchemaNode]

    /// Compiles a schema document.
    ///
    /// - Throws: ``SchemaError`` naming the schema location of the first problem.
    public init(_ document: JSONValue) throws(SchemaError) {
        var compiler = SchemaCompiler(document: document)
        self.nodes = try compiler.compile()
        self.document = document
    }

    /// Validates an instance.
    ///
    /// - Parameters:
    ///   - instance: The value to check.
    ///   - limit: The most violations to report.
    /// - Returns: Every violation found (up to `limit`); empty when the instance is valid.
    public func validate(_ instance: JSONValue, limit: Int = 20) -> [SchemaViolation] {
        var validator = SchemaValidator(nodes: nodes, limit: limit)
        validator.validate(node: 0, instance: instance, path: .root, depth: 0)
        return validator.violations
    }

    /// Whether the instance is valid.
    public func isValid(_ instance: JSONValue) -> Bool {
        validate(instance, limit: 1).isEmpty
    }
}

/// One compiled schema: a Boolean schema or a set of keywords.
struct SchemaNode: Sendable {
    var alwaysFails = false
    var types: [String]?
    var enumValues: [JSONValue]?
    var constValue: JSONValue?
    var multipleOf: Double?
    var maximum: Double?
    var exclusiveMaximum: Double?
    var minimum: Double?
    var exclusiveMinimum: Double?
    var maxLength: Int?
    var minLength: Int?
    var pattern: Pattern?
    var maxItems: Int?
    var minItems: Int?
    var uniqueItems = false
    var maxContains: Int?
    var minContains: Int?
    var maxProperties: Int?
    var minProperties: Int?
    var required: [String] = []
    var dependentRequired: [String: [String]] = [:]
    var properties: [String: Int] = [:]
    var patternProperties: [(Pattern, Int)] = []
    var additionalProperties: Int?
    var propertyNames: Int?
    var prefixItems: [Int] = []
    var items: Int?
    var contains: Int?
    var allOf: [Int] = []
    var anyOf: [Int] = []
    var oneOf: [Int] = []
    var not: Int?
    var ifSchema: Int?
    var thenSchema: Int?
    var elseSchema: Int?
    var dependentSchemas: [String: Int] = [:]
    var ref: Int?
}
