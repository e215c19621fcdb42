// Fuzz target: the text-key codec (TextKeyCodec, TextAccumulator) and both negotiators.
//
// Input: byte 0 configures the target (bit 0 the session starts as Discovery, bit 1 a
// non-leading connection, bit 2 CHAP required, bit 3 digests required, bit 4 small negotiation
// limits), then requests separated by 0xFF (never valid in text: not UTF-8, not a key byte),
// each a stage byte (0 security, 1 operational, otherwise full feature phase) and key=value text.
// The same requests, read as a target's answers, go to an InitiatorNegotiator that offered its
// defaults for that stage.
//
// Invariants: decoding is the same through TextAccumulator in pieces; what decodes re-encodes
// to text that decodes to the same pairs; each side's answers decode, name each key once and
// stay within the reply budget; negotiated values are admissible (FirstBurstLength within
// MaxBurstLength, nothing above what the initiator offered for minimum keys, digests only if
// offered).
import FuzzSupport
import ISCSIProtocol
import NIOCore

/// Decodes `text` directly and through TextAccumulator (split at `split`), checks both agree and
/// that the pairs survive encode/decode.
private func decodeChecked(_ text: [UInt8], split: Int) -> [TextKeyValue]? {
    let direct: Result<[TextKeyValue], TextKeyError>
    do {
        direct = .success(try TextKeyCodec.decode(ByteBuffer(bytes: text)))
    } catch let error as TextKeyError {
        direct = .failure(error)
    } catch {
        fuzzCheck(false, "TextKeyCodec.decode threw \(error)")
        return nil
    }
    var accumulator = TextAccumulator()
    let cut = text.isEmpty ? 0 : split % (text.count + 1)
    do {
        try accumulator.append(ByteBuffer(bytes: text[..<cut]))
        try accumulator.append(ByteBuffer(bytes: text[cut...]))
        let pairs = try accumulator.finish()
        fuzzCheck(direct == .success(pairs), "TextAccumulator decoded \(pairs), TextKeyCodec \(direct)")
    } catch let error as TextKeyError {
        fuzzCheck(direct == .failure(error), "TextAccumulator failed with \(error), TextKeyCodec gave \(direct)")
    } catch {
        fuzzCheck(false, "TextAccumulator threw \(error)")
    }
    guard case .success(let pairs) = direct else { return nil }
    checkRoundTrip(pairs, what: "decoded text")
    return pairs
}

/// `pairs` encode to `encodedLength(of:)` bytes that decode to the same pairs (with limits
/// wide enough for anything a negotiator may say).
private func checkRoundTrip(_ pairs: [TextKeyValue], what: String) {
    var buffer = ByteBuffer()
    TextKeyCodec.encode(pairs, into: &buffer)
    fuzzCheck(buffer.readableBytes == TextKeyCodec.encodedLength(of: pairs), "\(what): encodedLength is wrong")
    var limits = TextKeyLimits.standard
    limits.maxPairs = max(limits.maxPairs, pairs.count)
    do {
        let again = try TextKeyCodec.decode(buffer, limits: limits)
        fuzzCheck(again == pairs, "\(what) changed through encode/decode: \(pairs) -> \(again)")
    } catch {
        fuzzCheck(false, "\(what) \(pairs) does not decode after encoding: \(error)")
    }
    // Split into segments and reassembled, the text is the same.
    let segments = TextKeyCodec.split(buffer, maxSegmentLength: 7)
    var joined = ByteBuffer()
    for var segment in segments {
        fuzzCheck(segment.readableBytes <= 7, "split made a segment of \(segment.readableBytes) bytes")
        joined.writeBuffer(&segment)
    }
    fuzzCheck(joined == buffer, "split lost bytes")
}

private func checkAnswers(_ pairs: [TextKeyValue], who: String) {
    var keys = Set<String>()
    for pair in pairs {
        fuzzCheck(keys.insert(pair.key).inserted, "\(who) answered \(pair.key) twice: \(pairs)")
    }
    checkRoundTrip(pairs, what: "\(who)'s answer")
}

