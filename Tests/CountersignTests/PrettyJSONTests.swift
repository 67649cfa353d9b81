import Countersign
import Testing

@Suite struct PrettyJSONTests {
    @Test("pretty-printed JSON reads back to the same value, members sorted")
    func roundTrip() throws {
        let value = try JSONParser().parse(
            Array(#"{"b":[1,{"z":null,"a":"é\n\"x\""}],"a":{},"c":[],"d":1e21,"e":true}"#.utf8)
        )
        let text = value.prettyPrinted()
        #expect(try JSONParser().parse(Array(text.utf8)) == value)
        #expect(
            text == """
                {
                  "a": {},
                  "b": [
                    1,
                    {
                      "a": "é\\n\\"x\\"",
                      "z": null
                    }
                  ],
                  "c": [],
                  "d": 1e+21,
                  "e": true
                }
                """
        )
    }
}
