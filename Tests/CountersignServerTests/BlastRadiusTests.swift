import Countersign
import CountersignConnectors
import CountersignStore
import Foundation
import Testing

/// Look-ups before a request is shown: facts from the provider, with their source, that raise the
/// level and never lower it; a failed look-up is stated.
@Suite("Blast radius")
struct BlastRadiusTests {
    @Test(
        "a popular public repository's deletion names its stars, forks and open pull requests; a private fork's says so"
    )
    func repositories() async throws {
        let github = TestGitHubServer()
        try await github.run {
            let providers = try ProviderGateway(
                github: github.url,
                slack: "http://127.0.0.1:9/api",
                token: TestGitHubServer.token
            )
            let popular = try await providers.propose("github.delete_repository", ["owner": "acme", "repo": "web"])
            let fact = try #require(popular.assessment.reasons.first { $0.source == .blastRadius })
            #expect(
                fact.text
                    == "GitHub: public repository, 4210 stars, 312 forks, 17 open pull requests, last push 2026-11-27T09:00:00Z"
            )
            #expect(popular.assessment.level == .critical && popular.state == .pending)
            let fork = try await providers.propose("github.delete_repository", ["owner": "ana", "repo": "fork"])
            #expect(
                fork.assessment.reasons.contains { $0.text.hasPrefix("GitHub: private repository (a fork), 0 stars") }
            )
            // Archiving a popular public repository is raised to Critical by what the look-up found.
            let archive = try await providers.propose("github.archive_repository", ["owner": "acme", "repo": "web"])
            #expect(archive.assessment.level == .critical && archive.assessment.requirements.stepUp)
            let small = try await providers.propose("github.archive_repository", ["owner": "ana", "repo": "fork"])
            #expect(small.assessment.level == .high)
            let audit = try await providers.store.auditEntries(forRequest: popular.id).map {
                String(decoding: $0.body, as: UTF8.self)
            }
            #expect(audit.contains { $0.contains("action.blast_radius") && $0.contains("4210 stars") })
            #expect(!audit.joined().contains(TestGitHubServer.token))
            #expect(github.problems == [])
        }
    }

    @Test(
        "a message to a 3-person internal channel stays Medium; to a 4,000-member shared one it is High; a failed look-up is stated"
    )
    func channels() async throws {
        let slack = TestSlackServer()
        try await slack.run {
            let providers = try ProviderGateway(
                github: "http://127.0.0.1:9",
                slack: slack.url,
                token: TestSlackServer.token
            )
            let small = try await providers.propose("slack.post_message", ["channel": "C0SMALL001", "text": "lunch?"])
            #expect(small.assessment.level == .medium)
            #expect(
                small.assessment.reasons.contains {
                    $0.source == .blastRadius && $0.text == "Slack: #team-3 has 3 members"
                }
            )
            let big = try await providers.propose("slack.post_message", ["channel": "C0BIGEXT01", "text": "lunch?"])
            #expect(big.assessment.level == .high && big.assessment.requirements.confirmText != nil)
            #expect(
                big.assessment.reasons.contains { $0.text == "Slack: the channel is shared with other organisations" }
            )
            #expect(big.assessment.reasons.contains { $0.text == "Slack: #all-partners has 4000 members" })
            let unknown = try await providers.propose("slack.post_message", ["channel": "C0UNKNOWN9", "text": "hi"])
            #expect(unknown.assessment.level == .medium)
            #expect(
                unknown.assessment.reasons.contains {
                    $0.name == "lookup_failed" && $0.text.contains("channel_not_found")
                }
            )
            #expect(slack.problems == [])
        }
    }

    @Test(
        "an email to a colleague says the directory has them; to 40 outside addresses it names them and is Critical; guests too"
    )
    func recipients() async throws {
        let google = TestGoogleServer()
        try await google.run {
            let providers = try ProviderGateway(
                github: "http://127.0.0.1:9",
                slack: "http://127.0.0.1:9/api",
                google: google.url,
                token: TestGoogleServer.token
            )
            let colleague = try await providers.propose(
                "gmail.send_message",
                ["to": ["bob@acme.test"], "subject": "Notes", "body": "Here they are."]
            )
            let inside = try #require(colleague.assessment.reasons.first { $0.source == .blastRadius })
            #expect(inside.text == "Google directory: all 1 recipients are in the organisation's directory")
            #expect(inside.level == .low && colleague.assessment.level == .medium)

            let strangers = JSONValue.array((1...40).map { .string("buyer\($0)@partner-\($0 % 4).example") })
            let blast = try await providers.propose(
                "gmail.send_message",
                ["to": strangers, "cc": ["carl@acme.test"], "subject": "Price list", "body": "Attached."]
            )
            let outside = try #require(blast.assessment.reasons.first { $0.source == .blastRadius })
            #expect(
                outside.text.hasPrefix(
                    "Google directory: 40 of 41 recipients are not in the organisation's directory (buyer10@partner-2.example,"
                )
            )
            #expect(
                outside.level == .critical && blast.assessment.level == .critical
                    && blast.assessment.requirements.stepUp
            )

            // An address in the principal's own domain that the directory does not hold (a former
            // colleague's) is named although no domain hint sees it (the invitation emails guests:
            // Medium, so it waits and is looked up).
            let former = try await providers.propose(
                "calendar.create_event",
                [
                    "summary": "Planning", "start": GoogleConnectorTests.start, "end": GoogleConnectorTests.end,
                    "attendees": ["bob@acme.test", "eve@acme.test"], "send_updates": "all",
                ]
            )
            #expect(
                former.assessment.reasons.contains {
                    $0.text == "Google directory: 1 of 2 guests are not in the organisation's directory (eve@acme.test)"
                        && $0.level == .high
                }
            )
            let lookups = google.received.filter { $0.path == "/v1/people:searchDirectoryPeople" }
            #expect(lookups.count == 1 + 41 + 2)
            #expect(
                lookups.allSatisfy {
                    $0.query.contains("readMask=emailAddresses")
                        && $0.query.contains("sources=DIRECTORY_SOURCE_TYPE_DOMAIN_PROFILE")
                }
            )
            #expect(google.problems == [])
        }
    }
}
