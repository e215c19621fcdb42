import NIOCore
import SCSIProtocol
import XCTest

@testable import SCSITarget

/// PERSISTENT RESERVE IN/OUT as libiscsi's Prin*/Prout* cases and SPC-4 5.13 describe them.
final class PersistentReservationTests: XCTestCase {
    /// A second session of nexus A's initiator port (same ISID, new session).
    static let nexusA2 = SCSINexus(id: 3, initiatorPortName: Harness.nexusA.initiatorPortName)

    enum PRType: UInt8 {
        case we = 1, ea = 3, wero = 5, earo = 6, wear = 7, eaar = 8
    }

    // MARK: Helpers

    func prin(_ harness: Harness, _ action: UInt8, allocation: UInt16 = 8192, nexus: SCSINexus = Harness.nexusA)
        -> SCSICommandResult
    {
        harness.run([SCSIOpcode.persistentReserveIn, action, 0, 0, 0, 0, 0] + be(UInt64(allocation), 2) + [0], nexus: nexus)
    }

    /// PERSISTENT RESERVE OUT with the basic 24-byte parameter list.
    func prout(
        _ harness: Harness, _ action: UInt8, key: UInt64 = 0, serviceKey: UInt64 = 0, type: PRType? = nil, flags: UInt8 = 0,
        listLength: Int = 24, nexus: SCSINexus = Harness.nexusA
    ) -> SCSICommandResult {
        let list = be(key, 8) + be(serviceKey, 8) + [0, 0, 0, 0, flags, 0, 0, 0]
        let cdb = [SCSIOpcode.persistentReserveOut, action, type?.rawValue ?? 0, 0, 0] + be(UInt64(listLength), 4) + [0]
        return harness.run(cdb, dataOut: Array(list.prefix(listLength)), nexus: nexus)
    }

    func register(_ harness: Harness, _ key: UInt64, nexus: SCSINexus = Harness.nexusA) {
        assertGood(prout(harness, 6, serviceKey: key, nexus: nexus))
    }

    func keys(_ harness: Harness, nexus: SCSINexus = Harness.nexusA) -> (generation: UInt32, keys: [UInt64]) {
        let data = assertGood(prin(harness, 0, nexus: nexus))
        let length = Int(be64(data, 4, 4))
        XCTAssertEqual(data.count, 8 + length)
        let keys = stride(from: 8, to: data.count, by: 8).map { be64(data, $0, 8) }
        return (UInt32(be64(data, 0, 4)), keys)
    }

    /// (key, type) of the reservation, nil when there is none.
    func reservation(_ harness: Harness, nexus: SCSINexus = Harness.nexusA) -> (key: UInt64, type: UInt8)? {
        let data = assertGood(prin(harness, 1, nexus: nexus))
        guard be64(data, 4, 4) == 16 else {
            XCTAssertEqual(data.count, 8)
            return nil
        }
        XCTAssertEqual(data.count, 24)
        return (be64(data, 8, 8), data[21])
    }

    func be64(_ data: [UInt8], _ offset: Int, _ count: Int) -> UInt64 {
        data[offset..<offset + count].reduce(0) { $0 << 8 | UInt64($1) }
    }

    let read10: [UInt8] = [SCSIOpcode.read10, 0, 0, 0, 0, 1, 0, 0, 1, 0]
    let write10: [UInt8] = [SCSIOpcode.write10, 0, 0, 0, 0, 1, 0, 0, 1, 0]
    let block = [UInt8](repeating: 0x5A, count: 512)

    func ready(_ harness: Harness) {
        harness.ready()
        harness.ready(nexus: Harness.nexusB)
    }

    // MARK: Registration

    func testNoKeysAndNoReservationAtFirst() throws {
        let harness = try Harness()
        harness.ready()
        XCTAssertEqual(assertGood(prin(harness, 0)), [0, 0, 0, 0, 0, 0, 0, 0])
        XCTAssertEqual(assertGood(prin(harness, 1)), [0, 0, 0, 0, 0, 0, 0, 0])
    }

