import Testing
@testable import RecastCore

@Suite struct JSONTests {
    @Test func parsesAndKeepsOrder() throws {
        let v = try JSON.parse(#"{"b": [1, 2.5, -3e2], "a": {"x": null, "y": true}, "s": "h\u00e9\n\ud83d\ude00"}"#)
        #expect(v.objectValue?.map(\.0) == ["b", "a", "s"])
        #expect(v["b"]?.arrayValue?[0].intValue == 1)
        #expect(v["b"]?.arrayValue?[1].intValue == nil)
        #expect(v["b"]?.arrayValue?[2].doubleValue == -300)
        #expect(v["a"]?["y"]?.boolValue == true)
        #expect(v["s"]?.stringValue == "hé\n😀")
    }

    @Test func integersAreExact() throws {
        let v = try JSON.parse("[9007199254740993, 99999999999999999999999]")
        #expect(v.arrayValue?[0].intValue == 9_007_199_254_740_993)
        #expect(v.arrayValue?[1].intValue == nil, "a value past Int.max is not an Int")
    }

    @Test func rejectsMalformed() {
        for bad in ["{", "{\"a\":1,}", "[1 2]", "{\"a\":1,\"a\":2}", "\"\\x\"", "01", "{\"a\":1} x", "\"\u{1}\"", "[\"\\ud800\"]"] {
            #expect(throws: JSONError.self, "\(bad)") { try JSON.parse(bad) }
        }
        let deep = String(repeating: "[", count: 10_000)
        #expect(throws: JSONError.self) { try JSON.parse(deep) }
    }

    @Test func roundTripsThroughSerializer() throws {
        let text = #"{"a":[1,2,{"b":"c\"d"}],"e":{},"f":[],"g":false}"#
        let v = try JSON.parse(text)
        #expect(v.serialized() == text)
        #expect(try JSON.parse(v.serialized(pretty: true)) == v)
    }
}
