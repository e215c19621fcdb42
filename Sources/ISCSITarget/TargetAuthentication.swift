import ISCSIProtocol

/// Who must authenticate to a target, and with what (tgt's bound accounts, LIO's ACL auth).
public struct TargetAuthentication: Sendable, Equatable {
    /// Accepted initiator credentials: CHAP_N -> secret.
    public var incoming: [String: String] = [:]
    /// The target's own credential for mutual CHAP.
    public var outgoing: CHAPCredential?
    /// nil: CHAP is required exactly when incoming credentials exist (tgt's rule).
    public var required: Bool?

    public init(incoming: [String: String] = [:], outgoing: CHAPCredential? = nil, required: Bool? = nil) {
        self.incoming = incoming
        self.outgoing = outgoing
        self.required = required
    }

    public var requiresCHAP: Bool { required ?? !incoming.isEmpty }

    func authenticatorConfiguration() -> TargetCHAPAuthenticator.Configuration {
        let secrets = incoming.mapValues { Array($0.utf8) }
        return TargetCHAPAuthenticator.Configuration(secretForUser: { secrets[$0] }, outgoing: outgoing)
    }
}