    func testRegisterChangeAndUnregister() throws {
        let harness = try Harness()
        ready(harness)
        assertGood(prout(harness, 0, key: 0, serviceKey: 0x1111))
        XCTAssertEqual(keys(harness).keys, [0x1111])
        XCTAssertEqual(keys(harness).generation, 1)
        // libiscsi's prout_reregister_key_fails: REGISTER with a wrong RESERVATION KEY.
        XCTAssertEqual(prout(harness, 0, key: 0, serviceKey: 0x2222).status, .reservationConflict)
        XCTAssertEqual(prout(harness, 0, key: 0x9999, serviceKey: 0x2222).status, .reservationConflict)
        assertGood(prout(harness, 0, key: 0x1111, serviceKey: 0x2222))
        register(harness, 0x3333, nexus: Harness.nexusB)
        XCTAssertEqual(keys(harness, nexus: Harness.nexusB).keys, [0x2222, 0x3333])
        assertGood(prout(harness, 0, key: 0x2222, serviceKey: 0))
        XCTAssertEqual(keys(harness).keys, [0x3333])
        XCTAssertEqual(keys(harness).generation, 4)
        // Unregistering when not registered changes nothing.
        assertGood(prout(harness, 0, key: 0, serviceKey: 0))
        XCTAssertEqual(keys(harness).generation, 4)
    }

    func testReadKeysTruncatedKeepsAdditionalLength() throws {
        let harness = try Harness()
        harness.ready()
        register(harness, 0xABCD)
        XCTAssertEqual(assertGood(prin(harness, 0, allocation: 8)), [0, 0, 0, 1, 0, 0, 0, 8])
    }

    func testServiceActionRange() throws {
        let harness = try Harness()
        harness.ready()
        for action: UInt8 in 0...3 { assertGood(prin(harness, action)) }
        for action: UInt8 in 4..<0x20 { assertCheck(prin(harness, action), .illegalRequest, .invalidFieldInCDB) }
    }

    func testParameterListChecks() throws {
        let harness = try Harness()
        harness.ready()
        assertCheck(prout(harness, 6, serviceKey: 1, listLength: 16), .illegalRequest, .parameterListLengthError)
        assertCheck(prout(harness, 6, serviceKey: 1, flags: 0x08), .illegalRequest, .invalidFieldInParameterList)
        assertCheck(prout(harness, 6, serviceKey: 1, flags: 0x01), .illegalRequest, .invalidFieldInParameterList)
        XCTAssertEqual(keys(harness).keys, [])
        assertGood(prout(harness, 6, serviceKey: 1, flags: 0x04))  // ALL_TG_PT: one target port
        XCTAssertEqual(keys(harness).keys, [1])
    }

    func testReportCapabilities() throws {
        let harness = try Harness()
        harness.ready()
        XCTAssertEqual(assertGood(prin(harness, 2)), [0, 8, 0x14, 0xB0, 0xEA, 0x01, 0, 0])
    }

    func testReadFullStatusNamesTheInitiatorPorts() throws {
        let harness = try Harness()
        ready(harness)
        register(harness, 0x10)
        register(harness, 0x20, nexus: Harness.nexusB)
        assertGood(prout(harness, 1, key: 0x10, type: .ea))
        let data = assertGood(prin(harness, 3))
        XCTAssertEqual(be64(data, 0, 4), 2)
        XCTAssertEqual(Int(be64(data, 4, 4)), data.count - 8)
        var offset = 8
        var seen: [(UInt64, Bool, UInt8, String)] = []
        while offset < data.count {
            let idLength = Int(be64(data, offset + 20, 4))
            let id = Array(data[offset + 24..<offset + 24 + idLength])
            XCTAssertEqual(id[0], 0x45, "iSCSI TransportID with ISID")
            XCTAssertEqual(Int(be64(id, 2, 2)), idLength - 4)
            XCTAssertEqual(idLength % 4, 0)
            let name = String(decoding: id[4...].prefix { $0 != 0 }, as: UTF8.self)
            seen.append((be64(data, offset, 8), data[offset + 12] & 0x01 != 0, data[offset + 13], name))
            offset += 24 + idLength
        }
        XCTAssertEqual(seen.map(\.0), [0x10, 0x20])
        XCTAssertEqual(seen.map(\.1), [true, false])
        XCTAssertEqual(seen.map(\.2), [3, 0])
        XCTAssertEqual(seen.map(\.3), [Harness.nexusA.initiatorPortName, Harness.nexusB.initiatorPortName])
    }

