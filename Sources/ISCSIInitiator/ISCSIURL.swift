/// `iscsi://[user[%password]@]host[:port]/IQN/LUN`, as libiscsi and QEMU write it.
public struct ISCSIURL: Hashable, Sendable, CustomStringConvertible {
    public var user: String?
    public var password: String?
    public var host: String
    public var port: Int
    public var targetName: String?
    public var lun: UInt64?

    public init(
        host: String, port: Int = 3260, targetName: String? = nil, lun: UInt64? = nil, user: String? = nil,
        password: String? = nil
    ) {
        self.host = host
        self.port = port
        self.targetName = targetName
        self.lun = lun
        self.user = user
        self.password = password
    }

    public init(parsing text: String) throws {
        let scheme = "iscsi://"
        guard text.lowercased().hasPrefix(scheme) else { throw ISCSIInitiatorError.invalidURL("\(text) does not start with iscsi://") }
        var rest = Substring(text.dropFirst(scheme.count))
        let authority: Substring
        if let slash = rest.firstIndex(of: "/") {
            authority = rest[..<slash]
            rest = rest[rest.index(after: slash)...]
        } else {
            authority = rest
            rest = ""
        }
        var hostPart = authority
        if let at = authority.lastIndex(of: "@") {
            let userInfo = authority[..<at]
            hostPart = authority[authority.index(after: at)...]
            if let percent = userInfo.firstIndex(of: "%") {
                user = String(userInfo[..<percent])
                password = String(userInfo[userInfo.index(after: percent)...])
            } else {
                user = String(userInfo)
            }
            if user?.isEmpty == true { throw ISCSIInitiatorError.invalidURL("empty user name in \(text)") }
        }
        port = 3260
        if hostPart.hasPrefix("[") {
            guard let close = hostPart.firstIndex(of: "]") else { throw ISCSIInitiatorError.invalidURL("unclosed [ in \(text)") }
            host = String(hostPart[hostPart.index(after: hostPart.startIndex)..<close])
            let after = hostPart[hostPart.index(after: close)...]
            if !after.isEmpty {
                guard after.hasPrefix(":"), let p = Int(after.dropFirst()) else {
                    throw ISCSIInitiatorError.invalidURL("bad port in \(text)")
                }
                port = p
            }
        } else if let colon = hostPart.firstIndex(of: ":") {
            host = String(hostPart[..<colon])
            guard let p = Int(hostPart[hostPart.index(after: colon)...]) else {
                throw ISCSIInitiatorError.invalidURL("bad port in \(text)")
            }
            port = p
        } else {
            host = String(hostPart)
        }
        guard !host.isEmpty else { throw ISCSIInitiatorError.invalidURL("no host in \(text)") }
        guard (1...65535).contains(port) else { throw ISCSIInitiatorError.invalidURL("port \(port) out of range") }
        let parts = rest.split(separator: "/", omittingEmptySubsequences: true)
        guard parts.count <= 2 else { throw ISCSIInitiatorError.invalidURL("too many path components in \(text)") }
        if parts.count >= 1 { targetName = String(parts[0]) }
        if parts.count == 2 {
            guard let l = UInt64(parts[1]), l <= 0x3fff else { throw ISCSIInitiatorError.invalidURL("bad LUN \(parts[1])") }
            lun = l
        }
    }

    public var description: String {
        var s = "iscsi://"
        if let user { s += user + (password != nil ? "%***" : "") + "@" }
        s += host.contains(":") ? "[\(host)]" : host
        s += ":\(port)"
        if let targetName { s += "/\(targetName)" }
        if let lun { s += "/\(lun)" }
        return s
    }
}
