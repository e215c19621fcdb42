/// open-iscsi's exit codes (include/iscsi_err.h) and their texts.
public enum ISCSIErrorCode: Int32, Sendable, Codable {
    case success = 0
    case generic = 1
    case sessionNotFound = 2
    case noMemory = 3
    case transport = 4
    case login = 5
    case database = 6
    case invalid = 7
    case transportTimeout = 8
    case `internal` = 9
    case logout = 10
    case pduTimeout = 11
    case transportNotFound = 12
    case access = 13
    case transportCaps = 14
    case sessionExists = 15
    case invalidRequest = 16
    case isnsUnavailable = 17
    case iscsidCommunication = 18
    case fatalLogin = 19
    case iscsidNotConnected = 20
    case noObjectsFound = 21
    case sysfsLookup = 22
    case hostNotFound = 23
    case loginAuthFailed = 24
    case isnsQuery = 25
    case isnsRegistration = 26
    case operationNotSupported = 27
    case busy = 28
    case again = 29
    case unknownDiscoveryType = 30
    case childTerminated = 31

    /// iscsi_err_to_str's text.
    public var text: String {
        switch self {
        case .success, .generic: return "unknown error"
        case .sessionNotFound: return "session not found"
        case .noMemory: return "no available memory"
        case .transport: return "encountered connection failure"
        case .login: return "encountered iSCSI login failure"
        case .database: return "encountered iSCSI database failure"
        case .invalid: return "invalid parameter"
        case .transportTimeout: return "connection timed out"
        case .internal: return "internal error"
        case .logout: return "encountered iSCSI logout failure"
        case .pduTimeout: return "iSCSI PDU timed out"
        case .transportNotFound: return "iSCSI driver not found. Please make sure it is loaded, and retry the operation"
        case .access: return "daemon access denied"
        case .transportCaps: return "iSCSI driver does not support requested capability."
        case .sessionExists: return "already exists"
        case .invalidRequest: return "Unknown request"
        case .isnsUnavailable: return "iSNS service not supported"
        case .iscsidCommunication: return "could not communicate to iscsid"
        case .fatalLogin: return "encountered non-retryable iSCSI login failure"
        case .iscsidNotConnected: return "could not connect to iscsid"
        case .noObjectsFound: return "no objects found"
        case .sysfsLookup: return "sysfs lookup failure"
        case .hostNotFound: return "host not found"
        case .loginAuthFailed: return "iSCSI login failed due to authorization failure"
        case .isnsQuery: return "iSNS query failed"
        case .isnsRegistration: return "iSNS registration failed"
        case .operationNotSupported: return "operation not supported"
        case .busy: return "device or resource in use"
        case .again: return "operation failed but retry may succeed"
        case .unknownDiscoveryType: return "unknown discovery type"
        case .childTerminated: return "child process terminated"
        }
    }
}

/// A failure carrying open-iscsi's exit code and the lines iscsiadm prints for it.
public struct ISCSIError: Error, Equatable, Sendable, Codable, CustomStringConvertible {
    public var code: ISCSIErrorCode
    public var message: String

    public init(_ code: ISCSIErrorCode, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }
}