    // MARK: Reservations

    func testReserveNeedsARegistrationAndTheRightKey() throws {
        let harness = try Harness()
        harness.ready()
        XCTAssertEqual(prout(harness, 1, key: 0x10, type: .we).status, .reservationConflict)
        register(harness, 0x10)
        XCTAssertEqual(prout(harness, 1, key: 0x11, type: .we).status, .reservationConflict)
        assertCheck(prout(harness, 1, key: 0x10, type: nil), .illegalRequest, .invalidFieldInCDB)
        let generation = keys(harness).generation
        assertGood(prout(harness, 1, key: 0x10, type: .we))
        assertGood(prout(harness, 1, key: 0x10, type: .we), "the holder may reserve again")
        XCTAssertEqual(prout(harness, 1, key: 0x10, type: .ea).status, .reservationConflict)
        XCTAssertEqual(reservation(harness)?.key, 0x10)
        XCTAssertEqual(reservation(harness)?.type, PRType.we.rawValue)
        XCTAssertEqual(keys(harness).generation, generation, "RESERVE leaves PRGENERATION")
    }

    func testEveryTypeReportsItsHolderKey() throws {
        let harness = try Harness()
        harness.ready()
        register(harness, 0x77)
        for type in [PRType.we, .ea, .wero, .earo, .wear, .eaar] {
            assertGood(prout(harness, 1, key: 0x77, type: type))
            let current = reservation(harness)
            XCTAssertEqual(current?.type, type.rawValue)
            XCTAssertEqual(current?.key, type == .wear || type == .eaar ? 0 : 0x77)
            assertGood(prout(harness, 2, key: 0x77, type: type))
            XCTAssertNil(reservation(harness))
        }
    }

    /// libiscsi's ProutReserve.Access*: what a registered and an unregistered second initiator
    /// may do under each type.
    func testAccessUnderEveryType() throws {
        let cases: [(PRType, regRead: Bool, regWrite: Bool, unregRead: Bool, unregWrite: Bool)] = [
            (.ea, false, false, false, false), (.we, true, false, true, false),
            (.earo, true, true, false, false), (.wero, true, true, true, false),
            (.eaar, true, true, false, false), (.wear, true, true, true, false),
        ]
        for (type, regRead, regWrite, unregRead, unregWrite) in cases {
            let harness = try Harness()
            ready(harness)
            register(harness, 0xA)
            register(harness, 0xB, nexus: Harness.nexusB)
            assertGood(prout(harness, 1, key: 0xA, type: type))
            assertGood(harness.run(read10))
            assertGood(harness.run(write10, dataOut: block))
            func allowed(_ result: SCSICommandResult) -> Bool {
                if result.status != .good { XCTAssertEqual(result.status, .reservationConflict, "\(type)") }
                return result.status == .good
            }
            XCTAssertEqual(allowed(harness.run(read10, nexus: Harness.nexusB)), regRead, "\(type) registered read")
            XCTAssertEqual(
                allowed(harness.run(write10, dataOut: block, nexus: Harness.nexusB)), regWrite, "\(type) registered write")
            assertGood(prout(harness, 0, key: 0xB, serviceKey: 0, nexus: Harness.nexusB))
            XCTAssertEqual(allowed(harness.run(read10, nexus: Harness.nexusB)), unregRead, "\(type) unregistered read")
            XCTAssertEqual(
                allowed(harness.run(write10, dataOut: block, nexus: Harness.nexusB)), unregWrite,
                "\(type) unregistered write")
            // Always allowed: INQUIRY, TEST UNIT READY, READ CAPACITY, PERSISTENT RESERVE IN.
            assertGood(harness.run([SCSIOpcode.inquiry, 0, 0, 0, 36, 0], nexus: Harness.nexusB))
            assertGood(harness.run([SCSIOpcode.testUnitReady], nexus: Harness.nexusB))
            assertGood(harness.run([SCSIOpcode.readCapacity10, 0, 0, 0, 0, 0, 0, 0, 0, 0], nexus: Harness.nexusB))
            assertGood(prin(harness, 1, nexus: Harness.nexusB))
            // MODE SENSE only under write exclusive types for the unregistered.
            let modeSense = harness.run([SCSIOpcode.modeSense6, 0, 0x3F, 0, 255, 0], nexus: Harness.nexusB)
            XCTAssertEqual(allowed(modeSense), unregRead, "\(type) MODE SENSE")
            assertGood(prout(harness, 2, key: 0xA, type: type))
            assertGood(harness.run(write10, dataOut: block, nexus: Harness.nexusB), "released")
        }
    }

