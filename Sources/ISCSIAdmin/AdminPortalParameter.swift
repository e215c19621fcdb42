/// The `--param portal=HOST[:PORT]` of `tgtadm --op new|delete --mode portal`, read as tgt does
/// (an IPv6 address in brackets, port 3260 when none is given) but refused with a reason where
/// tgt silently does nothing: tgt cuts an unbracketed address at its first colon, so
/// `portal=::1:4354` answers success and listens nowhere. A `,TPGT` after the port (ours, the
/// spelling of SendTargets and iscsiadm) puts the portal in that target portal group.
public enum AdminPortalParameter {
    public static let defaultPort = 3260

    /// - Returns: the address (without brackets), port and the portal group tag if one is given.
    /// - Throws: `TgtadmRefusal` (invalid request) saying what is wrong.
    public static func parse(_ param: String?) throws(TgtadmRefusal) -> (host: String, port: Int, tag: UInt16?) {
        guard let param, param.hasPrefix("portal=") else {
            throw TgtadmError.invalidRequest.because("portal requests take --param portal=HOST:PORT, not \(param ?? "nothing")")
        }
        var text = String(param.dropFirst("portal=".count))
        var tag: UInt16?
        if let comma = text.lastIndex(of: ",") {
            let tagText = text[text.index(after: comma)...]
            guard let number = UInt16(tagText), number > 0 else {
                throw TgtadmError.invalidRequest.because("portal \(text): portal group tag \(tagText) is not a number from 1 to 65535")
            }
            tag = number
            text = String(text[..<comma])
        }
        var host = text
        var portText: Substring?
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else {
                throw TgtadmError.invalidRequest.because("portal \(text) lacks the ']' after its IPv6 address")
            }
            host = String(text[text.index(after: text.startIndex)..<close])
            let rest = text[text.index(after: close)...]
            if !rest.isEmpty {
                guard rest.hasPrefix(":") else {
                    throw TgtadmError.invalidRequest.because("portal \(text): expected :PORT after the ']'")
                }
                portText = rest.dropFirst()
            }
        } else {
            let colons = text.filter { $0 == ":" }.count
            if colons > 1 {
                throw TgtadmError.invalidRequest.because(
                    "portal \(text) is ambiguous, write an IPv6 address in brackets (\(bracketed(text)))")
            }
            if let colon = text.firstIndex(of: ":") {
                host = String(text[..<colon])
                portText = text[text.index(after: colon)...]
            }
        }
        guard !host.isEmpty else { throw TgtadmError.invalidRequest.because("portal \(text) has no address") }
        var port = defaultPort
        if let portText {
            guard let number = Int(portText), (1...65535).contains(number) else {
                throw TgtadmError.invalidRequest.because("portal \(text): port \(portText) is not a number from 1 to 65535")
            }
            port = number
        }
        return (host, port, tag)
    }

    /// The bracketed spelling the user most likely meant: a last group of digits that can be a
    /// port is taken as one ("::1:4354" is "[::1]:4354"), otherwise the default port is added.
    private static func bracketed(_ text: String) -> String {
        if let colon = text.lastIndex(of: ":") {
            let head = text[..<colon]
            let tail = text[text.index(after: colon)...]
            if let port = Int(tail), (1...65535).contains(port), !head.isEmpty, !head.hasSuffix(":") {
                return "[\(head)]:\(port)"
            }
        }
        return "[\(text)]:\(defaultPort)"
    }
}
