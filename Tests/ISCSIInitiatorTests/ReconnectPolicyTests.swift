import NIOCore
import XCTest

@testable import ISCSIInitiator

final class ReconnectPolicyTests: XCTestCase {
    let t0 = NIODeadline.uptimeNanoseconds(1_000_000_000_000)
    func at(_ seconds: Double) -> NIODeadline { t0 + .nanoseconds(Int64(seconds * 1e9)) }

    func policy() -> ReconnectPolicy {
        ReconnectPolicy(initialDelay: .milliseconds(500), maximumDelay: .seconds(30), healthyAfter: .seconds(10))
    }

    func testBackoffDoublesToItsLimitAcrossLossesAndFailedLogins() {
        var p = policy()
        p.loggedIn(at: at(0))
        p.connectionLost(at: at(1), progressed: false, idle: false)
        XCTAssertEqual(p.delay, .zero, "the first attempt is immediate")
        var delays: [Int64] = []
        for i in 0..<9 {
            if i % 2 == 0 {
                p.loginFailed()
            } else {
                p.loggedIn(at: at(Double(i)))
                p.connectionLost(at: at(Double(i) + 0.1), progressed: false, idle: false)
            }
            delays.append(p.delay.nanoseconds / 1_000_000)
        }
        XCTAssertEqual(delays, [500, 1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000])
    }

    func testReplacementTimeoutCountsFromTheFirstFailureWhileReloginsLeadNowhere() {
        var p = policy()
        p.loggedIn(at: at(0))
        p.connectionLost(at: at(100), progressed: false, idle: false)
        for second in stride(from: 101.0, to: 130, by: 5) {
            p.loggedIn(at: at(second))
            // Up long enough, but with a command outstanding and none completed: not healthy.
            p.connectionLost(at: at(second + 4), progressed: false, idle: false)
        }
        XCTAssertEqual(p.failingSince, at(100))
        XCTAssertEqual(p.reloginsSinceFailing, 6)
    }

    func testAHealthyConnectionStartsAfresh() {
        var p = policy()
        p.loggedIn(at: at(0))
        p.connectionLost(at: at(1), progressed: false, idle: false)
        p.loginFailed()
        p.loggedIn(at: at(3))
        p.connectionLost(at: at(4), progressed: true, idle: false)
        XCTAssertEqual(p.failingSince, at(4), "a command completed: a new run of failures")
        XCTAssertEqual(p.delay, .zero)
        p.loggedIn(at: at(5))
        p.connectionLost(at: at(9), progressed: false, idle: true)
        XCTAssertEqual(p.failingSince, at(4), "idle, but only 4 s")
        p.loggedIn(at: at(10))
        p.connectionLost(at: at(20), progressed: false, idle: true)
        XCTAssertEqual(p.failingSince, at(20), "idle for 10 s")
        XCTAssertEqual(p.reloginsSinceFailing, 0)
    }
}
