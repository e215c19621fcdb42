#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import SystemSupport

/// Why tgtadm could not get an answer; `message` is printed as "tgtadm: <message>".
public struct ControlClientError: Error, Equatable, Sendable {
    public var message: String
    public var exitCode: Int32
}

/// tgtadm's end of the control socket: one blocking request/response exchange.
public enum ControlClient {
    /// - Throws: `ControlClientError`. With no daemon on the port this is Debian tgtadm's
    ///   "failed to send request hdr to tgt daemon, Transport endpoint is not connected", exit 107:
    ///   tgtadm ignores the failed connect and reports the write that follows.
    public static func send(
        _ request: AdminRequest, controlPort: Int, runDirectory: String = ControlSocket.defaultRunDirectory
    ) throws -> AdminResponse {
        let path = ControlSocket.path(runDirectory: runDirectory, controlPort: controlPort)
        let payload: [UInt8]
        do {
            payload = try AdminWire.encode(request)
        } catch {
            throw ControlClientError(message: "failed to create request, \(error)", exitCode: EINVAL)
        }
        let fd: Int32
        do {
            fd = try UnixSocket.connect(to: path)
        } catch let error as SystemError where error.errno == ENAMETOOLONG {
            throw ControlClientError(message: "management path too long: \(path)", exitCode: EINVAL)
        } catch {
            throw sendFailure(SystemError(errno: ENOTCONN))
        }
        defer { close(fd) }

        do {
            try UnixSocket.sendFrame(payload, on: fd)
        } catch let error as SystemError {
            // tgtd answers a refused caller at once and closes without reading: the answer waits.
            if let refusal = try? UnixSocket.receiveFrame(on: fd, limit: ControlSocket.maximumResponseSize),
                let response = try? AdminWire.decode(AdminResponse.self, from: refusal)
            {
                return response
            }
            throw sendFailure(error)
        }
        let frame: [UInt8]?
        do {
            frame = try UnixSocket.receiveFrameOrEOF(on: fd, limit: ControlSocket.maximumResponseSize)
        } catch let error as SystemError {
            if error.errno == ECONNRESET { throw ControlClientError(message: "a partial response", exitCode: 1) }
            throw ControlClientError(message: "can't get the response, \(error.text)", exitCode: error.errno)
        }
        // tgt's tgtadm exits 0 here; a daemon that hangs up without answering has failed, though.
        guard let frame else { throw ControlClientError(message: "tgtd closed the socket", exitCode: 1) }
        guard let response = try? AdminWire.decode(AdminResponse.self, from: frame) else {
            throw ControlClientError(message: "a malformed response from tgtd", exitCode: 1)
        }
        return response
    }

    private static func sendFailure(_ error: SystemError) -> ControlClientError {
        ControlClientError(message: "failed to send request hdr to tgt daemon, \(error.text)", exitCode: error.errno)
    }
}
