import Countersign
import Foundation
import Testing

@Suite("TOTP")
struct TOTPTests {
    /// RFC 6238, appendix B (SHA-1 secret "12345678901234567890", 8 digits).
    @Test(
        "matches the RFC 6238 test vectors",
        arguments: [
            (59, "94287082"), (1_111_111_109, "07081804"), (1_111_111_111, "14050471"), (1_234_567_890, "89005924"),
            (2_000_000_000, "69279037"), (20_000_000_000, "65353130"),
        ] as [(Double, String)]
    )
    func vectors(time: Double, expected: String) {
        let totp = TOTP(secret: Array("12345678901234567890".utf8), digits: 8)
        #expect(totp.code(at: Date(timeIntervalSince1970: time)) == expected)
    }

    @Test("a code is accepted once, within one step of drift, and never an older one")
    func singleUse() throws {
        let totp = TOTP(secret: TOTP.generateSecret())
        let now = Date(timeIntervalSince1970: 1_900_000_000)
        let code = totp.code(at: now)
        let step = try #require(totp.verify(code, at: now, lastUsedStep: nil))
        #expect(totp.verify(code, at: now, lastUsedStep: step) == nil)
        #expect(totp.verify(totp.code(at: now.addingTimeInterval(-30)), at: now, lastUsedStep: nil) != nil)
        #expect(totp.verify(totp.code(at: now.addingTimeInterval(-90)), at: now, lastUsedStep: nil) == nil)
        #expect(totp.verify(totp.code(at: now.addingTimeInterval(-30)), at: now, lastUsedStep: step) == nil)
        #expect(totp.verify(totp.code(at: now.addingTimeInterval(30)), at: now, lastUsedStep: step) == step + 1)
        #expect(totp.verify("12345", at: now, lastUsedStep: nil) == nil)
        #expect(totp.verify("abcdef", at: now, lastUsedStep: nil) == nil)
    }

    @Test(
        "base32 round-trips and matches RFC 4648",
        arguments: [
            ("", ""), ("f", "MY"), ("fo", "MZXQ"), ("foo", "MZXW6"), ("foob", "MZXW6YQ"), ("fooba", "MZXW6YTB"),
            ("foobar", "MZXW6YTBOI"),
        ]
    )
    func base32(plain: String, encoded: String) {
        #expect(Base32.encode(Array(plain.utf8)) == encoded)
        #expect(Base32.decode(encoded.lowercased()) == Array(plain.utf8))
    }

    @Test("the provisioning URI carries the base32 secret and the issuer")
    func provisioningURI() {
        let uri = TOTP.provisioningURI(secret: Array("12345678901234567890".utf8), account: "ana@acme.test")
        #expect(
            uri
                == "otpauth://totp/Countersign%3Aana%40acme.test?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=Countersign&algorithm=SHA1&digits=6&period=30"
        )
    }
}
