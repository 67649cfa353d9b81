import Countersign
import Foundation
import Testing

/// The encoder is held to matrices produced by an independent implementation (Project Nayuki's qrcodegen), mask by mask.
@Suite struct QRCodeTests {
    struct Case: Decodable {
        let text: String
        let mask: Int?
        let version: Int
        let chosenMask: Int
        let rows: [String]
    }

    struct Reference: Decodable {
        let generator: String
        let cases: [Case]
    }

    static let reference: [Case] = {
        (try? JSONDecoder().decode(Reference.self, from: Fixtures.data("qrcode/reference.json")).cases) ?? []
    }()

    @Test func theReferenceIsThere() {
        #expect(Self.reference.count >= 10)
    }

    @Test(arguments: reference)
    func matchesTheReferenceModuleForModule(_ reference: Case) throws {
        let code = try QRCode(text: reference.text, mask: reference.mask)
        #expect(code.version == reference.version)
        #expect(code.mask == reference.chosenMask)
        let rows = (0..<code.size).map { y in
            String((0..<code.size).map { x in code.isDark(x: x, y: y) ? "1" : "0" })
        }
        #expect(rows == reference.rows)
    }

    @Test func refusesTextBeyondVersionTen() {
        #expect(throws: QRCodeError.self) { try QRCode(text: String(repeating: "a", count: 272)) }
    }

    @Test func printsTwoRowsALine() throws {
        let code = try QRCode(text: "hello")
        let lines = code.terminalText.split(separator: "\n")
        #expect(lines.count == (code.size + 4 + 1) / 2)
    }
}

extension QRCodeTests.Case: CustomTestStringConvertible {
    var testDescription: String { "\(text.prefix(24))… mask \(mask.map(String.init) ?? "auto")" }
}
