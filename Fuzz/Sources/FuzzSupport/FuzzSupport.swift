#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Reads a fuzz input front to back; past the end every read gives zeros (or nothing), so a
/// target never has to reject a short input.
public struct FuzzInput {
    public let bytes: [UInt8]
    public private(set) var index: Int = 0

    public init(_ data: UnsafePointer<UInt8>, _ count: Int) {
        bytes = Array(UnsafeBufferPointer(start: data, count: count))
    }

    public init(_ bytes: [UInt8]) {
        self.bytes = bytes
    }

    public var isAtEnd: Bool { index >= bytes.count }
    public var remaining: Int { max(0, bytes.count - index) }

    public mutating func byte() -> UInt8 {
        guard index < bytes.count else { return 0 }
        defer { index += 1 }
        return bytes[index]
    }

    /// Big-endian.
    public mutating func uint16() -> UInt16 { UInt16(byte()) << 8 | UInt16(byte()) }

    /// Big-endian.
    public mutating func uint32() -> UInt32 { UInt32(uint16()) << 16 | UInt32(uint16()) }

    /// Up to `count` bytes (fewer at the end of the input).
    public mutating func bytes(_ count: Int) -> [UInt8] {
        let end = min(bytes.count, index + max(0, count))
        defer { index = max(index, end) }
        return index < end ? Array(bytes[index..<end]) : []
    }

    /// Everything not read yet.
    public mutating func rest() -> [UInt8] { bytes(remaining) }
}

/// An invariant of the code under test. A failure prints `message` and aborts, which libFuzzer
/// reports as a crash and saves the input for.
@inline(__always)
public func fuzzCheck(
    _ condition: @autoclosure () -> Bool, _ message: @autoclosure () -> String, file: StaticString = #file,
    line: UInt = #line
) {
    if !condition() {
        fputs("fuzz invariant failed at \(file):\(line): \(message())\n", stderr)
        abort()
    }
}

/// A small deterministic generator (xorshift64*), for choices such as chunk sizes that a target
/// derives from one seed byte of its input.
public struct FuzzRandom {
    private var state: UInt64

    public init(seed: UInt64) { state = seed &* 0x9E37_79B9_7F4A_7C15 | 1 }

    public mutating func next() -> UInt64 {
        state ^= state >> 12
        state ^= state << 25
        state ^= state >> 27
        return state &* 0x2545_F491_4F6C_DD1D
    }

    /// 0..<bound (bound > 0).
    public mutating func next(below bound: Int) -> Int { Int(next() % UInt64(bound)) }
}

public func hexString(_ bytes: [UInt8]) -> String {
    let digits = Array("0123456789abcdef")
    var text = ""
    for byte in bytes {
        text.append(digits[Int(byte >> 4)])
        text.append(digits[Int(byte & 0xF)])
    }
    return text
}

/// Seeds come from the code under test (its encoders), not from hand-written bytes: with
/// `FUZZ_WRITE_SEEDS=DIR` in the environment a target writes its seeds as DIR/seed-N and exits
/// (call this from `LLVMFuzzerInitialize`). `Fuzz/Corpus/<target>/` holds the committed result.
public func writeSeedsIfRequested(_ seeds: () -> [[UInt8]]) {
    guard let directory = getenv("FUZZ_WRITE_SEEDS").map({ String(cString: $0) }) else { return }
    mkdir(directory, 0o755)
    for (number, seed) in seeds().enumerated() {
        let path = "\(directory)/seed-\(number)"
        guard let file = fopen(path, "wb") else {
            fputs("cannot write \(path)\n", stderr)
            exit(1)
        }
        _ = seed.withUnsafeBytes { fwrite($0.baseAddress, 1, $0.count, file) }
        fclose(file)
    }
    exit(0)
}
