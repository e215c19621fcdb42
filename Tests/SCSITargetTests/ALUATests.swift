import NIOCore
import SCSIProtocol
import XCTest

@testable import SCSITarget

/// Target port groups (SPC-4 5.15): one initiator through two target ports, the unit in two groups.
final class ALUATests: XCTestCase {
    static let port1 = TargetPort(relativeID: 1, name: "iqn.2026-11.test:h3,t,0x0001")
    static let port2 = TargetPort(relativeID: 2, name: "iqn.2026-11.test:h3,t,0x0002")
    /// Initiator A through port 1 and through port 2: two I_T nexuses.
    static let a1 = SCSINexus(id: 11, initiatorPortName: Harness.nexusA.initiatorPortName, targetPort: port1)
    static let a2 = SCSINexus(id: 12, initiatorPortName: Harness.nexusA.initiatorPortName, targetPort: port2)
    static let b2 = SCSINexus(id: 13, initiatorPortName: Harness.nexusB.initiatorPortName, targetPort: port2)

    /// Group 1 (port 1) active/optimized and preferred, group 2 (port 2) standby; both explicit.
    static let twoGroups = ALUAConfiguration(groups: [
        ALUAGroup(id: 1, state: .activeOptimized, preferred: true, implicit: true, explicit: true, ports: [1]),
        ALUAGroup(id: 2, state: .standby, implicit: true, explicit: true, ports: [2]),
    ])

    let read10: [UInt8] = [SCSIOpcode.read10, 0, 0, 0, 0, 0, 0, 0, 1, 0]
    let tur: [UInt8] = [SCSIOpcode.testUnitReady]

    func harness(_ configuration: ALUAConfiguration = twoGroups) throws -> Harness {
        let harness = try Harness()
        XCTAssertTrue(harness.device.setALUA(lun: 1, configuration))
        for nexus in [Self.a1, Self.a2, Self.b2] { harness.ready(nexus: nexus) }
        return harness
    }

    func rtpg(_ harness: Harness, extended: Bool = false, length: UInt32 = 1024, nexus: SCSINexus = a1) -> SCSICommandResult {
        harness.run([SCSIOpcode.maintenanceIn, (extended ? 0x20 : 0) | 0x0A, 0, 0, 0, 0] + be(UInt64(length), 4) + [0, 0], nexus: nexus)
    }

    /// SET TARGET PORT GROUPS with one descriptor per (state, group).
    func stpg(_ harness: Harness, _ descriptors: [(UInt8, UInt16)], nexus: SCSINexus = a1, listLength: Int? = nil) -> SCSICommandResult {
        let list: [UInt8] = [0, 0, 0, 0] + descriptors.flatMap { state, group -> [UInt8] in [state, 0] + be(UInt64(group), 2) }
        let length = listLength ?? list.count
        return harness.run(
            [SCSIOpcode.maintenanceOut, 0x0A, 0, 0, 0, 0] + be(UInt64(length), 4) + [0, 0], dataOut: list, nexus: nexus)
    }

    // MARK: Without ALUA

    func testWithoutGroupsTheUnitAnswersAsTgt() throws {
        let harness = try Harness()
        harness.ready(nexus: Self.a2)
        XCTAssertEqual(assertGood(harness.run([SCSIOpcode.inquiry, 0, 0, 0, 96, 0], nexus: Self.a2))[5], 0, "TPGS 0")
        XCTAssertEqual(
            assertGood(harness.run([SCSIOpcode.inquiry, 1, 0x83, 1, 0, 0], nexus: Self.a2)), InquiryTests.tgtdDeviceID1)
        assertCheck(rtpg(harness, nexus: Self.a2), .illegalRequest, .invalidFieldInCDB)
        assertCheck(stpg(harness, [(0, 1)], nexus: Self.a2), .illegalRequest, .invalidCommandOperationCode)
        assertGood(harness.run(read10, nexus: Self.a2))
    }

    // MARK: INQUIRY

    func testTPGSIsTheUnionOfTheGroupsAccessTypes() throws {
        func tpgs(_ groups: [ALUAGroup]) throws -> UInt8 {
            let harness = try Harness()
            harness.device.setALUA(lun: 1, ALUAConfiguration(groups: groups))
            return assertGood(harness.run([SCSIOpcode.inquiry, 0, 0, 0, 96, 0]))[5]
        }
        XCTAssertEqual(try tpgs([ALUAGroup(id: 1)]), 0x10, "implicit")
        XCTAssertEqual(try tpgs([ALUAGroup(id: 1, implicit: false, explicit: true)]), 0x20, "explicit")
        XCTAssertEqual(try tpgs([ALUAGroup(id: 1), ALUAGroup(id: 2, implicit: false, explicit: true)]), 0x30)
    }