    func testReleaseChecksTypeAndIsQuietForNonHolders() throws {
        let harness = try Harness()
        ready(harness)
        register(harness, 0xA)
        register(harness, 0xB, nexus: Harness.nexusB)
        assertGood(prout(harness, 1, key: 0xA, type: .ea))
        assertCheck(prout(harness, 2, key: 0xA, type: .we), .illegalRequest, .invalidReleaseOfPersistentReservation)
        XCTAssertEqual(prout(harness, 2, key: 0xC, type: .ea).status, .reservationConflict)
        assertGood(prout(harness, 2, key: 0xB, type: .ea, nexus: Harness.nexusB), "not the holder: nothing happens")
        XCTAssertEqual(reservation(harness)?.key, 0xA)
        assertGood(prout(harness, 2, key: 0xA, type: .ea))
        XCTAssertNil(reservation(harness))
        assertGood(harness.run([SCSIOpcode.testUnitReady], nexus: Harness.nexusB), "no attention for EA")
    }

    func testReleasingARegistrantsOnlyReservationTellsTheOthers() throws {
        let harness = try Harness()
        ready(harness)
        register(harness, 0xA)
        register(harness, 0xB, nexus: Harness.nexusB)
        assertGood(prout(harness, 1, key: 0xA, type: .wero))
        assertGood(prout(harness, 2, key: 0xA, type: .wero))
        assertCheck(harness.run([SCSIOpcode.testUnitReady], nexus: Harness.nexusB), .unitAttention, .reservationsReleased)
        assertGood(harness.run([SCSIOpcode.testUnitReady]), "not the releasing nexus")
    }

    /// libiscsi's ProutReserve.Ownership*: when the holder unregisters, a single holder
    /// reservation goes (registrants only ones with an attention for the others); an all
    /// registrants one stays with the remaining registrants.
    func testHolderUnregistering() throws {
        for type in [PRType.ea, .we, .earo, .wero, .eaar, .wear] {
            let harness = try Harness()
            ready(harness)
            register(harness, 0xA)
            register(harness, 0xB, nexus: Harness.nexusB)
            assertGood(prout(harness, 1, key: 0xA, type: type))
            assertGood(prout(harness, 0, key: 0xA, serviceKey: 0))
            if type == .eaar || type == .wear {
                XCTAssertEqual(reservation(harness)?.type, type.rawValue, "\(type) stays")
                assertGood(prout(harness, 2, key: 0xB, type: type, nexus: Harness.nexusB))
            } else {
                XCTAssertNil(reservation(harness), "\(type) released")
            }
            assertGood(harness.run([SCSIOpcode.testUnitReady]), "\(type): no attention for the unregistering nexus")
            let other = harness.run([SCSIOpcode.testUnitReady], nexus: Harness.nexusB)
            if type == .earo || type == .wero {
                assertCheck(other, .unitAttention, .reservationsReleased)
            } else {
                assertGood(other, "\(type)")
            }
        }
    }

    func testClearDropsEverythingAndTellsTheOthers() throws {
        let harness = try Harness()
        ready(harness)
        register(harness, 0xA)
        register(harness, 0xB, nexus: Harness.nexusB)
        assertGood(prout(harness, 1, key: 0xA, type: .ea))
        let generation = keys(harness).generation
        XCTAssertEqual(prout(harness, 3, key: 0xC).status, .reservationConflict)
        assertGood(prout(harness, 3, key: 0xA))
        XCTAssertNil(reservation(harness))
        XCTAssertEqual(keys(harness).keys, [])
        XCTAssertEqual(keys(harness).generation, generation + 1)
        assertGood(harness.run([SCSIOpcode.testUnitReady]))
        assertCheck(harness.run([SCSIOpcode.testUnitReady], nexus: Harness.nexusB), .unitAttention, .reservationsPreempted)
    }

