/// Budgets that bound what one pickle may make the machine hold, so a recursion or size bomb is an
/// error rather than a crash or an exhausted machine.
public struct PickleLimits: Sendable, Hashable {
    /// Items on the stack (marks included).
    public var stackItems: Int
    /// Elements of one list, tuple or dict.
    public var containerItems: Int
    /// Values created in all, counting each appearance of a shared value in the result.
    public var objects: Int
    /// Bytes of all strings and byte strings together.
    public var stringBytes: Int
    /// Memo entries.
    public var memoEntries: Int
    /// How deep containers may nest.
    public var nesting: Int

    public init(stackItems: Int, containerItems: Int, objects: Int, stringBytes: Int, memoEntries: Int, nesting: Int) {
        self.stackItems = stackItems
        self.containerItems = containerItems
        self.objects = objects
        self.stringBytes = stringBytes
        self.memoEntries = memoEntries
        self.nesting = nesting
    }

    /// Far above any real checkpoint's pickle (a 10,000-tensor state dict makes about 200,000 values).
    public static let standard = PickleLimits(stackItems: 1 << 20, containerItems: 1 << 22, objects: 1 << 23,
                                              stringBytes: 1 << 28, memoEntries: 1 << 22, nesting: 100)
}
