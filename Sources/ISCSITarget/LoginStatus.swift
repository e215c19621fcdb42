import ISCSIProtocol

/// Login response status class and detail (RFC 7143 11.13.5), with the reason we log.
public struct LoginFailure: Error, Equatable, CustomStringConvertible, Sendable {
    public var statusClass: UInt8
    public var statusDetail: UInt8
    public var reason: String

    public init(statusClass: UInt8, statusDetail: UInt8, reason: String) {
        self.statusClass = statusClass
        self.statusDetail = statusDetail
        self.reason = reason
    }

    init(_ failure: NegotiationFailure) {
        self.init(statusClass: failure.statusClass, statusDetail: failure.statusDetail, reason: failure.reason)
    }

    public var code: UInt16 { UInt16(statusClass) << 8 | UInt16(statusDetail) }
    public var description: String { "login failed (0x\(hexString(code, width: 4))): \(reason)" }

    static func initiatorError(_ reason: String) -> LoginFailure { .init(statusClass: 2, statusDetail: 0x00, reason: reason) }
    static func authenticationFailure(_ reason: String) -> LoginFailure { .init(statusClass: 2, statusDetail: 0x01, reason: reason) }
    static func authorizationFailure(_ reason: String) -> LoginFailure { .init(statusClass: 2, statusDetail: 0x02, reason: reason) }
    static func notFound(_ reason: String) -> LoginFailure { .init(statusClass: 2, statusDetail: 0x03, reason: reason) }
    static func unsupportedVersion(_ reason: String) -> LoginFailure { .init(statusClass: 2, statusDetail: 0x05, reason: reason) }
    static func tooManyConnections(_ reason: String) -> LoginFailure { .init(statusClass: 2, statusDetail: 0x06, reason: reason) }
    static func missingParameter(_ reason: String) -> LoginFailure { .init(statusClass: 2, statusDetail: 0x07, reason: reason) }
    static func cannotIncludeInSession(_ reason: String) -> LoginFailure { .init(statusClass: 2, statusDetail: 0x08, reason: reason) }
    static func sessionTypeNotSupported(_ reason: String) -> LoginFailure { .init(statusClass: 2, statusDetail: 0x09, reason: reason) }
    static func sessionDoesNotExist(_ reason: String) -> LoginFailure { .init(statusClass: 2, statusDetail: 0x0a, reason: reason) }
    static func invalidDuringLogin(_ reason: String) -> LoginFailure { .init(statusClass: 2, statusDetail: 0x0b, reason: reason) }
    static func targetError(_ reason: String) -> LoginFailure { .init(statusClass: 3, statusDetail: 0x00, reason: reason) }
    static func serviceUnavailable(_ reason: String) -> LoginFailure { .init(statusClass: 3, statusDetail: 0x01, reason: reason) }
}
