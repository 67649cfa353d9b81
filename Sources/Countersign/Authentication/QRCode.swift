/// A QR code (ISO/IEC 18004, model 2) in byte mode with error correction level L, versions 1 to 10:
/// enough for an `otpauth://` URI, printed in a terminal for an authenticator app to scan.
public struct QRCode: Sendable {
    /// Modules per side.
    public let size: Int
    /// The version used (1–10).
    public let version: Int
    /// The mask pattern used (0–7).
    public private(set) var mask = 0
    /// Dark modules, row by row.
    private var modules: [Bool]
    private var isFunction: [Bool]

    /// Whether the module at column `x`, row `y` is dark.
    public func isDark(x: Int, y: Int) -> Bool { modules[y * size + x] }

    /// Encodes text (as UTF-8 bytes) in the smallest version that holds it.
    ///
    /// - Parameters:
    ///   - text: The text.
    ///   - forcedMask: A mask pattern to force (for tests); by default the one with the lowest penalty.
    /// - Throws: ``QRCodeError`` when the text is too long for version 10.
    public init(text: String, mask forcedMask: Int? = nil) throws(QRCodeError) {
        let bytes = Array(text.utf8)
        guard
            let version = (1...10).first(where: { version in
                4 + (version < 10 ? 8 : 16) + bytes.count * 8 <= Self.dataCodewords(version) * 8
            })
        else { throw QRCodeError(description: "the text is too long for a QR code of version 10 (271 bytes)") }
        self.version = version
        size = version * 4 + 17
        modules = Array(repeating: false, count: size * size)
        isFunction = modules
        drawFunctionPatterns()
        let codewords = Self.addErrorCorrection(Self.dataBits(bytes, version: version), version: version)
        drawCodewords(codewords)
        if let forcedMask {
            mask = forcedMask
        } else {
            var best = (mask: 0, penalty: Int.max)
            for candidate in 0..<8 {
                var trial = self
                trial.applyMask(candidate)
                trial.drawFormatBits(mask: candidate)
                let penalty = trial.penalty()
                if penalty < best.penalty { best = (candidate, penalty) }
            }
            mask = best.mask
        }
        applyMask(mask)
        drawFormatBits(mask: mask)
    }

    /// The code as text for a terminal: two rows of modules per line, light modules as full blocks
    /// (a terminal's light foreground on its dark background), with a quiet zone.
    public var terminalText: String {
        let quiet = 2
        let span = size + 2 * quiet
        func light(_ x: Int, _ y: Int) -> Bool {
            let (column, row) = (x - quiet, y - quiet)
            guard column >= 0, row >= 0, column < size, row < size else { return true }
            return !isDark(x: column, y: row)
        }
        var lines: [String] = []
        for y in stride(from: 0, to: span, by: 2) {
            var line = "    "
            for x in 0..<span {
                let top = light(x, y)
                let bottom = y + 1 < span ? light(x, y + 1) : false
                line += top ? (bottom ? "█" : "▀") : (bottom ? "▄" : " ")
            }
            lines.append(line)
        }
        return lines.joined(separator: "\n")
    }

    // MARK: - Capacity and error correction (level L)

    private static let eccPerBlock = [0, 7, 10, 15, 20, 26, 18, 20, 24, 30, 18]
    private static let blocks = [0, 1, 1, 1, 1, 1, 2, 2, 2, 2, 4]

    /// Data and error-correction modules available in a version, in bits.
    private static func rawDataModules(_ version: Int) -> Int {
        var result = (16 * version + 128) * version + 64
        if version >= 2 {
            let alignments = version / 7 + 2
            result -= (25 * alignments - 10) * alignments - 55
            if version >= 7 { result -= 36 }
        }
        return result
    }

    private static func dataCodewords(_ version: Int) -> Int {
        rawDataModules(version) / 8 - eccPerBlock[version] * blocks[version]
    }

