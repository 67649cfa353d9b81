import Foundation
import Yams

extension JSONValue {
    /// Parses YAML (of which JSON is a subset) into JSON: plain scalars are typed by YAML's core
    /// schema, quoted ones stay strings.
    ///
    /// - Throws: ``JSONValueYAMLError`` with the parser's message and position.
    public init(yaml: String) throws(JSONValueYAMLError) {
        let root: Node?
        do {
            root = try Yams.compose(yaml: yaml)
        } catch {
            throw JSONValueYAMLError(description: "not valid YAML or JSON: \(error)")
        }
        self = root.map(JSONValue.init(yamlNode:)) ?? .null
    }

    /// Converts a YAML node to JSON.
    init(yamlNode node: Node) {
        switch node {
        case .scalar(let scalar):
            switch node.tagName {
            case .null: self = .null
            case .bool: self = node.bool.map(JSONValue.bool) ?? .string(scalar.string)
            case .int, .float:
                if let number = node.float, number.isFinite {
                    self = .number(number)
                } else {
                    self = .string(scalar.string)
                }
            default: self = .string(scalar.string)
            }
        case .sequence(let items):
            self = .array(items.map(JSONValue.init(yamlNode:)))
        case .mapping(let pairs):
            var members: [String: JSONValue] = [:]
            for (key, value) in pairs { members[key.string ?? ""] = JSONValue(yamlNode: value) }
            self = .object(members)
        case .alias:
            self = .null
        }
    }
}

/// Text that is neither YAML nor JSON.
public struct JSONValueYAMLError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What the parser said.
    public let description: String
}

extension Node {
    /// The resolved YAML tag (`tag:yaml.org,2002:int`…) of the node.
    var tagName: Tag.Name { Tag.Name(rawValue: tag.description) }
}