    /// libiscsi's ProutPreempt.RemoveRegistration.
    func testPreemptRemovesARegistration() throws {
        let harness = try Harness()
        ready(harness)
        register(harness, 0xA)
        register(harness, 0xB, nexus: Harness.nexusB)
        let generation = keys(harness).generation
        XCTAssertEqual(
            prout(harness, 4, key: 0xB, serviceKey: 0xF, type: .ea, nexus: Harness.nexusB).status, .reservationConflict,
            "no such key")
        assertGood(prout(harness, 4, key: 0xB, serviceKey: 0xA, type: .ea, nexus: Harness.nexusB))
        assertCheck(harness.run([SCSIOpcode.testUnitReady]), .unitAttention, .registrationsPreempted)
        assertGood(harness.run([SCSIOpcode.testUnitReady], nexus: Harness.nexusB))
        XCTAssertEqual(keys(harness).keys, [0xB])
        XCTAssertEqual(keys(harness).generation, generation + 1)
        XCTAssertNil(reservation(harness), "no reservation was created")
    }

    func testPreemptTakesTheReservation() throws {
        let harness = try Harness()
        ready(harness)
        register(harness, 0xA)
        register(harness, 0xB, nexus: Harness.nexusB)
        assertGood(prout(harness, 1, key: 0xA, type: .we))
        assertCheck(
            prout(harness, 5, key: 0xB, serviceKey: 0, type: .ea, nexus: Harness.nexusB), .illegalRequest,
            .invalidFieldInParameterList)
        assertGood(prout(harness, 5, key: 0xB, serviceKey: 0xA, type: .ea, nexus: Harness.nexusB))
        XCTAssertEqual(reservation(harness, nexus: Harness.nexusB)?.key, 0xB)
        XCTAssertEqual(reservation(harness, nexus: Harness.nexusB)?.type, PRType.ea.rawValue)
        assertCheck(harness.run([SCSIOpcode.testUnitReady]), .unitAttention, .registrationsPreempted)
        XCTAssertEqual(harness.run(read10).status, .reservationConflict)
    }

    func testPreemptingAnAllRegistrantsReservation() throws {
        let harness = try Harness()
        ready(harness)
        register(harness, 0xA)
        register(harness, 0xB, nexus: Harness.nexusB)
        assertGood(prout(harness, 1, key: 0xA, type: .eaar))
        assertGood(prout(harness, 4, key: 0xB, serviceKey: 0, type: .we, nexus: Harness.nexusB))
        XCTAssertEqual(keys(harness, nexus: Harness.nexusB).keys, [0xB])
        XCTAssertEqual(reservation(harness, nexus: Harness.nexusB)?.key, 0xB)
        XCTAssertEqual(reservation(harness, nexus: Harness.nexusB)?.type, PRType.we.rawValue)
    }

    func testRegisterAndMove() throws {
        let harness = try Harness()
        ready(harness)
        register(harness, 0xA)
        assertGood(prout(harness, 1, key: 0xA, type: .ea))
        let destination = PersistentReserveCommands.iSCSITransportID(Harness.nexusB.initiatorPortName)
        let list = be(0xA, 8) + be(0xB, 8) + [0, 0x02] + be(1, 2) + be(UInt64(destination.count), 4) + destination
        let cdb = [SCSIOpcode.persistentReserveOut, 7, PRType.ea.rawValue, 0, 0] + be(UInt64(list.count), 4) + [0]
        XCTAssertEqual(
            harness.run(cdb, dataOut: list, nexus: Harness.nexusB).status, .reservationConflict, "not the holder")
        assertGood(harness.run(cdb, dataOut: list))
        XCTAssertEqual(keys(harness).keys, [0xB], "UNREG dropped the mover")
        XCTAssertEqual(reservation(harness)?.key, 0xB)
        assertGood(harness.run(read10, nexus: Harness.nexusB))
        XCTAssertEqual(harness.run(read10).status, .reservationConflict)
    }

