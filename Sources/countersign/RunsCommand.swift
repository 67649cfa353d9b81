import ArgumentParser
import Countersign
import CountersignAgent
import Foundation

/// `countersign runs`: start a goal's plan on a server as an agent, and follow it.
struct RunsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "runs",
        abstract: "Start and follow runs: a goal carried out as a plan of gated actions (with $COUNTERSIGN_AGENT_KEY).",
        subcommands: [Start.self, Show.self, List.self]
    )

    /// A run's plan, one line a step.
    static func describe(_ run: JSONValue) -> String {
        var lines = [
            "run \(run["id"]?.stringValue ?? "?")  \(run["state"]?.stringValue ?? "?")",
            "  goal          \(run["goal"]?.stringValue ?? "")",
            "  on behalf of  \(run["onBehalfOf"]?.stringValue ?? "")",
        ]
        lines.append("  planner       \(run["planner"]?.stringValue ?? "")")
        if let failure = run["failure"]?.stringValue { lines.append("  failure       \(failure)") }
        if let summary = run["summary"]?.stringValue {
            lines.append("  summary       \(summary) (the planner's words)")
        }
        lines.append(
            "  " + RequestText.column("STEP", 6) + RequestText.column("STATE", 10) + RequestText.column("OPERATION", 24)
                + RequestText.column("REQUEST", 46) + "RATIONALE (the planner's words)"
        )
        for step in run["steps"]?.arrayValue ?? [] {
            let index = step["index"]?.numberValue.map { String(Int($0)) } ?? "?"
            let request =
                step["requestID"]?.stringValue.map { id in
                    id + (step["requestState"]?.stringValue.map { " \($0)" } ?? "")
                } ?? "-"
            lines.append(
                "  " + RequestText.column(index, 6) + RequestText.column(step["state"]?.stringValue ?? "?", 10)
                    + RequestText.column(step["operation"]?.stringValue ?? "?", 24) + RequestText.column(request, 46)
                    + (step["rationale"]?.stringValue ?? "")
            )
        }
        return lines.joined(separator: "\n")
    }
}

extension RunsCommand {
    struct Start: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Start a run, planned by a planner model or from a plan file (YAML or JSON), and print its plan.",
            discussion: """
                Each step is proposed like any action, when the steps it depends on have executed; \
                approvers see and decide each one. The run is kept on the server and resumes after a \
                restart. With --planner, a model the server's administrator set (`countersign planners \
                set`) proposes the steps a turn at a time and is told each one's outcome; with --plan, \
                the file lists steps: operation, arguments, rationale, dependsOn.
                """
        )

        @Argument(help: "What the run is for.")
        var goal: String

        @Option(help: "The plan file, YAML or JSON.")
        var plan: String?

        @Option(help: "The planner model, by the name it was set with on the server.")
        var planner: String?

        @Option(help: "The person the run's actions are taken for.")
        var onBehalfOf: String

        @Option(help: "The server (default: $COUNTERSIGN_SERVER, else http://127.0.0.1:8787).")
        var server: String?

        func validate() throws {
            guard (plan == nil) != (planner == nil) else {
                throw ValidationError("give either --plan FILE or --planner NAME")
            }
        }

        func run() async throws {
            let client = try APIClient.agent(server: server)
            guard let plan else {
                let run = try await client.post(
                    "/v1/runs",
                    ["goal": .string(goal), "onBehalfOf": .string(onBehalfOf), "planner": .string(planner ?? "")]
                )
                print(RunsCommand.describe(run))
                return
            }
            let text: String
            do {
                text = try String(contentsOfFile: plan, encoding: .utf8)
            } catch {
                throw ValidationError("cannot read the plan file \(plan)")
            }
            // Checked here first, so that a mistake is named before anything is sent.
            let steps = try PlanFile(text: text).steps
            let run = try await client.post(
                "/v1/runs",
                [
                    "goal": .string(goal), "onBehalfOf": .string(onBehalfOf),
                    "plan": .array(
                        steps.map { step in
                            [
                                "operation": .string(step.operation.description), "arguments": step.arguments,
                                "rationale": .string(step.rationale),
                                "dependsOn": .array(step.dependsOn.map { .number(Double($0)) }),
                            ]
                        }
                    ),
                ]
            )
            print(RunsCommand.describe(run))
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show a run's plan and each step's state.")

        @Argument(help: "The run's id.")
        var id: String

        @Option(help: "The server (default: $COUNTERSIGN_SERVER, else http://127.0.0.1:8787).")
        var server: String?

        func run() async throws {
            let client = try APIClient.agent(server: server)
            print(RunsCommand.describe(try await client.get("/v1/runs/\(id)")))
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the agent's runs, newest first.")

        @Option(help: "running, completed, failed, or all.")
        var state = "all"

        @Option(help: "The server (default: $COUNTERSIGN_SERVER, else http://127.0.0.1:8787).")
        var server: String?

        func run() async throws {
            let client = try APIClient.agent(server: server)
            let found = try await client.get("/v1/runs?state=\(state)")["runs"]?.arrayValue ?? []
            if found.isEmpty { print("no runs") }
            for run in found {
                let steps = run["steps"]?.arrayValue ?? []
                let done = steps.filter { $0["state"] == "executed" }.count
                print(
                    RequestText.column(run["id"]?.stringValue ?? "?", 30)
                        + RequestText.column(run["state"]?.stringValue ?? "?", 11)
                        + RequestText.column("\(done)/\(steps.count) steps", 12) + (run["goal"]?.stringValue ?? "")
                )
            }
        }
    }
}
