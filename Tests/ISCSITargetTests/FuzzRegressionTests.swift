import ISCSIProtocol
import NIOCore
import XCTest

@testable import ISCSITarget

/// Inputs the fuzz targets in Fuzz/ (scripts/fuzz.sh) found, replayed as they were found.
final class FuzzRegressionTests: XCTestCase {
    /// FuzzLogin's setup: one target, CHAP required (flags bit 0) and mutual (bit 1), a fixed
    /// CHAP random source.
    private func machine(flags: UInt8) -> LoginStateMachine {
        let target = ExportedTarget(tid: 1, name: "iqn.2026-11.org.example:disk")
        var authentication = TargetAuthentication()
        if flags & 1 != 0 { authentication.incoming = ["fuzzuser": "fuzzsecret1234"] }
        if flags & 2 != 0 { authentication.outgoing = CHAPCredential(name: "fuzztarget", secret: "targetsecret99") }
        target.authentication = authentication
        return LoginStateMachine(
            configuration: TargetNegotiationConfiguration(), portalGroupTag: 1, maxCmdSNWindow: 32,
            resolveTarget: { name, _ in
                name.lowercased() == target.name ? .success(target) : .failure(.notFound("no target \(name)"))
            },
            chapRandom: CHAPRandomSource { count in (0..<count).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ 3) } })
    }

    /// Byte 0 is FuzzLogin's flags, the rest Login Request PDUs.
    private func requests(_ input: [UInt8]) throws -> [LoginRequest] {
        var buffer = ByteBuffer(bytes: input.dropFirst())
        var decoder = PDUFrameDecoder()
        var requests: [LoginRequest] = []
        while let frame = try decoder.next(from: &buffer) {
            guard case .loginRequest(let request) = try ISCSIPDU(frame: frame) else { break }
            requests.append(request)
        }
        return requests
    }

    /// FuzzLogin: an initiator that sends TargetPortalGroupTag (a key only targets send) had it
    /// answered Irrelevant, and the target's own TargetPortalGroupTag declaration followed in the
    /// same response: the key twice, which initiators refuse ("sent twice").
    func testTargetPortalGroupTagFromTheInitiatorIsAnsweredOnce() throws {
        let input: [UInt8] = [
            0x03, 0x43, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x8f, 0x00, 0x80, 0x12, 0x34, 0x56, 0x78, 0x00,
            0x00, 0x00, 0x00, 0x00, 0x00, 0xb1, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00,
            0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
            0x00, 0x49, 0x6e, 0x69, 0x74, 0x69, 0x61, 0x74, 0x6f, 0x72, 0x4e, 0x61, 0x6d, 0x65, 0x3d, 0x69,
            0x71, 0x6e, 0x2e, 0x32, 0x30, 0x32, 0x36, 0x2d, 0x31, 0x31, 0x2e, 0x6f, 0x72, 0x67, 0x2e, 0x65,
            0x78, 0x61, 0x6d, 0x70, 0x6c, 0x65, 0x3a, 0x66, 0x75, 0x7a, 0x7a, 0x00, 0x54, 0x61, 0x72, 0x67,
            0x65, 0x74, 0x50, 0x6f, 0x72, 0x74, 0x61, 0x6c, 0x47, 0x72, 0x6f, 0x75, 0x70, 0x54, 0x61, 0x67,
            0x3d, 0x49, 0x6e, 0x69, 0x74, 0x69, 0x61, 0x74, 0x6f, 0x72, 0x41, 0x6c, 0x69, 0x61, 0x73, 0x3d,
            0x66, 0x75, 0x7a, 0x7a, 0x00, 0x53, 0x65, 0x73, 0x73, 0x69, 0x6f, 0x6e, 0x54, 0x79, 0x70, 0x65,
            0x3d, 0x4e, 0x6f, 0x72, 0x6d, 0x61, 0x6c, 0x00, 0x54, 0x61, 0x72, 0x67, 0x65, 0x74, 0x4e, 0x61,
            0x6d, 0x65, 0x3d, 0x69, 0x71, 0x6e, 0x2e, 0x32, 0x30, 0x32, 0x36, 0x2d, 0x31, 0x31, 0x2e, 0x6f,
            0x72, 0x67, 0x2e, 0x65, 0x78, 0x61, 0x6d, 0x70, 0x6c, 0x65, 0x3a, 0x64, 0x69, 0x73, 0x6b, 0x00,
            0x41,
        ]
        var machine = machine(flags: input[0])
        let requests = try requests(input)
        XCTAssertEqual(requests.count, 1)
        guard case .respond(let response) = machine.receive(requests[0]) else {
            return XCTFail("expected the login to go on")
        }
        let pairs = try TextKeyCodec.decode(response.dataSegment)
        XCTAssertEqual(pairs.filter { $0.key == "TargetPortalGroupTag" }.map(\.value), ["1"])
        XCTAssertEqual(Set(pairs.map(\.key)).count, pairs.count, "\(pairs)")
    }
}