    func testTransportIDRoundTrip() {
        let port = "iqn.2026-11.test:host,i,0x80123456789a"
        let id = PersistentReserveCommands.iSCSITransportID(port)
        XCTAssertEqual(id.count % 4, 0)
        XCTAssertEqual(PersistentReserveCommands.initiatorPort(fromTransportID: id[...]), port)
        XCTAssertNil(PersistentReserveCommands.initiatorPort(fromTransportID: [0x05, 0, 0, 4, 0x41, 0, 0, 0]))
    }

    // MARK: Lifetime and interplay

    func testRegistrationsAndReservationSurviveTheSession() throws {
        let harness = try Harness()
        ready(harness)
        register(harness, 0xA)
        assertGood(prout(harness, 1, key: 0xA, type: .ea))
        harness.device.nexusLost(Harness.nexusA)
        XCTAssertEqual(harness.run(read10, nexus: Harness.nexusB).status, .reservationConflict)
        // The same initiator port logs in again: still the holder.
        harness.ready(nexus: Self.nexusA2)
        assertGood(harness.run(read10, nexus: Self.nexusA2))
        XCTAssertEqual(keys(harness, nexus: Self.nexusA2).keys, [0xA])
        // Resets keep persistent reservations (only RESERVE(6) is released).
        _ = harness.device.logicalUnitReset(1, by: Self.nexusA2)
        harness.device.targetReset(by: Self.nexusA2)
        assertCheck(harness.run(read10, nexus: Harness.nexusB), .unitAttention, .busDeviceResetFunctionOccurred)
        XCTAssertEqual(harness.run(read10, nexus: Harness.nexusB).status, .reservationConflict)
    }

    func testSPC2AndPersistentReservationsExcludeEachOther() throws {
        let harness = try Harness()
        ready(harness)
        let reserve6: [UInt8] = [SCSIOpcode.reserve6, 0, 0, 0, 0, 0]
        let release6: [UInt8] = [SCSIOpcode.release6, 0, 0, 0, 0, 0]
        // RESERVE(6) held by B: PERSISTENT RESERVE OUT from A conflicts, IN reads (as tgtd).
        assertGood(harness.run(reserve6, nexus: Harness.nexusB))
        XCTAssertEqual(prout(harness, 6, serviceKey: 0xA).status, .reservationConflict)
        assertGood(prin(harness, 0))
        assertGood(harness.run(release6, nexus: Harness.nexusB))
        // A persistent reservation held by A: RESERVE(6) and RELEASE(6) from B conflict, the
        // holder's are accepted and change nothing.
        register(harness, 0xA)
        assertGood(prout(harness, 1, key: 0xA, type: .we))
        XCTAssertEqual(harness.run(reserve6, nexus: Harness.nexusB).status, .reservationConflict)
        XCTAssertEqual(harness.run(release6, nexus: Harness.nexusB).status, .reservationConflict)
        assertGood(harness.run(reserve6))
        assertGood(prout(harness, 2, key: 0xA, type: .we))
        assertGood(harness.run(reserve6, nexus: Harness.nexusB), "no SPC-2 reservation was taken")
    }

    func testReadingKeysLeavesAUnitAttentionPending() throws {
        let harness = try Harness()
        assertGood(prin(harness, 0))
        harness.ready()
    }

    func testStateMachineRejectsAptplAndUnknownActions() {
        var state = PersistentReservationState()
        var request = PersistentReserveOutRequest(action: .register)
        request.serviceActionKey = 5
        request.activatePersistThroughPowerLoss = true
        XCTAssertEqual(state.apply(request, from: ITNexusName(initiatorPort: "p", targetPort: 1)), .invalidFieldInParameterList)
        request.activatePersistThroughPowerLoss = false
        XCTAssertEqual(state.apply(request, from: ITNexusName(initiatorPort: "p", targetPort: 1)), .good)
        XCTAssertEqual(state.registrations, [PersistentRegistration(nexus: ITNexusName(initiatorPort: "p", targetPort: 1), key: 5, allTargetPorts: false)])
    }
}
