import XCTest

@testable import ISCSIAdmin

/// `--op show --mode system`, `--op show --mode target --tid N`, and refusals that say why
/// (issue 11).
final class TgtadmShowAndRefusalTests: XCTestCase {
    func testSystemLayoutMatchesTgt() {
        // Filled with what Debian's tgtd has, the formatter prints tgt's text byte for byte.
        var system = SystemSnapshot()
        system.drivers = [.init(name: "iscsi", state: "ready"), .init(name: "iser", state: "error")]
        system.backingStores = ["sheepdog", "bsg", "sg", "null", "ssc"].map { .init(name: $0) }
            + ["smc", "mmc", "rdwr"].map { .init(name: $0, openFlags: "sync:direct") } + [.init(name: "aio")]
        system.deviceTypes = ["disk", "cd/dvd", "osd", "controller", "changer", "tape", "passthrough"]
        system.discoveryIncomingUsers = ["alice"]
        system.discoveryOutgoingUser = "bob"
        XCTAssertEqual(AdminTextFormatter.system(system), TgtGoldens.systemWithDiscoveryAccounts)
    }

    func testSystemWithoutDiscoveryAccountsHasNoAccountBlock() {
        var system = SystemSnapshot()
        system.drivers = [.init(name: "iscsi", state: "ready")]
        system.backingStores = [.init(name: "rdwr", openFlags: "sync:direct"), .init(name: "null")]
        system.deviceTypes = ["disk"]
        XCTAssertEqual(
            AdminTextFormatter.system(system),
            """
            System:
                State: ready
                debug: off
            LLDs:
                iscsi: ready
            Backing stores:
                rdwr (bsoflags sync:direct)
                null
            Device types:
                disk
            iSNS:
                iSNS=Off
                iSNSServerIP=
                iSNSServerPort=3205
                iSNSAccessControl=Off

            """)
        // tgt leaves out a lone outgoing account; it is shown here.
        system.discoveryOutgoingUser = "bob"
        XCTAssertTrue(AdminTextFormatter.system(system).contains("    Account information:\n\n    bob (outgoing)\niSNS:\n"))
    }

    func testTargetParametersInTgtsOrder() {
        // With tgt's values, iSER keys included, the list is tgt's text.
        var tgt = TargetParameterList()
        tgt.rdmaExtensions = true
        tgt.targetRecvDataSegmentLength = 262_144
        tgt.initiatorRecvDataSegmentLength = 262_144
        tgt.maxOutstandingUnexpectedPDUs = 0
        XCTAssertEqual(AdminTextFormatter.targetParameters(tgt), TgtGoldens.targetParameters)

        // Without the iSER keys they are left out and nothing else moves.
        var ours = TargetParameterList()
        ours.nopInterval = 15
        ours.nopCount = 2
        ours.maxRecvDataSegmentLength = 262_144
        ours.headerDigest = "CRC32C"
        ours.dataDigest = "CRC32C"
        let expected = TgtGoldens.targetParameters.split(separator: "\n", omittingEmptySubsequences: false)
            .filter {
                !["RDMAExtensions", "TargetRecvDataSegmentLength", "InitiatorRecvDataSegmentLength", "MaxOutstandingUnexpectedPDUs"]
                    .contains($0.prefix { $0 != "=" })
            }
            .joined(separator: "\n")
            .replacingOccurrences(of: "nop_interval=0\nnop_count=0\nMaxRecvDataSegmentLength=8192", with: "nop_interval=15\nnop_count=2\nMaxRecvDataSegmentLength=262144")
            .replacingOccurrences(of: "Digest=None", with: "Digest=CRC32C")
        XCTAssertEqual(AdminTextFormatter.targetParameters(ours), expected)
    }

    func testRefusalKeepsTgtsWordsFirst() {
        let refusal = TgtadmError.invalidRequest.because("iSCSI names are lower case (RFC 3722)")
        XCTAssertEqual(refusal.message, "invalid request: iSCSI names are lower case (RFC 3722)")
        XCTAssertEqual(
            AdminResponse.failure(refusal),
            AdminResponse(exitCode: 22, message: "invalid request: iSCSI names are lower case (RFC 3722)"))
    }

    func testPortalParameter() throws {
        func parse(_ text: String) throws -> String {
            let (host, port, _) = try AdminPortalParameter.parse(text)
            return "\(host) \(port)"
        }
        XCTAssertEqual(try parse("portal=127.0.0.1:4354"), "127.0.0.1 4354")
        XCTAssertEqual(try parse("portal=127.0.0.1"), "127.0.0.1 3260")
        XCTAssertEqual(try parse("portal=[::1]:4354"), "::1 4354")
        XCTAssertEqual(try parse("portal=[::1]"), "::1 3260")
        func reason(_ text: String?) -> String? {
            do {
                _ = try AdminPortalParameter.parse(text)
                return nil
            } catch {
                XCTAssertEqual(error.error, .invalidRequest)
                return error.reason
            }
        }
        XCTAssertEqual(reason("portal=::1:4354"), "portal ::1:4354 is ambiguous, write an IPv6 address in brackets ([::1]:4354)")
        XCTAssertEqual(reason("portal=::1"), "portal ::1 is ambiguous, write an IPv6 address in brackets ([::1]:3260)")
        XCTAssertEqual(reason("portal=fe80::1"), "portal fe80::1 is ambiguous, write an IPv6 address in brackets ([fe80::1]:3260)")
        XCTAssertEqual(reason("portal=[::1"), "portal [::1 lacks the ']' after its IPv6 address")
        XCTAssertEqual(reason("portal=[::1]4354"), "portal [::1]4354: expected :PORT after the ']'")
        XCTAssertEqual(reason("portal=:3260"), "portal :3260 has no address")
        XCTAssertEqual(reason("portal=host:70000"), "portal host:70000: port 70000 is not a number from 1 to 65535")
        XCTAssertEqual(reason("bogus"), "portal requests take --param portal=HOST:PORT, not bogus")
        XCTAssertEqual(reason(nil), "portal requests take --param portal=HOST:PORT, not nothing")
    }
}