    private static func dataBits(_ bytes: [UInt8], version: Int) -> [UInt8] {
        var bits: [Bool] = []
        func append(_ value: Int, _ count: Int) {
            for index in stride(from: count - 1, through: 0, by: -1) { bits.append((value >> index) & 1 == 1) }
        }
        append(0b0100, 4)
        append(bytes.count, version < 10 ? 8 : 16)
        for byte in bytes { append(Int(byte), 8) }
        let capacity = dataCodewords(version) * 8
        append(0, min(4, capacity - bits.count))
        append(0, (8 - bits.count % 8) % 8)
        var codewords = stride(from: 0, to: bits.count, by: 8).map { start in
            bits[start..<start + 8].reduce(UInt8(0)) { ($0 << 1) | ($1 ? 1 : 0) }
        }
        var pad: UInt8 = 0xEC
        while codewords.count < dataCodewords(version) {
            codewords.append(pad)
            pad = pad == 0xEC ? 0x11 : 0xEC
        }
        return codewords
    }

    private static func addErrorCorrection(_ data: [UInt8], version: Int) -> [UInt8] {
        let blockCount = blocks[version]
        let eccLength = eccPerBlock[version]
        let raw = rawDataModules(version) / 8
        let shortBlocks = blockCount - raw % blockCount
        let shortLength = raw / blockCount
        let divisor = reedSolomonDivisor(degree: eccLength)
        var dataBlocks: [[UInt8]] = []
        var eccBlocks: [[UInt8]] = []
        var offset = 0
        for index in 0..<blockCount {
            let length = shortLength - eccLength + (index < shortBlocks ? 0 : 1)
            let block = Array(data[offset..<offset + length])
            offset += length
            dataBlocks.append(block)
            eccBlocks.append(reedSolomonRemainder(block, divisor: divisor))
        }
        var result: [UInt8] = []
        for index in 0..<(shortLength - eccLength + 1) {
            for block in dataBlocks where index < block.count { result.append(block[index]) }
        }
        for index in 0..<eccLength {
            for block in eccBlocks { result.append(block[index]) }
        }
        return result
    }

    private static func multiply(_ x: UInt8, _ y: UInt8) -> UInt8 {
        var product: Int = 0
        for bit in stride(from: 7, through: 0, by: -1) {
            product = (product << 1) ^ ((product >> 7) * 0x11D)
            product ^= ((Int(y) >> bit) & 1) * Int(x)
        }
        return UInt8(product)
    }

    private static func reedSolomonDivisor(degree: Int) -> [UInt8] {
        var result = [UInt8](repeating: 0, count: degree)
        result[degree - 1] = 1
        var root: UInt8 = 1
        for _ in 0..<degree {
            for index in 0..<degree {
                result[index] = multiply(result[index], root)
                if index + 1 < degree { result[index] ^= result[index + 1] }
            }
            root = multiply(root, 0x02)
        }
        return result
    }

    private static func reedSolomonRemainder(_ data: [UInt8], divisor: [UInt8]) -> [UInt8] {
        var result = [UInt8](repeating: 0, count: divisor.count)
        for byte in data {
            let factor = byte ^ result.removeFirst()
            result.append(0)
            for index in result.indices { result[index] ^= multiply(divisor[index], factor) }
        }
        return result
    }

    // MARK: - Drawing

    private mutating func setFunction(_ x: Int, _ y: Int, _ dark: Bool) {
        modules[y * size + x] = dark
        isFunction[y * size + x] = true
    }

    private var alignmentPositions: [Int] {
        guard version > 1 else { return [] }
        let count = version / 7 + 2
        let step = (version * 8 + count * 3 + 5) / (count * 4 - 4) * 2
        var positions = [6]
        var position = size - 7
        while positions.count < count {
            positions.insert(position, at: 1)
            position -= step
        }
        return positions
    }

    private mutating func drawFunctionPatterns() {
        for index in 0..<size {
            setFunction(6, index, index % 2 == 0)
            setFunction(index, 6, index % 2 == 0)
        }
        for (x, y) in [(3, 3), (size - 4, 3), (3, size - 4)] {
            for dy in -4...4 {
                for dx in -4...4 {
                    let (column, row) = (x + dx, y + dy)
                    guard column >= 0, column < size, row >= 0, row < size else { continue }
                    let distance = max(abs(dx), abs(dy))
                    setFunction(column, row, distance != 2 && distance != 4)
                }
            }
        }
        let positions = alignmentPositions
        let last = positions.count - 1
        for (i, x) in positions.enumerated() {
            for (j, y) in positions.enumerated() {
                if (i == 0 && j == 0) || (i == 0 && j == last) || (i == last && j == 0) { continue }
                for dy in -2...2 {
                    for dx in -2...2 { setFunction(x + dx, y + dy, max(abs(dx), abs(dy)) != 1) }
                }
            }
        }
        drawFormatBits(mask: 0)
        if version >= 7 {
            var remainder = version
            for _ in 0..<12 { remainder = (remainder << 1) ^ ((remainder >> 11) * 0x1F25) }
            let bits = version << 12 | remainder
            for index in 0..<18 {
                let dark = (bits >> index) & 1 == 1
                let (a, b) = (size - 11 + index % 3, index / 3)
                setFunction(a, b, dark)
                setFunction(b, a, dark)
            }
        }
    }

