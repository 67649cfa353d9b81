/// Looks at the `/`-separated components of a path without allocating strings for them.
enum PathComponents {
    /// Whether any component satisfies `predicate`, which sees the component's UTF-8 bytes.
    @inline(__always)
    static func any(of path: String, _ predicate: (Slice<UnsafeBufferPointer<UInt8>>) -> Bool) -> Bool {
        if let answer = path.utf8.withContiguousStorageIfAvailable({ scan($0, predicate) }) { return answer }
        return Array(path.utf8).withUnsafeBufferPointer { scan($0, predicate) }
    }

    @inline(__always)
    private static func scan(
        _ bytes: UnsafeBufferPointer<UInt8>,
        _ predicate: (Slice<UnsafeBufferPointer<UInt8>>) -> Bool
    ) -> Bool {
        var start = 0
        var index = 0
        while index <= bytes.count {
            if index == bytes.count || bytes[index] == UInt8(ascii: "/") {
                if index > start && predicate(bytes[start..<index]) { return true }
                start = index + 1
            }
            index += 1
        }
        return false
    }
}
