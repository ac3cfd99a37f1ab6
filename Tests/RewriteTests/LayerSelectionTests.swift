import Testing
@testable import Rewrite

@Suite struct LayerSelectionTests {
    @Test func all() throws {
        #expect(try LayerSelection.parse("all", layerCount: 4) == [0, 1, 2, 3])
        #expect(try LayerSelection.parse(" ALL ", layerCount: 1) == [0])
        #expect(try LayerSelection("all") == .all)
    }

    @Test(arguments: [
        ("0,2,5", [0, 2, 5]),
        ("0-5", [0, 1, 2, 3, 4, 5]),
        ("0-2,5", [0, 1, 2, 5]),
        ("5,0-2", [0, 1, 2, 5]),
        (" 1 , 3 ", [1, 3]),
        ("3-3", [3]),
        ("1,1,0-1", [0, 1]),
        ("7", [7]),
    ])
    func lists(text: String, expected: [Int]) throws {
        #expect(try LayerSelection.parse(text, layerCount: 8) == expected)
    }

    @Test(arguments: ["", " ", "a", "1-", "-1", "3-1", "1,,2", "0-2-3", "1.5", "+1", "0x1", ",1"])
    func malformed(text: String) {
        #expect(throws: SwapError.self) { try LayerSelection(text) }
        do {
            _ = try LayerSelection(text)
        } catch {
            #expect(error.description.contains("--layers"), "\(error)")
        }
    }

    @Test func outOfRange() throws {
        do {
            _ = try LayerSelection.parse("0,7", layerCount: 2)
            Issue.record("layer 7 of 2 was accepted")
        } catch {
            #expect(error.description.contains("layer 7 is out of range"), "\(error)")
            #expect(error.description.contains("2 layers (layers 0-1)"), "\(error)")
        }
        #expect(throws: SwapError.self) { try LayerSelection.parse("0-2", layerCount: 2) }
        #expect(throws: SwapError.self) { try LayerSelection.parse("1", layerCount: 1) }
        #expect(try LayerSelection.parse("0-1", layerCount: 2) == [0, 1])
    }

    @Test func resolveNamesTheFile() throws {
        do {
            _ = try LayerSelection("4").resolve(layerCount: 2, file: "models/x")
            Issue.record("accepted")
        } catch {
            #expect(error.file == "models/x" && error.description.hasPrefix("models/x: "))
        }
    }

    @Test func compactText() throws {
        #expect(LayerSelection.text([0, 1, 2, 5]) == "0-2,5")
        #expect(LayerSelection.text([3]) == "3")
        #expect(LayerSelection.text([0, 2, 3, 4, 7, 8]) == "0,2-4,7-8")
        #expect(LayerSelection.text([]) == "")
        #expect(try LayerSelection("5, 0-2").description == "5,0-2")
    }
}
