public import Countersign

/// Where a run's plan comes from: a model that turns a goal into proposed actions, or a file.
///
/// A planner proposes; it never executes, and nothing it says about risk or impact is used as such:
/// each step is assessed by policy and described by its connector like any proposed action.
public protocol Planner: Sendable {
    /// The planner's name, recorded with the run (`file`, or the model's).
    var name: String { get }

    /// The steps that carry out `goal`, each an operation of the catalog with its arguments.
    ///
    /// - Throws: ``RunError`` when no plan can be made.
    func plan(goal: String, catalog: OperationCatalog) async throws -> [RunStep]
}

/// The deterministic planner: the plan is written out, in YAML or JSON, and used as it is.
///
/// ```yaml
/// steps:
///   - operation: files.write
///     arguments: { path: notes/release.md, content: "..." }
///     rationale: Draft the release notes
///   - operation: files.append
///     arguments: { path: CHANGELOG.md, content: "..." }
///     rationale: Record the release
///     dependsOn: [0]
/// ```
public struct PlanFile: Planner {
    /// At most this many steps in a plan.
    public static let maximumSteps = 100

    public let name = "file"
    /// The steps, as written.
    public let steps: [RunStep]

    /// Reads a plan.
    ///
    /// - Throws: ``RunError`` naming the step and member that is wrong.
    public init(text: String) throws(RunError) {
        let document: JSONValue
        do {
            document = try JSONValue(yaml: text)
        } catch {
            throw .invalid("the plan is \(error)")
        }
        try self.init(json: document["steps"] ?? document)
    }

    /// Reads a plan's steps: an array, or an object with `steps`.
    ///
    /// - Throws: ``RunError`` naming the step and member that is wrong.
    public init(json: JSONValue) throws(RunError) {
        guard let items = (json["steps"] ?? json).arrayValue, !items.isEmpty else {
            throw .invalid("a plan is a non-empty list of steps (`steps:`)")
        }
        guard items.count <= Self.maximumSteps else {
            throw .invalid("a plan has at most \(Self.maximumSteps) steps; this one has \(items.count)")
        }
        var steps: [RunStep] = []
        for (index, item) in items.enumerated() {
            let place = "step \(index)"
            guard let name = item["operation"]?.stringValue else { throw .invalid("\(place) needs an operation") }
            guard let operation = OperationID(name) else {
                throw .invalid("\(place): \"\(name)\" is not an operation (connector.operation)")
            }
            let arguments = item["arguments"] ?? .object([:])
            guard arguments.objectValue != nil else { throw .invalid("\(place): arguments must be an object") }
            let rationale = item["rationale"]?.stringValue ?? ""
            guard rationale.count <= 2000 else {
                throw .invalid("\(place): the rationale is longer than 2000 characters")
            }
            var dependsOn: [Int] = []
            for value in item["dependsOn"]?.arrayValue ?? [] {
                guard let dependency = value.numberValue.flatMap({ Int(exactly: $0) }), (0..<index).contains(dependency)
                else { throw .invalid("\(place): dependsOn lists earlier steps by their index, from 0") }
                dependsOn.append(dependency)
            }
            steps.append(
                RunStep(
                    index: index,
                    operation: operation,
                    arguments: arguments,
                    rationale: rationale,
                    dependsOn: Array(Set(dependsOn)).sorted()
                )
            )
        }
        self.steps = steps
    }

    public func plan(goal: String, catalog: OperationCatalog) async throws -> [RunStep] { steps }
}
