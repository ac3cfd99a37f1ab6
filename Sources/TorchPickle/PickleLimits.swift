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

    /// Far above any real checkpoint's pickle: a 10,000-tensor state dict makes about 200,000 values, and
    /// the objects budget (2,097,152) holds about 100,000 tensors. That budget also bounds the time and
    /// memory of a value shared through the memo many times over (a DAG of dicts, each holding the
    /// one before it twice, doubles per level): every appearance counts, so refusing such a pickle takes
    /// about half a second and 100 MB in a debug build however the sharing is arranged (fuzz-pickle found
    /// the budget of 8,388,608 taking 3.7 s and 322 MB in a release build).
    public static let standard = PickleLimits(stackItems: 1 << 20, containerItems: 1 << 22, objects: 1 << 21,
                                              stringBytes: 1 << 28, memoEntries: 1 << 22, nesting: 100)
}
