import Testing
@testable import Tokenizer

@Test func tokenizerMissingFileIsAnError() {
    #expect(throws: TokenizerError.self) { try Tokenizer(file: "/nonexistent/tokenizer.json") }
}
