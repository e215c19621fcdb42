/// tgtd's management errors (tgt's `enum tgtadm_errno`, same numbering) and the text tgtadm
/// prints for each.
public enum TgtadmError: Int32, Error, Codable, Sendable, CaseIterable, CustomStringConvertible {
    case unknownError = 1
    case outOfMemory
    case noDriver
    case noTarget
    case noLogicalUnit
    case noSession
    case noConnection
    case noBinding
    case targetExists
    case logicalUnitExists
    case bindingExists
    case aclExists
    case aclNotFound
    case accountExists
    case noAccount
    case tooManyAccounts
    case invalidRequest
    case outgoingAccountExists
    case targetActive
    case logicalUnitActive
    case driverActive
    case unsupportedOperation
    case unknownParameter
    case preventRemoval

    /// tgtadm exits with EINVAL for every error the daemon reports (measured with tgt 1.0.85).
    public static let exitCode: Int32 = 22

    public var message: String {
        switch self {
        case .unknownError: "unknown error"
        case .outOfMemory: "out of memory"
        case .noDriver: "can't find the driver"
        case .noTarget: "can't find the target"
        case .noLogicalUnit: "can't find the logical unit"
        case .noSession: "can't find the session"
        case .noConnection: "can't find the connection"
        case .noBinding: "can't find the binding"
        case .targetExists: "this target already exists"
        case .logicalUnitExists: "this logical unit number already exists"
        case .bindingExists: "this binding already exists"
        case .aclExists: "this access control rule already exists"
        case .aclNotFound: "this access control rule does not exist"
        case .accountExists: "this account already exists"
        case .noAccount: "can't find the account"
        case .tooManyAccounts: "too many accounts"
        case .invalidRequest: "invalid request"
        case .outgoingAccountExists: "this target already has an outgoing account"
        case .targetActive: "this target is still active"
        case .logicalUnitActive: "this logical unit is still active"
        case .driverActive: "this driver is busy"
        case .unsupportedOperation: "this operation isn't supported"
        case .unknownParameter: "unknown parameter"
        case .preventRemoval: "this device has Prevent Removal set"
        }
    }

    public var description: String { message }
}

/// A tgtd error with the reason this daemon can give for it. tgt answers "invalid request" and
/// nothing more; tgtadm here prints tgt's words first, for scripts that match them, then the
/// reason: "tgtadm: invalid request: iSCSI names are lower case (RFC 3722)". The exit code is
/// tgt's.
public struct TgtadmRefusal: Error, Equatable, Sendable, CustomStringConvertible {
    public var error: TgtadmError
    public var reason: String

    public init(_ error: TgtadmError, _ reason: String) {
        self.error = error
        self.reason = reason
    }

    /// tgt's text, then ": " and the reason.
    public var message: String { "\(error.message): \(reason)" }
    public var description: String { message }
}

extension TgtadmError {
    /// This error with its reason.
    public func because(_ reason: String) -> TgtadmRefusal { TgtadmRefusal(self, reason) }
}

extension AdminResponse {
    public static func failure(_ refusal: TgtadmRefusal) -> AdminResponse {
        AdminResponse(exitCode: TgtadmError.exitCode, message: refusal.message)
    }
}
