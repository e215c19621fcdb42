import SCSIProtocol
import XCTest

@testable import SCSITarget

/// The bytes shared persistent reservations travel as: round trips, and refusals of anything
/// truncated, oversized, corrupt or of another format (never a trap).
final class PersistentReservationCodingTests: XCTestCase {
    typealias Coding = PersistentReservationCoding

    static func sampleState() -> PersistentReservationState {
        var state = PersistentReservationState()
        state.generation = 0xDEAD_BEEF
        state.persistThroughPowerLoss = true
        state.registrations = [
            .init(nexus: .init(initiatorPort: "iqn.2026-12.test:a,i,0x023d000001", targetPort: 1), key: 1, allTargetPorts: false),
            .init(nexus: .init(initiatorPort: "iqn.2026-12.test:b,i,0x023d000002", targetPort: 2), key: .max, allTargetPorts: true),
            .init(nexus: .init(initiatorPort: "iqn.2026-12.test:ü,i,0x1", targetPort: 7), key: 0x42, allTargetPorts: false),
        ]
        state.reservation = .init(type: .exclusiveAccess, holder: state.registrations[1].nexus)
        return state
    }

    func testStateRoundTrips() throws {
        var state = Self.sampleState()
        XCTAssertEqual(try Coding.decodeState(Coding.encode(state)), state)
        state.reservation = .init(type: .writeExclusiveAllRegistrants, holder: nil)
        XCTAssertEqual(try Coding.decodeState(Coding.encode(state)), state)
        XCTAssertEqual(try Coding.decodeState(Coding.encode(PersistentReservationState())), PersistentReservationState())
        XCTAssertEqual(try Coding.decodeState([]), PersistentReservationState())
    }

    func testNoticeRoundTrips() throws {
        let state = try Coding.encode(Self.sampleState())
        let notice = Coding.Notice(
            sender: 7, version: 99,
            attentions: [.init(code: .registrationsPreempted, registration: .init(nexus: .init(initiatorPort: "x,i,0x1", targetPort: 3), key: 0, allTargetPorts: true))],
            state: state)
        XCTAssertEqual(try Coding.decodeNotice(Coding.encode(notice)), notice)
    }

    /// Every prefix of a valid encoding is refused, and so is every single-byte corruption
    /// that makes it invalid; none traps.
    func testTruncationsAndBitFlipsNeverTrap() throws {
        let bytes = try Coding.encode(Self.sampleState())
        for length in 1..<bytes.count {
            XCTAssertThrowsError(try Coding.decodeState(Array(bytes.prefix(length))), "prefix \(length)")
        }
        for index in bytes.indices {
            for flip: UInt8 in [0x01, 0x80, 0xFF] {
                var corrupt = bytes
                corrupt[index] ^= flip
                _ = try? Coding.decodeState(corrupt)
            }
        }
        let notice = try Coding.encode(Coding.Notice(sender: 1, version: 2, attentions: [], state: bytes))
        for length in 0..<21 { XCTAssertThrowsError(try Coding.decodeNotice(Array(notice.prefix(length)))) }
    }

    func testRefusals() throws {
        var bytes = try Coding.encode(Self.sampleState())
        bytes[2] = 2
        XCTAssertThrowsError(try Coding.decodeState(bytes)) {
            XCTAssertEqual($0 as? PersistentReservationCodingError, .unsupportedFormat(2))
            XCTAssertTrue("\($0)".contains("format 2; this gateway knows format 1"))
        }
        // A count far beyond what follows or is allowed: refused before anything is allocated.
        XCTAssertThrowsError(try Coding.decodeState([0x50, 0x52, 1, 0, 0, 0, 0, 0, 0xFF, 0xFF, 0, 0xFF, 0xFF])) {
            XCTAssertEqual($0 as? PersistentReservationCodingError, .tooManyRegistrations(0xFFFF))
        }
        XCTAssertThrowsError(try Coding.decodeState([UInt8](repeating: 0, count: Coding.maximumStateSize + 1))) {
            XCTAssertEqual($0 as? PersistentReservationCodingError, .tooLarge(Coding.maximumStateSize + 1))
        }
        // A holder that is not one of the registrations, trailing bytes, an unknown type.
        var state = Self.sampleState()
        let good = try Coding.encode(state)
        XCTAssertThrowsError(try Coding.decodeState(good + [0]))
        var badHolder = good
        badHolder[11] = 0
        badHolder[12] = 9
        XCTAssertThrowsError(try Coding.decodeState(badHolder))
        var badType = good
        badType[10] = 2
        XCTAssertThrowsError(try Coding.decodeState(badType))
        state.reservation = .init(type: .writeExclusive, holder: .init(initiatorPort: "nobody", targetPort: 1))
        XCTAssertThrowsError(try Coding.encode(state)) {
            XCTAssertEqual($0 as? PersistentReservationCodingError, .holderNotRegistered)
        }
    }

    func testTooManyRegistrationsCannotBeEncoded() {
        var state = PersistentReservationState()
        state.registrations = (0...Coding.maximumRegistrations).map {
            .init(nexus: .init(initiatorPort: "iqn.x:\($0),i,0x1", targetPort: 1), key: UInt64($0 + 1), allTargetPorts: false)
        }
        XCTAssertThrowsError(try Coding.encode(state))
        state.registrations.removeLast()
        XCTAssertNoThrow(try Coding.encode(state))
    }
}