    func testDeviceIdentificationNamesThePortAndItsGroup() throws {
        let harness = try harness()
        let unit = Array(InquiryTests.tgtdDeviceID1[4...])
        func port(_ id: UInt8, group: UInt8, name: String) -> [UInt8] {
            var padded = Array(name.utf8) + [0]
            while padded.count % 4 != 0 { padded.append(0) }
            return [0x51, 0x94, 0, 4, 0, 0, 0, id] + [0x51, 0x95, 0, 4, 0, 0, 0, group]
                + [0x53, 0x98, 0, UInt8(padded.count)] + padded
        }
        let through1 = port(1, group: 1, name: Self.port1.name)
        XCTAssertEqual(
            assertGood(harness.run([SCSIOpcode.inquiry, 1, 0x83, 1, 0, 0], nexus: Self.a1)),
            [0, 0x83, 0, UInt8(unit.count + through1.count)] + unit + through1)
        let page2 = assertGood(harness.run([SCSIOpcode.inquiry, 1, 0x83, 1, 0, 0], nexus: Self.b2))
        XCTAssertEqual(Array(page2[(4 + unit.count)...]), port(2, group: 2, name: Self.port2.name))
        // A port in no group is the first group's; a port without a name has no name designator.
        let stranger = SCSINexus(id: 20, initiatorPortName: "iqn.x,i,0x1", targetPort: TargetPort(relativeID: 9))
        let page9 = assertGood(harness.run([SCSIOpcode.inquiry, 1, 0x83, 1, 0, 0], nexus: stranger))
        XCTAssertEqual(Array(page9[(4 + unit.count)...]), [0x51, 0x94, 0, 4, 0, 0, 0, 9, 0x51, 0x95, 0, 4, 0, 0, 0, 1])
    }

    // MARK: REPORT TARGET PORT GROUPS

    static let reportBody = hex("80cf000100000001" + "00000001" + "02cf000200000001" + "00000002")

    func testReportTargetPortGroups() throws {
        let harness = try harness()
        XCTAssertEqual(assertGood(rtpg(harness)), hex("00000018") + Self.reportBody)
        XCTAssertEqual(assertGood(rtpg(harness, extended: true)), hex("0000001c10000000") + Self.reportBody)
        XCTAssertEqual(assertGood(rtpg(harness, length: 10)), Array((hex("00000018") + Self.reportBody).prefix(10)))
        XCTAssertEqual(assertGood(rtpg(harness, length: 0)), [])
        assertCheck(
            harness.run([SCSIOpcode.maintenanceIn, 0x4A, 0, 0, 0, 0, 0, 0, 4, 0, 0, 0], nexus: Self.a1), .illegalRequest,
            .invalidFieldInCDB)
        // Allowed through a standby port.
        XCTAssertEqual(assertGood(rtpg(harness, nexus: Self.b2)), hex("00000018") + Self.reportBody)
    }

    func testUnlistedPortsSeenAreReportedInTheFirstGroup() throws {
        let harness = try Harness()
        harness.device.setALUA(lun: 1, ALUAConfiguration(groups: [ALUAGroup(id: 5, ports: [3, 3]), ALUAGroup(id: 6, ports: [3, 4])]))
        harness.ready(nexus: Self.b2)
        harness.ready(nexus: Self.a1)
        let data = assertGood(rtpg(harness, nexus: Self.a1))
        XCTAssertEqual(data, hex("00000020" + "00cf000500000003" + "0000000300000001" + "00000002" + "00cf000600000001" + "00000004"))
    }

    // MARK: Command rules per state

    func testStandbyRefusesMediaAccessAndAnswersReports() throws {
        let harness = try harness()
        assertGood(harness.run(read10, nexus: Self.a1))
        for cdb in [read10, tur, [SCSIOpcode.write10, 0, 0, 0, 0, 0, 0, 0, 0, 0], [SCSIOpcode.synchronizeCache10] + [UInt8](repeating: 0, count: 9)] {
            assertCheck(harness.run(cdb, nexus: Self.b2), .notReady, .targetPortInStandbyState)
        }
        let allowed: [[UInt8]] = [
            [SCSIOpcode.inquiry, 0, 0, 0, 96, 0], [SCSIOpcode.reportLUNs, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0],
            [SCSIOpcode.requestSense, 0, 0, 0, 18, 0], [SCSIOpcode.readCapacity10] + [UInt8](repeating: 0, count: 9),
            [SCSIOpcode.serviceActionIn16, 0x10] + [UInt8](repeating: 0, count: 8) + [0, 0, 0, 32, 0, 0],
            [SCSIOpcode.modeSense6, 0, 0x3F, 0, 255, 0], [SCSIOpcode.persistentReserveIn, 0, 0, 0, 0, 0, 0, 0, 255, 0],
            [SCSIOpcode.maintenanceIn, 0x0C, 0, 0, 0, 0, 0, 0, 16, 0, 0, 0],
        ]
        for cdb in allowed { assertGood(harness.run(cdb, nexus: Self.b2), "opcode \(cdb[0])") }
    }

