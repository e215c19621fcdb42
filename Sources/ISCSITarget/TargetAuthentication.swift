import ISCSIProtocol

/// Who must authenticate to a target, and with what (tgt's bound accounts, LIO's ACL auth).
public struct TargetAuthentication: Sendable, Equatable {
    /// One initiator's own CHAP settings (LIO's node ACL auth).
    public struct InitiatorCredentials: Sendable, Equatable {
        /// The CHAP_N and secret this initiator must answer with; nil: the target-wide ones apply.
        public var incoming: CHAPCredential?
        /// The target's credential for mutual CHAP towards this initiator.
        public var outgoing: CHAPCredential?

        public init(incoming: CHAPCredential? = nil, outgoing: CHAPCredential? = nil) {
            self.incoming = incoming
            self.outgoing = outgoing
        }
    }

    /// Accepted initiator credentials: CHAP_N -> secret.
    public var incoming: [String: String] = [:]
    /// The target's own credential for mutual CHAP.
    public var outgoing: CHAPCredential?
    /// nil: CHAP is required exactly when incoming credentials exist (tgt's rule). false: CHAP is
    /// optional (offered alongside None when credentials exist, as LIO with authentication=0).
    public var required: Bool?
    /// Per-initiator credentials, keyed by lower-cased InitiatorName; they replace the
    /// target-wide ones for that initiator.
    public var initiators: [String: InitiatorCredentials] = [:]

    public init(
        incoming: [String: String] = [:], outgoing: CHAPCredential? = nil, required: Bool? = nil,
        initiators: [String: InitiatorCredentials] = [:]
    ) {
        self.incoming = incoming
        self.outgoing = outgoing
        self.required = required
        self.initiators = initiators
    }

    public var requiresCHAP: Bool { required ?? !incoming.isEmpty }

    /// Whether a CHAP exchange could succeed at all (some secret is known).
    var offersCHAP: Bool { requiresCHAP || !incoming.isEmpty }

    /// The settings that apply to one initiator: its own credentials when it has some,
    /// the target-wide ones otherwise.
    public func resolved(forInitiator name: String) -> TargetAuthentication {
        guard let own = initiators[name.lowercased()], let credential = own.incoming else {
            return TargetAuthentication(incoming: incoming, outgoing: outgoing, required: required)
        }
        return TargetAuthentication(
            incoming: [credential.name: String(decoding: credential.secret, as: UTF8.self)], outgoing: own.outgoing,
            required: required)
    }

    func authenticatorConfiguration(algorithms: [CHAPAlgorithm]) -> TargetCHAPAuthenticator.Configuration {
        let secrets = incoming.mapValues { Array($0.utf8) }
        return TargetCHAPAuthenticator.Configuration(
            secretForUser: { secrets[$0] }, outgoing: outgoing, algorithms: algorithms)
    }
}
