#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Why a backend request failed. The FUSE layer answers the kernel with `errno`, which the loop
/// driver turns into a block-layer status (ENOSPC stays "no space", most others become EIO).
public struct BlockDeviceError: Error, Sendable, Hashable, CustomStringConvertible {
    public enum Kind: Sendable, Hashable {
        /// Generic IO failure.
        case io
        /// The target reported a hardware or internal failure.
        case targetFailure
        /// Unrecovered read or write error on the medium.
        case medium
        /// Thin-provisioned space ran out.
        case noSpace
        /// The LUN is write protected.
        case writeProtected
        /// The request lies outside the LUN (it shrank under us, for instance).
        case outOfRange
        /// No answer in time.
        case timedOut
        /// The LUN cannot do this (e.g. no cache flush).
        case notSupported
        /// No usable session or path right now.
        case unavailable
        /// A specific errno, for cases the kinds above do not cover.
        case errno(Int32)
    }

    public var kind: Kind
    public var message: String

    public init(_ kind: Kind, _ message: String = "") {
        self.kind = kind
        self.message = message
    }

    /// The positive errno answered to the kernel.
    public var errno: Int32 {
        switch kind {
        // Media and target failures are plain IO errors to the filesystem above, as on a disk.
        case .io, .targetFailure, .medium, .unavailable: return EIO
        case .noSpace: return ENOSPC
        case .writeProtected: return EROFS
        case .outOfRange: return EINVAL
        case .timedOut: return ETIMEDOUT
        case .notSupported: return EOPNOTSUPP
        // FUSE rejects errnos outside 1..<1000 (and 0 would mean success): fall back to EIO.
        case .errno(let code): return code > 0 && code < 1000 ? code : EIO
        }
    }

    public var description: String {
        let name = String(cString: strerror(errno))
        return message.isEmpty ? name : "\(message) (\(name))"
    }
}

/// A setup failure (mount, loop device): one line saying what failed and why.
public struct BlockDeviceSetupError: Error, Sendable, Hashable, CustomStringConvertible {
    public var description: String
    /// The errno behind it, when there is one.
    public var errno: Int32?

    public init(_ description: String, errno: Int32? = nil) {
        self.description = description
        self.errno = errno
    }

    /// "`what`: strerror(code)".
    static func system(_ what: String, _ code: Int32) -> BlockDeviceSetupError {
        BlockDeviceSetupError("\(what): \(String(cString: strerror(code)))", errno: code)
    }
}