    func testUnavailableTransitioningAndOfflineAllowLess() throws {
        let capacity: [UInt8] = [SCSIOpcode.readCapacity10] + [UInt8](repeating: 0, count: 9)
        let inquiry: [UInt8] = [SCSIOpcode.inquiry, 0, 0, 0, 96, 0]
        let cases: [(ALUAState, AdditionalSenseCode)] = [
            (.unavailable, .targetPortInUnavailableState), (.transitioning, .asymmetricAccessStateTransition),
            (.offline, .targetPortOffline),
        ]
        for (state, code) in cases {
            var configuration = Self.twoGroups
            configuration.groups[1].state = state
            let harness = try harness(configuration)
            assertCheck(harness.run(capacity, nexus: Self.b2), .notReady, code)
            assertCheck(harness.run(read10, nexus: Self.b2), .notReady, code)
            if state == .offline {
                assertCheck(harness.run(inquiry, nexus: Self.b2), .notReady, code)
                assertCheck(rtpg(harness, nexus: Self.b2), .notReady, code)
            } else {
                assertGood(harness.run(inquiry, nexus: Self.b2))
                assertGood(rtpg(harness, nexus: Self.b2))
            }
            assertGood(harness.run(read10, nexus: Self.a1), "the other group is untouched")
            let set = stpg(harness, [(0, 2)], nexus: Self.b2)
            if state == .unavailable { assertGood(set) } else { assertCheck(set, .notReady, code) }
        }
    }

    func testActiveNonOptimizedAllowsEverything() throws {
        var configuration = Self.twoGroups
        configuration.groups[1].state = .activeNonOptimized
        let harness = try harness(configuration)
        assertGood(harness.run(read10, nexus: Self.b2))
        assertGood(harness.run(tur, nexus: Self.b2))
    }

    // MARK: SET TARGET PORT GROUPS

    func testSetTargetPortGroupsSwitchesAndTellsTheOthers() throws {
        let harness = try harness()
        let changes = CallbackLog<[String]>([])
        harness.device.onALUAChange = { lun, group, state in changes.mutate { $0.append("\(lun)/\(group)/\(state)") } }
        assertGood(stpg(harness, [(1, 1), (0, 2)]))
        XCTAssertEqual(changes.value, ["1/1/active/non-optimized", "1/2/active/optimized"])
        // The requester's own nexus has no attention; the others have one, once.
        assertGood(harness.run(read10, nexus: Self.a1))
        for nexus in [Self.a2, Self.b2] {
            assertCheck(harness.run(read10, nexus: nexus), .unitAttention, .asymmetricAccessStateChanged)
            assertGood(harness.run(read10, nexus: nexus), "port 2 is active now")
        }
        // STATUS CODE 1: changed by SET TARGET PORT GROUPS.
        XCTAssertEqual(
            assertGood(rtpg(harness)),
            hex("00000018" + "81cf000100010001" + "00000001" + "00cf000200010001" + "00000002"))
        XCTAssertEqual(harness.device.aluaConfiguration(lun: 1)?.groups.map(\.state), [.activeNonOptimized, .activeOptimized])
        // Asking for the state a group has changes nothing and calls nobody.
        assertGood(stpg(harness, [(0, 2)]))
        XCTAssertEqual(changes.value.count, 2)
        assertGood(harness.run(read10, nexus: Self.b2))
    }

