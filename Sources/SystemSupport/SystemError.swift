#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A failed system call's errno; callers map it to their own tool's message.
public struct SystemError: Error, Equatable, Sendable, CustomStringConvertible {
    public let errno: Int32

    public init(errno: Int32) {
        self.errno = errno
    }

    /// strerror's text, e.g. "Connection refused".
    public var text: String { String(cString: strerror(errno)) }

    public var description: String { "\(text) (\(errno))" }
}