    private mutating func drawFormatBits(mask: Int) {
        let data = 0b01 << 3 | mask  // level L
        var remainder = data
        for _ in 0..<10 { remainder = (remainder << 1) ^ ((remainder >> 9) * 0x537) }
        let bits = (data << 10 | remainder) ^ 0x5412
        func bit(_ index: Int) -> Bool { (bits >> index) & 1 == 1 }
        for index in 0...5 { setFunction(8, index, bit(index)) }
        setFunction(8, 7, bit(6))
        setFunction(8, 8, bit(7))
        setFunction(7, 8, bit(8))
        for index in 9..<15 { setFunction(14 - index, 8, bit(index)) }
        for index in 0..<8 { setFunction(size - 1 - index, 8, bit(index)) }
        for index in 8..<15 { setFunction(8, size - 15 + index, bit(index)) }
        setFunction(8, size - 8, true)
    }

    private mutating func drawCodewords(_ codewords: [UInt8]) {
        var bit = 0
        var right = size - 1
        while right >= 1 {
            if right == 6 { right = 5 }
            for vertical in 0..<size {
                for offset in 0..<2 {
                    let x = right - offset
                    let upward = (right + 1) & 2 == 0
                    let y = upward ? size - 1 - vertical : vertical
                    guard !isFunction[y * size + x], bit < codewords.count * 8 else { continue }
                    modules[y * size + x] = (codewords[bit >> 3] >> (7 - (bit & 7))) & 1 == 1
                    bit += 1
                }
            }
            right -= 2
        }
    }

    private mutating func applyMask(_ mask: Int) {
        for y in 0..<size {
            for x in 0..<size where !isFunction[y * size + x] {
                let invert: Bool =
                    switch mask {
                    case 0: (x + y) % 2 == 0
                    case 1: y % 2 == 0
                    case 2: x % 3 == 0
                    case 3: (x + y) % 3 == 0
                    case 4: (x / 3 + y / 2) % 2 == 0
                    case 5: x * y % 2 + x * y % 3 == 0
                    case 6: (x * y % 2 + x * y % 3) % 2 == 0
                    default: ((x + y) % 2 + x * y % 3) % 2 == 0
                    }
                if invert { modules[y * size + x].toggle() }
            }
        }
    }

    /// The standard penalty: runs of five or more, 2×2 blocks, finder-like patterns and imbalance.
    private func penalty() -> Int {
        var result = 0
        func lines(vertical: Bool) -> [[Bool]] {
            (0..<size).map { a in (0..<size).map { b in vertical ? isDark(x: a, y: b) : isDark(x: b, y: a) } }
        }
        let finderLike: [Bool] = [true, false, true, true, true, false, true, false, false, false, false]
        for line in lines(vertical: false) + lines(vertical: true) {
            var run = 1
            for index in 1..<line.count {
                if line[index] == line[index - 1] {
                    run += 1
                } else {
                    if run >= 5 { result += run - 2 }
                    run = 1
                }
            }
            if run >= 5 { result += run - 2 }
            for start in 0...(line.count - 11) {
                let window = Array(line[start..<start + 11])
                if window == finderLike || window == finderLike.reversed() { result += 40 }
            }
        }
        for y in 0..<(size - 1) {
            for x in 0..<(size - 1) {
                let color = isDark(x: x, y: y)
                if color == isDark(x: x + 1, y: y) && color == isDark(x: x, y: y + 1)
                    && color == isDark(x: x + 1, y: y + 1)
                {
                    result += 3
                }
            }
        }
        let dark = modules.filter { $0 }.count
        let total = size * size
        result += (abs(dark * 20 - total * 10) + total - 1) / total * 10 - 10
        return max(0, result)
    }
}

/// Text that does not fit in a QR code.
public struct QRCodeError: Error, Hashable, Sendable, CustomStringConvertible {
    public let description: String
}