private func checkParameters(_ p: NegotiatedParameters, who: String) {
    fuzzCheck(p.firstBurstLength <= p.maxBurstLength, "\(who): FirstBurstLength \(p.firstBurstLength) > MaxBurstLength \(p.maxBurstLength)")
    fuzzCheck((512...16_777_215).contains(p.maxBurstLength), "\(who): MaxBurstLength \(p.maxBurstLength)")
    fuzzCheck((512...16_777_215).contains(p.firstBurstLength), "\(who): FirstBurstLength \(p.firstBurstLength)")
    fuzzCheck((512...16_777_215).contains(p.targetMaxRecvDataSegmentLength), "\(who): target MRDSL \(p.targetMaxRecvDataSegmentLength)")
    fuzzCheck((512...16_777_215).contains(p.initiatorMaxRecvDataSegmentLength), "\(who): initiator MRDSL \(p.initiatorMaxRecvDataSegmentLength)")
    fuzzCheck((1...65535).contains(p.maxOutstandingR2T), "\(who): MaxOutstandingR2T \(p.maxOutstandingR2T)")
    fuzzCheck((1...65535).contains(p.maxConnections), "\(who): MaxConnections \(p.maxConnections)")
    fuzzCheck((0...2).contains(p.errorRecoveryLevel), "\(who): ErrorRecoveryLevel \(p.errorRecoveryLevel)")
    fuzzCheck((0...3600).contains(p.defaultTime2Wait), "\(who): DefaultTime2Wait \(p.defaultTime2Wait)")
    fuzzCheck((0...3600).contains(p.defaultTime2Retain), "\(who): DefaultTime2Retain \(p.defaultTime2Retain)")
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzTextNegotiation(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    var input = FuzzInput(data, size)
    let flags = input.byte()
    let requests = input.rest().split(separator: 0xFF, omittingEmptySubsequences: false)

    var configuration = TargetNegotiationConfiguration()
    if flags & 4 != 0 { configuration.authMethods = [.chap] }
    if flags & 8 != 0 {
        configuration.headerDigests = [.crc32c]
        configuration.dataDigests = [.crc32c]
    }
    if flags & 0x10 != 0 { configuration.limits = NegotiationLimits(maxKeys: 8, maxReplyBytes: 200) }
    let sessionType: SessionType = flags & 1 != 0 ? .discovery : .normal
    let leading = flags & 2 == 0
    var target = TargetNegotiator(configuration: configuration, sessionType: sessionType)
    var targetLoginBytes = 0
    var targetAlive = true

    var initiatorConfiguration = InitiatorNegotiationConfiguration(
        initiatorName: "iqn.2026-11.org.example:fuzz", targetName: "iqn.2026-11.org.example:disk",
        sessionType: sessionType)
    if flags & 8 != 0 { initiatorConfiguration.headerDigests = [.crc32c, .none] }
    var initiator = InitiatorNegotiator(configuration: initiatorConfiguration, isLeadingConnection: leading)
    var initiatorAlive = true
    var offeredOperational = false

    for (number, request) in requests.enumerated() {
        guard let stageByte = request.first else { continue }
        let stage: NegotiationStage = stageByte == 0 ? .security : stageByte == 1 ? .operational : .fullFeature
        guard let pairs = decodeChecked(Array(request.dropFirst()), split: Int(stageByte) &* 31 &+ number) else { continue }

        if targetAlive {
            switch target.respond(to: pairs, stage: stage, isLeadingConnection: leading) {
            case .reply(let reply):
                checkAnswers(reply.pairs, who: "target")
                let bytes = TextKeyCodec.encodedLength(of: reply.pairs)
                if stage == .fullFeature {
                    fuzzCheck(bytes <= configuration.limits.maxReplyBytes, "target's text answer of \(bytes) bytes")
                } else {
                    targetLoginBytes += bytes
                    fuzzCheck(targetLoginBytes <= configuration.limits.maxReplyBytes, "target's login answers of \(targetLoginBytes) bytes")
                }
                for pair in reply.authenticationKeys {
                    fuzzCheck(pairs.contains(pair), "authentication key \(pair) was not in the request")
                }
                checkParameters(target.negotiated, who: "target")
            case .failure(let failure):
                fuzzCheck(failure.statusClass != 0, "a failure with status class 0: \(failure)")
                targetAlive = stage == .fullFeature  // a failed login ends; a text exchange may be retried
            }
        }

        if initiatorAlive, stage != .fullFeature {
            if stage == .security {
                _ = initiator.securityOffers()
            } else if !offeredOperational {
                _ = initiator.operationalOffers(includeLoginDeclarations: number == 0)
                offeredOperational = true
            }
            switch initiator.process(response: pairs, stage: stage) {
            case .reply(let reply):
                checkAnswers(reply.pairs, who: "initiator")
                let p = initiator.negotiated
                checkParameters(p, who: "initiator")
                fuzzCheck(p.maxBurstLength <= initiatorConfiguration.maxBurstLength, "MaxBurstLength \(p.maxBurstLength) above the offer")
                fuzzCheck(p.firstBurstLength <= initiatorConfiguration.firstBurstLength, "FirstBurstLength \(p.firstBurstLength) above the offer")
                fuzzCheck(p.maxOutstandingR2T <= initiatorConfiguration.maxOutstandingR2T, "MaxOutstandingR2T \(p.maxOutstandingR2T) above the offer")
                fuzzCheck(p.maxConnections <= initiatorConfiguration.maxConnections, "MaxConnections \(p.maxConnections) above the offer")
                fuzzCheck(p.errorRecoveryLevel <= initiatorConfiguration.errorRecoveryLevel, "ErrorRecoveryLevel \(p.errorRecoveryLevel) above the offer")
                fuzzCheck(!p.headerDigest || initiatorConfiguration.headerDigests.contains(.crc32c), "HeaderDigest=CRC32C was not offered")
                fuzzCheck(!p.dataDigest || initiatorConfiguration.dataDigests.contains(.crc32c), "DataDigest=CRC32C was not offered")
                fuzzCheck(p.authMethod == .none, "AuthMethod \(p.authMethod) was not offered")
            case .failure(let failure):
                fuzzCheck(failure.statusClass != 0, "a failure with status class 0: \(failure)")
                initiatorAlive = false
            }
        }
    }
    if targetAlive {
        _ = target.completionFailure()
    }
    return 0
}

@_cdecl("LLVMFuzzerInitialize")
public func initialize(_ argc: UnsafeMutablePointer<CInt>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>) -> CInt {
    writeSeedsIfRequested(seeds)
    return 0
}

private func seeds() -> [[UInt8]] {
    func request(_ stage: UInt8, _ pairs: [TextKeyValue]) -> [UInt8] {
        var buffer = ByteBuffer()
        TextKeyCodec.encode(pairs, into: &buffer)
        return [stage] + Array(buffer.readableBytesView)
    }
    // What our initiator offers, as the target sees it, and a target's typical answers.
    var initiator = InitiatorNegotiator(
        configuration: InitiatorNegotiationConfiguration(
            initiatorName: "iqn.2026-11.org.example:fuzz", targetName: "iqn.2026-11.org.example:disk"))
    let security = initiator.securityOffers()
    let operational = initiator.operationalOffers()
    let answers = [
        TextKeyValue("HeaderDigest", "None"), TextKeyValue("DataDigest", "None"),
        TextKeyValue("MaxRecvDataSegmentLength", "262144"), TextKeyValue("MaxBurstLength", "131072"),
        TextKeyValue("FirstBurstLength", "65536"), TextKeyValue("InitialR2T", "Yes"),
        TextKeyValue("ImmediateData", "Yes"), TextKeyValue("MaxOutstandingR2T", "1"),
        TextKeyValue("ErrorRecoveryLevel", "0"), TextKeyValue("DefaultTime2Wait", "2"),
        TextKeyValue("DefaultTime2Retain", "20"), TextKeyValue("MaxConnections", "1"),
        TextKeyValue("DataPDUInOrder", "Yes"), TextKeyValue("DataSequenceInOrder", "Yes"),
        TextKeyValue("TargetPortalGroupTag", "1"), TextKeyValue("TargetAlias", "disk"),
    ]
    let discovery = [
        TextKeyValue("InitiatorName", "iqn.2026-11.org.example:fuzz"), TextKeyValue("SessionType", "Discovery"),
        TextKeyValue("AuthMethod", "CHAP,None"),
    ]
    let extras = [
        TextKeyValue("X-com.example.Vendor", "1"), TextKeyValue("X#Public", "Yes"),
        TextKeyValue("OFMarker", "No"), TextKeyValue("IFMarkInt", "1~65535"), TextKeyValue("TaskReporting", "RFC3720"),
        TextKeyValue("iSCSIProtocolLevel", "1"), TextKeyValue("CHAP_A", "7,5"), TextKeyValue("MaxBurstLength", "0x1000"),
        TextKeyValue("MaxRecvDataSegmentLength", "0b100"), TextKeyValue("TargetAddress", "[::1]:3260,1"),
    ]
    let text = [TextKeyValue("SendTargets", "All"), TextKeyValue("MaxBurstLength", "65536")]
    return [
        [0] + request(0, security) + [0xFF] + request(1, operational) + [0xFF] + request(2, text),
        [0] + request(1, security + operational),
        [0] + request(1, answers) + [0xFF] + request(2, answers),
        [1] + request(0, discovery) + [0xFF] + request(1, answers),
        [4] + request(0, security) + [0xFF] + request(0, [TextKeyValue("CHAP_A", "5")]),
        [8] + request(1, security + operational),
        [0x12] + request(1, operational + extras),
        [0] + request(0, extras),
    ]
}
