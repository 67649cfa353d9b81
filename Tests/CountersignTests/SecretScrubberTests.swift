import Countersign
import Foundation
import Testing

@Suite("Secret scrubber")
struct SecretScrubberTests {
    /// Each shape alone, so that the byte search in front of each expression is what lets it run.
    @Test(
        "every credential shape is removed on its own",
        arguments: [
            ("ghp_abcdefghijklmnopqrstuvwxyz0123", "abcdefghijklmnopqrst"),
            ("github_pat_11ABCDEFG0123456789_abcdefghij", "11ABCDEFG0123456789"),
            ("xoxp-1234567890-abcdef", "1234567890-abcdef"),
            ("ya29.a0AfH6SMBabcdefghijklmnop", "a0AfH6SMBabcdefghijklmnop"),
            ("1//0gabcdefghijklmnopqrstuvwx", "0gabcdefghijklmnopqrstuvwx"),
            ("sk-ant-abcdefghijklmnopqrstuvwx", "abcdefghijklmnopqrstuvwx"),
            ("ASIAIOSFODNN7EXAMPLE", "IOSFODNN7EXAMPLE"),
            ("eyJhbGciOiJI.eyJzdWIiOiJ.dozjgNryP4J3", "dozjgNryP4J3"),
            ("csk_0123456789abcdef_deadbeefdeadbeef", "deadbeefdeadbeef"),
            ("BeArEr abcdefghijklmnop", "abcdefghijklmnop"),
            ("BEARER\tqrstuvwxyz012345", "qrstuvwxyz012345"),
            ("-----BEGIN PRIVATE KEY-----\nMIIEvQ\n-----END PRIVATE KEY-----", "MIIEvQ"),
        ]
    )
    func shape(credential: String, secret: String) {
        let scrubbed = SecretScrubber.scrub("before \(credential) after")
        #expect(!scrubbed.contains(secret), "\(scrubbed)")
        #expect(scrubbed.hasPrefix("before "))
        #expect(scrubbed.hasSuffix(" after"))
        #expect(scrubbed.contains("<redacted>"))
    }

    @Test("text without a credential is left as it is, in any script")
    func plainText() {
        for text in [
            "", "a", "notes about the bearer of bad news", "sk- is not a key", "Grüße, 日本語, emoji 🙂 and xo xo",
            "csk_ without hex", "ghp_short",
        ] {
            #expect(SecretScrubber.scrub(text) == text)
        }
    }
}
