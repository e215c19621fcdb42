#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Dispatch
import SystemSupport

/// Kept so `ControlServer.authorize` reads as before for code that imports only ISCSIAdmin.
public typealias PeerCredentials = SystemSupport.PeerCredentials

/// Executes control requests; tgtd implements it over its target registry.
public protocol AdminHandler: Sendable {
    func handle(_ request: AdminRequest) async -> AdminResponse
}

/// An `AdminHandler` made from a closure (tests, small tools).
public struct ClosureAdminHandler: AdminHandler {
    private let body: @Sendable (AdminRequest) async -> AdminResponse

    public init(_ body: @escaping @Sendable (AdminRequest) async -> AdminResponse) {
        self.body = body
    }

    public func handle(_ request: AdminRequest) async -> AdminResponse {
        await body(request)
    }
}

public struct ControlServerError: Error, CustomStringConvertible, Sendable {
    public var message: String
    public var description: String { message }
}

/// The daemon's end of the control socket, `<runDirectory>/socket.<controlPort>`.
///
/// Each connection carries one request and one response. Peers whose uid is not in `allowedUIDs`
/// get `AdminResponse.permissionDenied` at accept, before a byte of their request is read.
/// Requests are read side by side (a slow client holds up no other) and execute one at a time in
/// the order they arrived whole, as tgt's event loop runs them.
public final class ControlServer: @unchecked Sendable {
    public let controlPort: Int
    public let socketPath: String
    private let lockPath: String
    private let runDirectory: String
    private let allowedUIDs: Set<UInt32>
    private let limits: FrameServer.Limits
    private let log: @Sendable (String) -> Void
    private let handler: AdminHandler

    /// Guards `server` against concurrent start/stop.
    private let stateLock = DispatchSemaphore(value: 1)
    private var server: FrameServer?

    /// tgtadm's requests are small and sent at once; a reply it does not take is dropped in 5 s.
    public static let defaultLimits = FrameServer.Limits(
        frameLimit: ControlSocket.maximumRequestSize, replyDeadline: .seconds(5))

    /// - Parameter log: where lines about cut-off connections go (tgtd's logger).
    public init(
        controlPort: Int, runDirectory: String = ControlSocket.defaultRunDirectory, allowedUIDs: Set<UInt32> = [0],
        limits: FrameServer.Limits = defaultLimits, log: @escaping @Sendable (String) -> Void = standardErrorLine,
        handler: AdminHandler
    ) {
        self.controlPort = controlPort
        self.runDirectory = runDirectory
        self.socketPath = ControlSocket.path(runDirectory: runDirectory, controlPort: controlPort)
        self.lockPath = socketPath + ".lock"
        self.allowedUIDs = allowedUIDs
        self.limits = limits
        self.log = log
        self.handler = handler
    }

    public convenience init(
        controlPort: Int, runDirectory: String = ControlSocket.defaultRunDirectory, allowedUIDs: Set<UInt32> = [0],
        limits: FrameServer.Limits = defaultLimits, log: @escaping @Sendable (String) -> Void = standardErrorLine,
        handle: @escaping @Sendable (AdminRequest) async -> AdminResponse
    ) {
        self.init(
            controlPort: controlPort, runDirectory: runDirectory, allowedUIDs: allowedUIDs, limits: limits, log: log,
            handler: ClosureAdminHandler(handle))
    }

    public static let standardErrorLine: @Sendable (String) -> Void = { fputs("tgtd: \($0)\n", stderr) }

    /// Nil when `peer` may administer the daemon, else the refusal to send it.
    public static func authorize(_ peer: PeerCredentials, allowedUIDs: Set<UInt32>) -> AdminResponse? {
        allowedUIDs.contains(peer.uid) ? nil : .permissionDenied
    }

    /// Binds the socket and starts serving.
    /// - Throws: `ControlServerError` if another daemon holds the control port or the socket cannot
    ///   be created.
    public func start() throws {
        stateLock.wait()
        defer { stateLock.signal() }
        guard server == nil else { return }
        let resources = try ListeningResources.open(
            runDirectory: runDirectory, socketPath: socketPath, lockPath: lockPath, controlPort: controlPort)
        do {
            // Serial: requests execute in arrival order, as in tgt. The lock is held until the loop ends.
            let allowedUIDs = allowedUIDs
            let refusal = try? AdminWire.encode(AdminResponse.permissionDenied)
            server = try FrameServer.start(
                listeningOn: resources.listenFD, mode: .serial, limits: limits,
                admit: { peer in Self.authorize(peer, allowedUIDs: allowedUIDs) == nil ? nil : refusal ?? [] },
                log: log, onStop: { _ = close(resources.lockFD) }, handler: answer)
        } catch let error as SystemError {
            _ = close(resources.listenFD)
            _ = close(resources.lockFD)
            throw ListeningResources.failure("can't create a pipe", error)
        }
    }

    /// Stops accepting, removes the socket file and, unless called from inside the handler, waits
    /// for the request being served to finish.
    public func stop() {
        stateLock.wait()
        let server = self.server
        self.server = nil
        if server != nil { unlink(socketPath) }
        stateLock.signal()
        // A handler that stops the daemon (tgt's "--op delete --mode system") must not wait for its
        // own request to end; FrameServer sees that and the loop exits right after answering it.
        server?.stop()
    }

    /// The reply to one request frame from an admitted peer.
    private var answer: FrameServer.Handler {
        { [handler] frame, _ in
            let response: AdminResponse
            if let request = try? AdminWire.decode(AdminRequest.self, from: frame) {
                response = await handler.handle(request)
            } else {
                response = .failure(TgtadmError.invalidRequest.because("the request is not one this tgtd can read"))
            }
            return try? AdminWire.encode(response)
        }
    }
}
