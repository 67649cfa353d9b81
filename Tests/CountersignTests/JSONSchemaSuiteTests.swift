import Countersign
import Foundation
import Testing

/// Holds the validator to the official JSON Schema Test Suite (draft 2020-12, required tests).
@Suite("JSON Schema Test Suite, draft 2020-12")
struct JSONSchemaSuiteTests {
    /// Files whose every group exercises a feature the validator refuses on purpose.
    static let refusedFiles: Set<String> = [
        "dynamicRef.json", "refRemote.json", "unevaluatedItems.json", "unevaluatedProperties.json",
        "vocabulary.json",
    ]

    static var suiteFiles: [String] {
        (try? Fixtures.files(in: "json-schema-test-suite/draft2020-12").filter { $0.hasSuffix(".json") }) ?? []
    }

    @Test("passes every test of the file", arguments: suiteFiles)
    func file(name: String) throws {
        let data = try Fixtures.data("json-schema-test-suite/draft2020-12/\(name)")
        let groups = try #require(try JSONParser().parse(Array(data)).arrayValue)
        var refused: [String] = []
        for group in groups {
            let description = group["description"]?.stringValue ?? "?"
            let schema: JSONSchema
            do {
                schema = try JSONSchema(try #require(group["schema"]))
            } catch let error as SchemaError where error.isUnsupported {
                refused.append(description)
                continue
            }
            for test in try #require(group["tests"]?.arrayValue) {
                let expected = try #require(test["valid"]?.boolValue as Bool?)
                let violations = schema.validate(try #require(test["data"]))
                #expect(
                    violations.isEmpty == expected,
                    "\(name) / \(description) / \(test["description"]?.stringValue ?? "?"): \(violations)"
                )
            }
        }
        if Self.refusedFiles.contains(name) {
            #expect(refused.count > 0)
        } else {
            #expect(refused == Self.refusedGroups[name, default: []], "groups refused in \(name)")
        }
    }

    /// Groups outside ``refusedFiles`` that need embedded `$id`, remote or dynamic references.
    static let refusedGroups: [String: [String]] = [
        "anchor.json": [
            "Location-independent identifier with absolute URI",
            "Location-independent identifier with base URI change in subschema", "same $anchor with different base uri",
        ],
        "defs.json": ["validate definition against metaschema"],
        "not.json": ["collect annotations inside a 'not', even if collection is disabled"],
        "ref.json": [
            "remote ref, containing refs itself", "Recursive references between schemas",
            "ref creates new scope when adjacent to keywords", "refs with relative uris and defs",
            "relative refs with absolute uris and defs",
            "$id must be resolved against nearest parent, not just immediate parent",
            "order of evaluation: $id and $ref", "order of evaluation: $id and $anchor and $ref",
            "order of evaluation: $id and $ref on nested schema", "URN ref with nested pointer ref", "ref to if",
            "ref to then", "ref to else", "ref with absolute-path-reference",
        ],
    ]
}