    func testSetTargetPortGroupsRefusals() throws {
        let harness = try harness()
        func invalidParameter(_ result: SCSICommandResult, byte: UInt16, line: UInt = #line) {
            let sense = assertCheck(result, .illegalRequest, .invalidFieldInParameterList, line: line)
            XCTAssertEqual(sense?.fieldPointer, .init(inCDB: false, byte: byte), line: line)
        }
        invalidParameter(stpg(harness, [(0, 7)]), byte: 6)
        invalidParameter(stpg(harness, [(0, 2), (0x0E, 2)]), byte: 8)
        invalidParameter(stpg(harness, [(0x0F, 2)]), byte: 4)
        invalidParameter(stpg(harness, [(0x04, 2)]), byte: 4)
        XCTAssertEqual(harness.device.aluaConfiguration(lun: 1), Self.twoGroups, "nothing applied from a refused list")
        assertCheck(stpg(harness, [(0, 2)], listLength: 6), .illegalRequest, .parameterListLengthError)
        assertCheck(stpg(harness, [(0, 2)], listLength: 12), .illegalRequest, .parameterListLengthError)
        assertCheck(stpg(harness, [(0, 2)], listLength: 2), .illegalRequest, .parameterListLengthError)
        assertGood(stpg(harness, [], listLength: 0))
        XCTAssertEqual(harness.device.aluaConfiguration(lun: 1), Self.twoGroups)

        var configuration = Self.twoGroups
        configuration.groups[1].explicit = false
        let implicitOnly = try self.harness(configuration)
        invalidParameter(stpg(implicitOnly, [(0, 2)]), byte: 6)
        assertCheck(stpg(implicitOnly, [(0, 1)], nexus: Self.b2), .illegalRequest, .invalidCommandOperationCode)
    }

    func testDataOutDemandKnowsTheParameterList() throws {
        let harness = try harness()
        let cdb = ByteBuffer(bytes: [SCSIOpcode.maintenanceOut, 0x0A, 0, 0, 0, 0, 0, 0, 0, 12, 0, 0])
        XCTAssertEqual(harness.device.dataOutDemand(cdb: cdb, lun: 1, expectedDataTransferLength: 12), DataOutDemand(length: 12, gather: 12))
        XCTAssertEqual(harness.device.dataOutDemand(cdb: cdb, lun: 1, expectedDataTransferLength: 8), DataOutDemand(length: 12, gather: 8))
        let huge = ByteBuffer(bytes: [SCSIOpcode.maintenanceOut, 0x0A, 0, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF, 0, 0])
        XCTAssertEqual(harness.device.dataOutDemand(cdb: huge, lun: 1, expectedDataTransferLength: 1 << 20).gather, 0)
        assertCheck(harness.run(Array(huge.readableBytesView), nexus: Self.a1), .illegalRequest, .invalidFieldInCDB)
    }

    // MARK: Administrator changes

    func testSetALUAIsAnImplicitChangeForEveryNexus() throws {
        let harness = try harness()
        var configuration = Self.twoGroups
        configuration.groups[0].state = .standby
        configuration.groups[1].state = .activeOptimized
        XCTAssertTrue(harness.device.setALUA(lun: 1, configuration))
        for nexus in [Self.a1, Self.a2, Self.b2] {
            assertCheck(harness.run(tur, nexus: nexus), .unitAttention, .asymmetricAccessStateChanged)
        }
        assertCheck(harness.run(tur, nexus: Self.a1), .notReady, .targetPortInStandbyState)
        assertGood(harness.run(tur, nexus: Self.b2))
        XCTAssertEqual(assertGood(rtpg(harness, nexus: Self.b2))[9], 2, "STATUS CODE 2: implicit")
        XCTAssertFalse(harness.device.setALUA(lun: 9, configuration))

        // Dropping ALUA changes INQUIRY data and takes the commands away again.
        harness.device.setALUA(lun: 1, ALUAConfiguration())
        assertCheck(harness.run(tur, nexus: Self.a1), .unitAttention, .inquiryDataHasChanged)
        assertCheck(rtpg(harness), .illegalRequest, .invalidFieldInCDB)
        assertGood(harness.run(tur, nexus: Self.a1))
    }

    func testInconsistencies() {
        XCTAssertNil(Self.twoGroups.inconsistency)
        XCTAssertNotNil(ALUAConfiguration(groups: [ALUAGroup(id: 1), ALUAGroup(id: 1)]).inconsistency)
        XCTAssertNotNil(ALUAConfiguration(groups: [ALUAGroup(id: 1, ports: [1]), ALUAGroup(id: 2, ports: [1])]).inconsistency)
        XCTAssertNil(ALUAConfiguration(groups: [ALUAGroup(id: 1, ports: [1, 1])]).inconsistency)
    }
}

/// A value shared with a @Sendable callback.
final class CallbackLog<Value>: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: Value
    init(_ value: Value) { stored = value }
    var value: Value { lock.withLock { stored } }
    func mutate(_ body: (inout Value) -> Void) { lock.withLock { body(&stored) } }
}
