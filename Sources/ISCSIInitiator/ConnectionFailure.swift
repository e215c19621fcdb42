import NIOCore
import NIOPosix

#if canImport(Glibc)
import Glibc
#endif

/// Why a TCP connection could not be made or broke, in strerror's words: what open-iscsi prints
/// ("Connection refused"), not SwiftNIO's error descriptions.
enum ConnectionFailure {
    /// strerror text for NIO's socket errors; a short phrase for the others.
    static func reason(_ error: Error) -> String {
        if let code = errno(of: error) { return String(cString: strerror(code)) }
        switch error {
        case ChannelError.connectTimeout: return String(cString: strerror(ETIMEDOUT))
        case ChannelError.eof, ChannelError.ioOnClosedChannel, ChannelError.alreadyClosed:
            return "Connection closed by peer"
        default: return "\(error)"
        }
    }

    /// The errno behind a NIO socket error, including each address tried by a connect.
    static func errno(of error: Error) -> Int32? {
        if let io = error as? IOError { return io.errnoCode }
        if let connect = error as? NIOConnectionError {
            for failure in connect.connectionErrors {
                if let code = errno(of: failure.error) { return code }
            }
            if let dns = connect.dnsAError ?? connect.dnsAAAAError { return errno(of: dns) }
        }
        return nil
    }
}
