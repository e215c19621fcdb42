#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// tgtadm's numeric option parsing (tgt's `str_to_int` family): `strtoull` with base detection
/// ("0x1f", "017"), leading blanks and trailing junk accepted ("1a" is 1), then a check that the
/// value survives conversion to the destination type as C would convert it.
enum TgtadmNumber {
    enum Failure: Error {
        /// No digits, or the ULLONG_MAX that strtoull returns for overflow and "-1".
        case invalid
        /// Does not fit the destination type, or below its allowed minimum.
        case outOfRange
    }

    static func parse<T: FixedWidthInteger>(_ text: String, as type: T.Type, minimum: T? = nil) -> Result<T, Failure> {
        var parsed: UInt64 = 0
        var consumedAny = false
        text.withCString { start in
            var end: UnsafeMutablePointer<CChar>?
            parsed = UInt64(strtoull(start, &end, 0))
            consumedAny = end.map { $0 != UnsafeMutablePointer(mutating: start) } ?? false
        }
        guard consumedAny, parsed != .max else { return .failure(.invalid) }
        let value = T(truncatingIfNeeded: parsed)
        // C compares `val != ull_val` after widening val back to unsigned long long.
        let widened = T.isSigned ? UInt64(bitPattern: Int64(value)) : UInt64(value)
        guard widened == parsed else { return .failure(.outOfRange) }
        if let minimum, value < minimum { return .failure(.outOfRange) }
        return .success(value)
    }
}
