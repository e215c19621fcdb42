import SCSIProtocol
import XCTest

@testable import SCSITarget

/// One initiator through two target ports is two I_T nexuses (SPC-4 5.13): registrations,
/// persistent and SPC-2 reservations and their unit attentions tell them apart, and
/// ALL_TG_PT joins them.
extension PersistentReservationTests {
    static let a1 = ALUATests.a1
    static let a2 = ALUATests.a2
    static let b1 = SCSINexus(id: 14, initiatorPortName: Harness.nexusB.initiatorPortName, targetPort: ALUATests.port1)

    func readyAll(_ harness: Harness) {
        for nexus in [Self.a1, Self.a2, Self.b1] { harness.ready(nexus: nexus) }
    }

    /// (key, ALL_TG_PT and R_HOLDER flags, relative target port) of each READ FULL STATUS descriptor.
    func fullStatus(_ harness: Harness, nexus: SCSINexus) -> [(UInt64, UInt8, UInt16)] {
        let data = assertGood(prin(harness, 3, nexus: nexus))
        var result: [(UInt64, UInt8, UInt16)] = []
        var offset = 8
        while offset + 24 <= data.count {
            result.append((be64(data, offset, 8), data[offset + 12], UInt16(be64(data, offset + 18, 2))))
            offset += 24 + Int(be64(data, offset + 20, 4))
        }
        return result
    }

    func testARegistrationIsForItsTargetPortOnly() throws {
        let harness = try Harness()
        readyAll(harness)
        register(harness, 0xA, nexus: Self.a1)
        assertGood(prout(harness, 1, key: 0xA, type: .ea, nexus: Self.a1))
        assertGood(harness.run(read10, nexus: Self.a1))
        XCTAssertEqual(harness.run(read10, nexus: Self.a2).status, .reservationConflict, "same initiator, other port")
        XCTAssertEqual(prout(harness, 1, key: 0xA, type: .ea, nexus: Self.a2).status, .reservationConflict, "not registered")
        register(harness, 0xAA, nexus: Self.a2)
        XCTAssertEqual(keys(harness, nexus: Self.a2).keys, [0xA, 0xAA])
        XCTAssertEqual(harness.run(read10, nexus: Self.a2).status, .reservationConflict, "a registrant, not the holder")
        let status = fullStatus(harness, nexus: Self.a2)
        XCTAssertEqual(status.map(\.0), [0xA, 0xAA])
        XCTAssertEqual(status.map(\.1), [0x01, 0x00], "R_HOLDER on port 1's registration only")
        XCTAssertEqual(status.map(\.2), [1, 2])
    }

    func testAllTargetPortsRegistersThroughEveryPort() throws {
        let harness = try Harness()
        readyAll(harness)
        assertGood(prout(harness, 0, serviceKey: 0xA, flags: 0x04, nexus: Self.a1))
        // Reserved through port 2 with the registration made through port 1.
        assertGood(prout(harness, 1, key: 0xA, type: .ea, nexus: Self.a2))
        assertGood(harness.run(read10, nexus: Self.a1))
        assertGood(harness.run(read10, nexus: Self.a2))
        XCTAssertEqual(harness.run(read10, nexus: Self.b1).status, .reservationConflict)
        let status = fullStatus(harness, nexus: Self.b1)
        XCTAssertEqual(status.count, 1)
        XCTAssertEqual(status.first?.1, 0x03, "ALL_TG_PT, R_HOLDER")
        XCTAssertEqual(status.first?.2, 0, "no single target port")
        // Unregistering through either port removes it for both, with the reservation.
        assertGood(prout(harness, 0, key: 0xA, serviceKey: 0, nexus: Self.a2))
        XCTAssertEqual(keys(harness, nexus: Self.a1).keys, [])
        assertGood(harness.run(read10, nexus: Self.b1))
    }

    func testAllTargetPortsOverAnotherPortsRegistrationConflicts() throws {
        let harness = try Harness()
        readyAll(harness)
        register(harness, 0xA, nexus: Self.a1)
        XCTAssertEqual(prout(harness, 0, serviceKey: 0xAA, flags: 0x04, nexus: Self.a2).status, .reservationConflict)
        XCTAssertEqual(keys(harness, nexus: Self.a1).keys, [0xA])
    }

    func testPreemptionReachesOnlyThePreemptedNexus() throws {
        let harness = try Harness()
        readyAll(harness)
        register(harness, 0xA, nexus: Self.a1)
        register(harness, 0xAA, nexus: Self.a2)
        register(harness, 0xB, nexus: Self.b1)
        assertGood(prout(harness, 4, key: 0xB, serviceKey: 0xA, nexus: Self.b1))
        XCTAssertEqual(keys(harness, nexus: Self.b1).keys, [0xAA, 0xB])
        assertCheck(harness.run(read10, nexus: Self.a1), .unitAttention, .registrationsPreempted)
        assertGood(harness.run(read10, nexus: Self.a2), "port 2's registration was not preempted")
    }

    func testReserve6IsHeldByOneNexusNotByTheInitiator() throws {
        let harness = try Harness()
        readyAll(harness)
        let reserve6: [UInt8] = [SCSIOpcode.reserve6, 0, 0, 0, 0, 0]
        assertGood(harness.run(reserve6, nexus: Self.a1))
        assertGood(harness.run(read10, nexus: Self.a1))
        XCTAssertEqual(harness.run(read10, nexus: Self.a2).status, .reservationConflict)
        XCTAssertEqual(harness.run(reserve6, nexus: Self.a2).status, .reservationConflict)
        harness.device.nexusLost(Self.a1)
        assertGood(harness.run(reserve6, nexus: Self.a2))
    }

    func testRegisterAndMoveToAnotherTargetPort() throws {
        let harness = try Harness()
        readyAll(harness)
        register(harness, 0xA, nexus: Self.a1)
        assertGood(prout(harness, 1, key: 0xA, type: .ea, nexus: Self.a1))
        // To the same initiator through port 2: RELATIVE TARGET PORT IDENTIFIER 2.
        let destination = PersistentReserveCommands.iSCSITransportID(Harness.nexusA.initiatorPortName)
        let list = be(0xA, 8) + be(0xAA, 8) + [0, 0] + be(2, 2) + be(UInt64(destination.count), 4) + destination
        let cdb = [SCSIOpcode.persistentReserveOut, 7, PRType.ea.rawValue, 0, 0] + be(UInt64(list.count), 4) + [0]
        assertGood(harness.run(cdb, dataOut: list, nexus: Self.a1))
        assertGood(harness.run(read10, nexus: Self.a2))
        XCTAssertEqual(harness.run(read10, nexus: Self.a1).status, .reservationConflict, "a registrant, no longer the holder")
        // Moving to the nexus one already is refuses.
        let same = be(0xAA, 8) + be(0xAB, 8) + [0, 0] + be(2, 2) + be(UInt64(destination.count), 4) + destination
        assertCheck(harness.run(cdb, dataOut: same, nexus: Self.a2), .illegalRequest, .invalidFieldInParameterList)
    }
}
