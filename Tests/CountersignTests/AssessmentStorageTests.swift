import Countersign
import CountersignConnectors
import Foundation
import Testing

@Suite struct AssessmentStorageTests {
    @Test(
        "the stored form round-trips, and reads what JSONEncoder wrote before",
        arguments: [
            #"{"operation":"shell.run","arguments":{"program":"sudo","arguments":["ls"]}}"#,
            #"{"operation":"files.delete","arguments":{"paths":["build"],"recursive":true}}"#,
            #"{"operation":"files.read","arguments":{"path":"notes.md"}}"#,
        ]
    )
    func roundTrip(_ text: String) throws {
        let catalog = Catalogs.local()
        let policy = try Policy(yaml: Policy.defaultYAML, catalog: catalog)
        let value = try JSONParser().parse(Array(text.utf8))
        let action = ProposedAction(
            operation: OperationID(value["operation"]?.stringValue ?? "")!,
            arguments: value["arguments"] ?? [:],
            principal: "ana@acme.test",
            agent: "planner"
        )
        let assessment = policy.assess(action, operation: try catalog.validate(action))
        #expect(Assessment(storageJSON: assessment.storageJSON) == assessment)
        let encoded = try JSONParser().parse(Array(try JSONEncoder().encode(assessment)))
        #expect(Assessment(storageJSON: encoded) == assessment)
    }

    @Test("a stored form with a missing or mistyped member is refused")
    func refuses() throws {
        #expect(Assessment(storageJSON: ["level": "high"]) == nil)
        #expect(Assessment(storageJSON: .string("x")) == nil)
    }
}
